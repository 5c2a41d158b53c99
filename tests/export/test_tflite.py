"""TFLite export, run in LiteRT's interpreter, against the Keras model."""

import os

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from spanbert_keras.config import ModelConfig
from spanbert_keras.config import TrainingConfig
from spanbert_keras.export import export_tflite
from spanbert_keras.export import tflite
from spanbert_keras.training.build import build_pretrainer

VOCAB, H, L, K, PAIR, MASK_ID = 200, 16, 16, 5, 4, 4
CONFIG = ModelConfig(
    num_layers=1,
    hidden_dim=H,
    num_heads=2,
    intermediate_dim=32,
    max_sequence_length=32,
    dropout=0.0,
    max_pair_targets=PAIR,
    position_embedding_dim=8,
)


@pytest.fixture(scope="module")
def model():
    keras_model = build_pretrainer(CONFIG, VOCAB, TrainingConfig(jit_compile=False))
    rng = np.random.default_rng(0)
    for head in (keras_model.mlm_head, keras_model.sbo_head):
        bias = [w for w in head.weights if tuple(w.shape) == (VOCAB,)][0]
        bias.assign(rng.normal(0, 1.0, bias.shape).astype("float32"))
    return keras_model


def batch(rows, length, seed=0):
    """[CLS] random ids [SEP] rows of the given lengths, padded to `length`."""
    rng = np.random.default_rng(seed)
    token_ids = np.zeros((len(rows), length), "int32")
    padding_mask = np.zeros((len(rows), length), "int32")
    for row, size in enumerate(rows):
        token_ids[row, :size] = [2] + list(rng.integers(5, VOCAB, size - 2)) + [3]
        padding_mask[row, :size] = 1
    return token_ids, padding_mask


def keras_encode(model, token_ids, padding_mask):
    out = model({"token_ids": token_ids[:, :L], "padding_mask": padding_mask[:, :L]})
    return np.asarray(out["sequence_output"]), np.asarray(out["pooled_output"])


def cosine(a, b):
    a, b = np.ravel(a).astype("float64"), np.ravel(b).astype("float64")
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


SHAPES = [((7, 12), 12), ((20, 9, 2), 20)]  # the second batch is cut to L


@pytest.fixture(scope="module")
def float32_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("tflite") / "encode.tflite"
    return export_tflite(model, str(path), sequence_length=L)


def test_float32_encode_matches_keras(model, float32_file):
    interpreter = Interpreter(model_path=float32_file)
    assert interpreter.get_signature_list() == {
        "encode": {
            "inputs": ["padding_mask", "token_ids"],
            "outputs": ["pooled_output", "sequence_output"],
        }
    }
    runner = interpreter.get_signature_runner("encode")
    for rows, length in SHAPES:
        token_ids, padding_mask = batch(rows, length)
        out = runner(token_ids=token_ids, padding_mask=padding_mask)
        sequence, pooled = keras_encode(model, token_ids, padding_mask)
        assert out["sequence_output"].shape == (len(rows), min(length, L), H)
        diff = max(
            np.abs(out["sequence_output"] - sequence).max(),
            np.abs(out["pooled_output"] - pooled).max(),
        )
        print(f"float32 {token_ids.shape}: max |diff| vs Keras = {diff:.2e}, "
              f"size {os.path.getsize(float32_file)} bytes")
        assert diff <= 1e-4


@pytest.mark.parametrize("quantization", ["dynamic_range", "float16"])
def test_quantized_encode_keeps_cosine(model, float32_file, tmp_path, quantization):
    path = export_tflite(model, str(tmp_path / f"{quantization}.tflite"), quantization=quantization, sequence_length=L)
    float_runner = Interpreter(model_path=float32_file).get_signature_runner("encode")
    runner = Interpreter(model_path=path).get_signature_runner("encode")
    for rows, length in SHAPES:
        token_ids, padding_mask = batch(rows, length, seed=1)
        reference = float_runner(token_ids=token_ids, padding_mask=padding_mask)
        out = runner(token_ids=token_ids, padding_mask=padding_mask)
        real = padding_mask[:, :L] > 0
        sequence = cosine(out["sequence_output"][real], reference["sequence_output"][real])
        pooled = cosine(out["pooled_output"], reference["pooled_output"])
        size, float_size = os.path.getsize(path), os.path.getsize(float32_file)
        print(f"{quantization} {token_ids.shape}: cosine vs float32 sequence {sequence:.6f} "
              f"pooled {pooled:.6f}; size {size} bytes (float32 {float_size})")
        assert sequence >= 0.99 and pooled >= 0.99
    assert size < float_size


def test_fill_spans_on_ids_matches_keras(model, tmp_path):
    path = export_tflite(model, str(tmp_path / "fill.tflite"), signature="fill_spans", sequence_length=L)
    interpreter = Interpreter(model_path=path)
    assert interpreter.get_signature_list() == {
        "fill_spans": {
            "inputs": sorted(
                ["mask_positions", "padding_mask", "span_boundaries", "span_offsets", "token_ids"]
            ),
            "outputs": sorted(
                ["mlm_top_ids", "mlm_top_log_probs", "sbo_top_ids", "sbo_top_log_probs"]
            ),
        }
    }
    token_ids, padding_mask = batch((12, 7), 12, seed=2)
    token_ids[0, 3:6] = MASK_ID  # one span of three: boundaries 2 and 6
    token_ids[1, 1] = MASK_ID  # one span of one: boundaries [CLS] and 2
    inputs = {
        "token_ids": token_ids,
        "padding_mask": padding_mask,
        "mask_positions": np.array([[3, 4, 5], [1, 0, 0]], "int32"),
        "span_boundaries": np.array([[[2, 6]] * 3, [[0, 2], [0, 0], [0, 0]]], "int32"),
        "span_offsets": np.array([[0, 1, 2], [0, 0, 0]], "int32"),
    }
    out = interpreter.get_signature_runner("fill_spans")(**inputs)
    reference = model(inputs)
    weights = np.array([[1, 1, 1], [1, 0, 0]], bool)
    for head in ("mlm", "sbo"):
        log_probs = np.asarray(tf.nn.log_softmax(reference[f"{head}_logits"]))
        order = np.argsort(-log_probs, axis=-1, kind="stable")[..., :K]
        expected = np.take_along_axis(log_probs, order, axis=-1)
        diff = np.abs(out[f"{head}_top_log_probs"] - expected).max()
        print(f"fill_spans {head}: top-k log-prob max |diff| vs Keras = {diff:.2e}")
        assert diff <= 1e-4
        np.testing.assert_array_equal(out[f"{head}_top_ids"][weights], order[weights])


def test_flex_ops_fail_at_conversion(model, tmp_path, monkeypatch):
    def needs_flex(model, signature, length, top_k):
        def fn(token_ids, padding_mask):
            text = tf.strings.as_string(token_ids)  # no TFLite built-in
            return {"x": tf.strings.to_number(text) * tf.cast(padding_mask, tf.float32)}

        spec = [tf.TensorSpec([None, None], tf.int32, name=n) for n in ("token_ids", "padding_mask")]
        return fn, spec

    monkeypatch.setattr(tflite, "_signature_function", needs_flex)
    with pytest.raises(RuntimeError, match="built-in ops only"):
        export_tflite(model, str(tmp_path / "flex.tflite"))
    assert not os.path.exists(tmp_path / "flex.tflite")


def test_bad_arguments(model, float32_file, tmp_path):
    with pytest.raises(ValueError, match="signature"):
        export_tflite(model, str(tmp_path / "a.tflite"), signature="serving_default")
    with pytest.raises(ValueError, match="quantization"):
        export_tflite(model, str(tmp_path / "a.tflite"), quantization="int8")
    with pytest.raises(ValueError, match="sequence_length"):
        export_tflite(model, str(tmp_path / "a.tflite"), sequence_length=33)
    with pytest.raises(FileExistsError, match="overwrite"):
        export_tflite(model, float32_file, overwrite=False)
    with pytest.raises(IsADirectoryError):
        export_tflite(model, str(tmp_path))
    with pytest.raises(TypeError, match="SpanBertPretrainer"):
        export_tflite(model.backbone, str(tmp_path / "a.tflite"))
    assert os.listdir(tmp_path) == []


def test_mixed_precision_model_goes_through_a_float32_copy(tmp_path):
    mixed = build_pretrainer(
        CONFIG, VOCAB, TrainingConfig(dtype_policy="mixed_bfloat16", jit_compile=False)
    )
    copy = tflite.float32_copy(mixed)
    assert copy is not mixed and copy.dtype_policy.name == "float32"
    assert copy.backbone.dtype_policy.name == "float32"
    assert tflite.float32_copy(copy) is copy
    path = export_tflite(mixed, str(tmp_path / "mixed.tflite"), sequence_length=L)
    token_ids, padding_mask = batch((9, 5), 9, seed=3)
    out = Interpreter(model_path=path).get_signature_runner("encode")(
        token_ids=token_ids, padding_mask=padding_mask
    )
    sequence, _ = keras_encode(copy, token_ids, padding_mask)
    bf16 = np.asarray(mixed({"token_ids": token_ids, "padding_mask": padding_mask})["sequence_output"], "float32")
    print(f"mixed_bfloat16 -> float32 TFLite: max |diff| vs float32 copy "
          f"{np.abs(out['sequence_output'] - sequence).max():.2e}, vs bfloat16 Keras "
          f"{np.abs(out['sequence_output'] - bf16).max():.2e}")
    assert np.abs(out["sequence_output"] - sequence).max() <= 1e-4
    assert cosine(out["sequence_output"], bf16) >= 0.99
