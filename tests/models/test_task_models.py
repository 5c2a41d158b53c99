"""The three task models on the shared harness, and against the encoder + a NumPy head."""

import keras
import numpy as np
import pytest
from test_case import TINY_MODEL_CONFIG
from test_case import run_model_test
from test_case import tiny_model_config
from test_case import to_numpy

from spanbert_keras.models.backbone import build_backbone
from spanbert_keras.models.span_bert_relation_classifier import SpanBertRelationClassifier
from spanbert_keras.models.span_bert_text_classifier import SpanBertTextClassifier
from spanbert_keras.models.span_bert_token_tagger import SpanBertTokenTagger

VOCAB, BATCH, LENGTH = TINY_MODEL_CONFIG["vocabulary_size"], 3, 10
HIDDEN = TINY_MODEL_CONFIG["hidden_dim"]


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    padding = np.ones((BATCH, LENGTH), "int32")
    padding[-1, 6:] = 0
    segments = np.zeros((BATCH, LENGTH), "int32")
    segments[0, 5:] = 1
    return {
        "token_ids": (rng.integers(5, VOCAB, (BATCH, LENGTH)) * padding).astype("int32"),
        "segment_ids": segments,
        "padding_mask": padding,
    }


def backbone(seed=0, dtype=None):
    keras.utils.set_random_seed(seed)
    return build_backbone(tiny_model_config(), VOCAB, dtype=dtype)


MODELS = [
    (SpanBertTextClassifier, 3, "pooled_output", (BATCH, 3)),
    (SpanBertTextClassifier, 1, "pooled_output", (BATCH, 1)),  # STS-B regression
    (SpanBertRelationClassifier, 5, "pooled_output", (BATCH, 5)),
    (SpanBertTokenTagger, 7, "sequence_output", (BATCH, LENGTH, 7)),
]


@pytest.mark.parametrize("cls, classes, encoder_output, shape", MODELS)
def test_harness_and_head_on_the_encoder_output(cls, classes, encoder_output, shape):
    data = inputs()
    output = run_model_test(
        cls, {"backbone": backbone(), "num_classes": classes, "dropout": 0.1}, data, shape
    )
    model = cls(backbone(), num_classes=classes)
    encoded = to_numpy(model.backbone(data)[encoder_output])
    kernel, bias = (to_numpy(w) for w in model.head.dense.weights)
    np.testing.assert_allclose(to_numpy(model(data)), encoded @ kernel + bias, atol=1e-5)
    assert output.shape == shape
    assert [layer.name for layer in model.layers][-1] == "head"
    frozen = [w.path for w in model.non_trainable_weights]
    if cls is SpanBertTokenTagger:  # the pooler gets no gradient: frozen
        assert frozen == ["pooled_dense/kernel", "pooled_dense/bias"]
    else:
        assert frozen == []


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="`backbone` must be a keras-hub BertBackbone"):
        SpanBertTextClassifier("encoder", num_classes=2)
    with pytest.raises(ValueError, match="does not match the backbone's dtype policy 'float32'"):
        SpanBertTokenTagger(backbone(), num_classes=2, dtype="mixed_float16")
    with pytest.raises(ValueError, match="`num_classes` must be a positive int"):
        SpanBertRelationClassifier(backbone(), num_classes=0)
