"""build_backbone: presets, validation, dtype."""

import doctest

import keras_hub
import numpy as np
import pytest

from spanbert_keras.config import MODEL_PRESETS
from spanbert_keras.config import ModelConfig
from spanbert_keras.models import backbone as backbone_module
from spanbert_keras.models.backbone import build_backbone


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_presets(name):
    layers, hidden, heads, ffn = MODEL_PRESETS[name]
    backbone = build_backbone(name, vocabulary_size=50)
    assert isinstance(backbone, keras_hub.models.BertBackbone)
    assert (backbone.num_layers, backbone.hidden_dim) == (layers, hidden)
    assert (backbone.num_heads, backbone.intermediate_dim) == (heads, ffn)
    assert backbone.max_sequence_length == 512
    assert backbone.vocabulary_size == 50
    assert tuple(backbone.token_embedding.embeddings.shape) == (50, hidden)


def test_base_and_large_match_the_paper():
    assert MODEL_PRESETS["base"] == (12, 768, 12, 3072)
    assert MODEL_PRESETS["large"] == (24, 1024, 16, 4096)


def test_config_fields_are_used():
    config = ModelConfig(
        num_layers=1, hidden_dim=8, num_heads=2, intermediate_dim=16,
        max_sequence_length=24, dropout=0.0,
    )
    backbone = build_backbone(config, vocabulary_size=30, max_seq_length=24)
    assert backbone.max_sequence_length == 24 and backbone.dropout == 0.0
    outputs = backbone(
        {
            "token_ids": np.ones((2, 24), "int32"),
            "segment_ids": np.zeros((2, 24), "int32"),
            "padding_mask": np.ones((2, 24), "int32"),
        }
    )
    assert tuple(outputs["sequence_output"].shape) == (2, 24, 8)


def test_sequence_longer_than_position_table_is_refused():
    config = ModelConfig.from_preset("tiny", max_sequence_length=128)
    with pytest.raises(ValueError, match="max_seq_length=256.*128"):
        build_backbone(config, vocabulary_size=30, max_seq_length=256)


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_bad_vocabulary_size(size):
    with pytest.raises(ValueError, match="vocabulary_size"):
        build_backbone("tiny", vocabulary_size=size)


def test_bad_heads_and_preset():
    with pytest.raises(ValueError, match="num_heads"):
        build_backbone(ModelConfig.from_preset("tiny", num_heads=3), vocabulary_size=30)
    with pytest.raises(ValueError, match="preset"):
        build_backbone("huge", vocabulary_size=30)


def test_dtype_policy():
    backbone = build_backbone("tiny", vocabulary_size=30, dtype="mixed_bfloat16")
    assert backbone.dtype_policy.name == "mixed_bfloat16"
    assert backbone.token_embedding.embeddings.dtype == "float32"


def test_docstring_example():
    result = doctest.testmod(backbone_module)
    assert result.attempted > 0 and result.failed == 0
