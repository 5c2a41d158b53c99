"""SpanBertBackbone and build_backbone: BERT's exact-GeLU encoder against NumPy, keras-hub layout."""

import json
import math

import keras
import keras_hub
import numpy as np
import pytest
from safetensors.numpy import save_file
from test_case import TINY_MODEL_CONFIG
from test_case import numpy_gelu
from test_case import numpy_layer_norm
from test_case import run_model_test
from test_case import tiny_model_config

from spanbert_keras.config import MODEL_SIZES
from spanbert_keras.config import ModelConfig
from spanbert_keras.models.backbone import build_backbone
from spanbert_keras.models.span_bert_backbone import SpanBertBackbone

SIZES = {
    k: TINY_MODEL_CONFIG[k]
    for k in (
        "vocabulary_size", "num_layers", "num_heads", "hidden_dim",
        "intermediate_dim", "max_sequence_length",
    )
}
V, H, F, HEADS, LAYERS, POSITIONS = (
    SIZES[k] for k in (
        "vocabulary_size", "hidden_dim", "intermediate_dim", "num_heads",
        "num_layers", "max_sequence_length",
    )
)
BATCH, LENGTH = 3, 10


# ------------------------------------------------------------ NumPy BERT
def random_bert_weights(seed=0):
    """A BERT state dict in the PyTorch / Hugging Face layout (Linear weights
    are [out, in]), scaled so the feed-forward pre-activations reach |x| ~ 3,
    where exact and approximate GeLU differ."""
    rng = np.random.default_rng(seed)

    def normal(*shape, scale=0.3):
        return (rng.normal(size=shape) * scale).astype("float32")

    def layer_norm(name):
        w[f"{name}.weight"] = (1.0 + normal(H, scale=0.1)).astype("float32")
        w[f"{name}.bias"] = normal(H, scale=0.1)

    w = {
        "embeddings.word_embeddings.weight": normal(V, H, scale=1.0),
        "embeddings.position_embeddings.weight": normal(POSITIONS, H, scale=1.0),
        "embeddings.token_type_embeddings.weight": normal(2, H, scale=1.0),
        "pooler.dense.weight": normal(H, H),
        "pooler.dense.bias": normal(H),
    }
    layer_norm("embeddings.LayerNorm")
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name, (out, inp) in {
            "attention.self.query": (H, H),
            "attention.self.key": (H, H),
            "attention.self.value": (H, H),
            "attention.output.dense": (H, H),
            "intermediate.dense": (F, H),
            "output.dense": (H, F),
        }.items():
            w[f"{p}{name}.weight"] = normal(out, inp)
            w[f"{p}{name}.bias"] = normal(out)
        layer_norm(f"{p}attention.output.LayerNorm")
        layer_norm(f"{p}output.LayerNorm")
    return w


def _linear(x, w, name):
    return x @ w[f"{name}.weight"].astype("float64").T + w[f"{name}.bias"]


def _layer_norm(x, w, name):
    return numpy_layer_norm(x, w[f"{name}.weight"], w[f"{name}.bias"], 1e-12)


def numpy_bert_layer(x, padding_mask, w, i):
    """One post-LayerNorm BERT layer in float64; padded keys get -10,000."""
    p = f"encoder.layer.{i}."
    batch, length, hidden = x.shape
    d = hidden // HEADS

    def heads(name):
        y = _linear(x, w, p + name).reshape(batch, length, HEADS, d)
        return y.transpose(0, 2, 1, 3)

    q, k, v = heads("attention.self.query"), heads("attention.self.key"), heads(
        "attention.self.value"
    )
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)
    scores = scores + (1.0 - padding_mask[:, None, None, :]) * -10000.0
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
    h = _layer_norm(
        x + _linear(context, w, p + "attention.output.dense"), w,
        p + "attention.output.LayerNorm",
    )
    ffn = _linear(numpy_gelu(_linear(h, w, p + "intermediate.dense")), w, p + "output.dense")
    return _layer_norm(h + ffn, w, p + "output.LayerNorm")


def numpy_bert(inputs, w):
    """The whole encoder: embeddings, layers, tanh pooler on [CLS]."""
    length = inputs["token_ids"].shape[1]
    x = (
        w["embeddings.word_embeddings.weight"][inputs["token_ids"]]
        + w["embeddings.position_embeddings.weight"][:length]
        + w["embeddings.token_type_embeddings.weight"][inputs["segment_ids"]]
    ).astype("float64")
    x = _layer_norm(x, w, "embeddings.LayerNorm")
    mask = inputs["padding_mask"].astype("float64")
    for i in range(LAYERS):
        x = numpy_bert_layer(x, mask, w, i)
    return {"sequence_output": x, "pooled_output": np.tanh(_linear(x[:, 0], w, "pooler.dense"))}


def write_hf_checkpoint(folder, w):
    """A tiny Hugging Face BERT checkpoint (`bert.` prefix, safetensors)."""
    save_file({f"bert.{k}": v for k, v in w.items()}, str(folder / "model.safetensors"))
    config = {
        "model_type": "bert", "vocab_size": V, "hidden_size": H,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "intermediate_size": F, "max_position_embeddings": POSITIONS,
        "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
    }
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def make_inputs(seed=1):
    rng = np.random.default_rng(seed)
    padding_mask = np.ones((BATCH, LENGTH), "int32")
    padding_mask[1, 6:] = 0
    padding_mask[2, 3:] = 0
    segment_ids = np.zeros((BATCH, LENGTH), "int32")
    segment_ids[0, 5:] = 1
    token_ids = rng.integers(1, V, (BATCH, LENGTH)).astype("int32") * padding_mask
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


@pytest.fixture(scope="module")
def bert_weights():
    return random_bert_weights()


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory, bert_weights):
    return write_hf_checkpoint(tmp_path_factory.mktemp("hf_bert"), bert_weights)


@pytest.fixture(scope="module")
def loaded(hf_checkpoint):
    """The HF checkpoint loaded by keras-hub's converter (approximate GeLU) and as ours."""
    reference = keras_hub.models.BertBackbone.from_preset(hf_checkpoint)
    return reference, SpanBertBackbone.from_preset(hf_checkpoint)


def _numpy(outputs):
    return {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}


# ----------------------------------------------------------------- tests
def test_one_encoder_layer_matches_numpy_bert(loaded, bert_weights):
    keras_hub_backbone, backbone = loaded
    rng = np.random.default_rng(2)
    x = rng.normal(size=(BATCH, LENGTH, H)).astype("float32")
    mask = make_inputs()["padding_mask"]
    want = numpy_bert_layer(x.astype("float64"), mask.astype("float64"), bert_weights, 0)
    got = keras.ops.convert_to_numpy(backbone.transformer_layers[0](x, padding_mask=mask))
    approx = keras.ops.convert_to_numpy(
        keras_hub_backbone.transformer_layers[0](x, padding_mask=mask)
    )
    error, approx_error = np.abs(got - want).max(), np.abs(approx - want).max()
    print(f"one layer: exact GeLU {error:.2e}, keras-hub's approximate {approx_error:.2e}")
    assert error <= 1e-5
    assert approx_error > 10 * 1e-5  # the comparison tells the two GeLUs apart


def test_whole_encoder_matches_numpy_bert(loaded, bert_weights):
    keras_hub_backbone, backbone = loaded
    inputs = make_inputs()
    want = numpy_bert(inputs, bert_weights)
    got = _numpy(backbone(inputs))
    approx = _numpy(keras_hub_backbone(inputs))
    for key in ("sequence_output", "pooled_output"):
        error, approx_error = np.abs(got[key] - want[key]).max(), np.abs(approx[key] - want[key]).max()
        print(f"{key}: exact GeLU {error:.2e}, keras-hub's approximate {approx_error:.2e}")
        assert error <= 1e-5, key
        assert approx_error > 10 * 1e-5, key


def test_keras_hub_weights_transfer_one_to_one(loaded, tmp_path):
    keras_hub_backbone, _ = loaded
    backbone = SpanBertBackbone(**SIZES)
    layout = lambda model: [(v.path, tuple(v.shape)) for v in model.weights]  # noqa: E731
    assert layout(backbone) == layout(keras_hub_backbone)
    assert [layer.name for layer in backbone.layers] == [
        layer.name for layer in keras_hub_backbone.layers
    ]
    # keras-hub's weight file (as in its presets) loads into ours.
    path = str(tmp_path / "bert.weights.h5")
    keras_hub_backbone.save_weights(path)
    backbone.load_weights(path)
    for a, b in zip(backbone.weights, keras_hub_backbone.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Same weights: only the activation differs.
    inputs = make_inputs()
    want = _numpy(keras_hub_backbone(inputs))
    approximate = SpanBertBackbone.from_bert_backbone(
        keras_hub_backbone, activation="gelu_approximate"
    )
    for key, value in _numpy(approximate(inputs)).items():
        np.testing.assert_array_equal(value, want[key])
    exact = _numpy(backbone(inputs))
    assert np.abs(exact["sequence_output"] - want["sequence_output"]).max() > 1e-4


def test_presets_load_into_ours(loaded, tmp_path):
    keras_hub_backbone, from_hf = loaded
    assert type(from_hf) is SpanBertBackbone and from_hf.activation.__name__ == "gelu"
    preset = str(tmp_path / "preset")
    keras_hub_backbone.save_to_preset(preset)
    for backbone in (
        SpanBertBackbone.from_preset(preset),
        SpanBertBackbone.from_preset(preset, activation="gelu_approximate"),
    ):
        for a, b in zip(backbone.weights, keras_hub_backbone.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert backbone.activation.__name__ == "gelu_approximate"
    # A SpanBertBackbone preset also loads through keras-hub's own entry point.
    from_hf.save_to_preset(str(tmp_path / "ours"))
    again = keras_hub.models.Backbone.from_preset(str(tmp_path / "ours"))
    assert type(again) is SpanBertBackbone and again.activation.__name__ == "gelu"


def test_harness():
    backbone_kwargs = {**SIZES, "dropout": 0.0}
    run_model_test(
        SpanBertBackbone,
        backbone_kwargs,
        make_inputs(),
        expected_output_shape={"sequence_output": (BATCH, LENGTH, H), "pooled_output": (BATCH, H)},
    )
    run_model_test(
        SpanBertBackbone,
        {**backbone_kwargs, "activation": "gelu_approximate"},
        make_inputs(),
        expected_output_shape={"sequence_output": (BATCH, LENGTH, H), "pooled_output": (BATCH, H)},
        run_precision_checks=False,
        run_training_check=False,
    )


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"vocabulary_size": 0}, "vocabulary_size"),
        ({"vocabulary_size": 2.5}, "vocabulary_size"),
        ({"vocabulary_size": True}, "vocabulary_size"),
        ({"num_layers": 0}, "num_layers"),
        ({"num_heads": 3}, "num_heads"),
        ({"dropout": 1.0}, "dropout"),
        ({"activation": "no_such_activation"}, "activation"),
    ],
)
def test_invalid_arguments(kwargs, word):
    with pytest.raises(ValueError, match=f"{word}=.*{list(kwargs.values())[0]}"):
        SpanBertBackbone(**{**SIZES, **kwargs})


def test_old_keras_hub_backbone_in_a_pretrainer_still_loads(tmp_path):
    """A `.keras` file written before the exact GeLU (a keras-hub `BertBackbone`
    inside the pretrainer) loads as before, with keras-hub's approximation;
    `from_bert_backbone` turns its encoder into the exact one."""
    from spanbert_keras.models.span_bert_pretrainer import SpanBertPretrainer

    old_backbone = keras_hub.models.BertBackbone(**SIZES)
    model = SpanBertPretrainer(old_backbone, max_pair_targets=4, position_embedding_dim=8)
    path = str(tmp_path / "old.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.backbone) is keras_hub.models.BertBackbone
    inputs = make_inputs()
    np.testing.assert_array_equal(
        _numpy(loaded.backbone(inputs))["sequence_output"],
        _numpy(old_backbone(inputs))["sequence_output"],
    )
    exact = SpanBertBackbone.from_bert_backbone(loaded.backbone)
    assert exact.activation.__name__ == "gelu"


# --------------------------------------------------------- build_backbone
@pytest.mark.parametrize("name", ["tiny", "small"])
def test_presets(name):
    layers, hidden, heads, ffn = MODEL_SIZES[name]
    backbone = build_backbone(name, vocabulary_size=50)
    assert isinstance(backbone, SpanBertBackbone)
    assert isinstance(backbone, keras_hub.models.BertBackbone)
    assert (backbone.num_layers, backbone.hidden_dim) == (layers, hidden)
    assert (backbone.num_heads, backbone.intermediate_dim) == (heads, ffn)
    assert backbone.max_sequence_length == 512
    assert backbone.vocabulary_size == 50
    assert backbone.activation.__name__ == "gelu"
    assert tuple(backbone.token_embedding.embeddings.shape) == (50, hidden)


def test_base_and_large_match_the_paper():
    assert MODEL_SIZES["base"] == (12, 768, 12, 3072)
    assert MODEL_SIZES["large"] == (24, 1024, 16, 4096)


def test_config_fields_are_used():
    config = tiny_model_config(max_sequence_length=24, dropout=0.05)
    backbone = build_backbone(config, vocabulary_size=30, sequence_length=24)
    assert backbone.max_sequence_length == 24 and backbone.dropout == 0.05
    assert (backbone.num_layers, backbone.hidden_dim) == (config.num_layers, config.hidden_dim)
    assert backbone.intermediate_dim == config.intermediate_dim
    approximate = build_backbone(config, vocabulary_size=30, activation="gelu_approximate")
    assert approximate.activation.__name__ == "gelu_approximate"


def test_sequence_longer_than_position_table_is_refused():
    config = ModelConfig.from_size("tiny", max_sequence_length=128)
    with pytest.raises(ValueError, match="sequence_length=256.*128"):
        build_backbone(config, vocabulary_size=30, sequence_length=256)


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_bad_vocabulary_size(size):
    with pytest.raises(ValueError, match="vocabulary_size"):
        build_backbone("tiny", vocabulary_size=size)


def test_bad_heads_and_size():
    with pytest.raises(ValueError, match="num_heads"):
        build_backbone(ModelConfig.from_size("tiny", num_heads=3), vocabulary_size=30)
    with pytest.raises(ValueError, match="Unknown model size 'huge'"):
        build_backbone("huge", vocabulary_size=30)
