"""SpanBertQuestionAnswerer: the shared harness, the head on the encoder's outputs, a fit step."""

import keras
import numpy as np
import pytest
from test_case import TINY_MODEL_CONFIG
from test_case import assert_allclose
from test_case import run_model_test
from test_case import tiny_model_config

from spanbert_keras.layers.span_prediction_head import PADDING_LOGIT
from spanbert_keras.models.backbone import build_backbone
from spanbert_keras.models.span_bert_question_answerer import SpanBertQuestionAnswerer

VOCAB, LENGTH = TINY_MODEL_CONFIG["vocabulary_size"], 12


def make_inputs(seed=0, batch=3):
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, VOCAB, size=(batch, LENGTH)).astype("int32")
    lengths = np.array([LENGTH, 9, 6][:batch])
    padding_mask = (np.arange(LENGTH)[None, :] < lengths[:, None]).astype("int32")
    segment_ids = ((np.arange(LENGTH)[None, :] >= 4) & (padding_mask == 1)).astype("int32")
    return {"token_ids": token_ids * padding_mask, "segment_ids": segment_ids,
            "padding_mask": padding_mask}


def test_harness():
    run_model_test(
        SpanBertQuestionAnswerer,
        {"backbone": build_backbone(tiny_model_config(), VOCAB)},
        make_inputs(),
        expected_output_shape={"start_logits": (3, LENGTH), "end_logits": (3, LENGTH)},
    )


def test_logits_are_the_head_on_the_sequence_output():
    backbone = build_backbone(tiny_model_config(), VOCAB)
    model = SpanBertQuestionAnswerer(backbone)
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(backbone.hidden_dim, 2)).astype("float32")
    bias = rng.normal(size=2).astype("float32")
    model.span_head.set_weights([kernel, bias])
    inputs = make_inputs(1)
    sequence = backbone(inputs)["sequence_output"].numpy().astype("float64")
    expected = sequence @ kernel + bias
    expected = np.where(inputs["padding_mask"][..., None] == 1, expected, PADDING_LOGIT)
    assert_allclose(model(inputs), {"start_logits": expected[..., 0], "end_logits": expected[..., 1]},
                    atol=1e-5, rtol=1e-5)
    # Extra keys of the feature dict (offsets, example index) are ignored.
    extra = dict(inputs, example_index=np.zeros(3, "int32"))
    assert_allclose(model(extra)["start_logits"], expected[..., 0], atol=1e-5, rtol=1e-5)


def test_fits_span_labels_with_keras_losses_and_freezes_the_pooler():
    keras.utils.set_random_seed(0)
    model = SpanBertQuestionAnswerer(build_backbone(tiny_model_config(), VOCAB))
    assert not model.backbone.pooled_dense.trainable
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss={"start_logits": loss, "end_logits": loss},
                  loss_weights={"start_logits": 0.5, "end_logits": 0.5})
    x = make_inputs(2)
    y = {"start_logits": np.array([5, 4, 0], "int32"), "end_logits": np.array([7, 4, 0], "int32")}
    pooler = [w.numpy().copy() for w in model.backbone.pooled_dense.weights]
    before = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    # The loss is the mean of the start and end cross entropies over real positions.
    out = model(x)
    ce = []
    for key in ("start_logits", "end_logits"):
        logits = out[key].numpy().astype("float64")
        log_probs = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) - logits.max(1, keepdims=True)
        ce.append(-log_probs[np.arange(3), y[key]].mean())
    assert before == pytest.approx(0.5 * sum(ce), rel=1e-5)
    model.fit(x, y, epochs=30, verbose=0)
    after = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    assert after < 0.2 * before
    for old, new in zip(pooler, model.backbone.pooled_dense.weights):
        np.testing.assert_array_equal(old, new.numpy())


def test_dtype_must_match_the_backbone():
    with pytest.raises(ValueError, match="dtype"):
        SpanBertQuestionAnswerer(build_backbone(tiny_model_config(), VOCAB), dtype="mixed_bfloat16")
