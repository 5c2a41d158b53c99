"""SpanBertTensorBoard: read the event files back and find every tag."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from spanbert_keras.config import ModelConfig
from spanbert_keras.config import TrainingConfig
from spanbert_keras.training.build import build_pretrainer
from spanbert_keras.training.callbacks import SpanBertTensorBoard
from spanbert_keras.training.callbacks import span_lengths
from spanbert_keras.training.callbacks import tensorboard_callbacks

TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "##s", "sat", "on"]
TOKENS += [f"w{i}" for i in range(20)]
LENGTH, TARGETS = 12, 4


def make_batch(seed, batch=2):
    """Spans [2..3] (+[6] in even rows) with boundaries, as the pipeline gives them."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, len(TOKENS), (batch, LENGTH)).astype("int32")
    positions = np.tile(np.array([2, 3, 6, 0], "int32"), (batch, 1))
    weights = np.tile(np.array([1, 1, 1, 0], "float32"), (batch, 1))
    weights[1::2, 2] = 0.0
    boundaries = np.tile(np.array([[1, 4], [1, 4], [5, 7], [0, 0]], "int32"), (batch, 1, 1))
    offsets = np.tile(np.array([0, 1, 0, 0], "int32"), (batch, 1))
    mask_ids = np.take_along_axis(token_ids, positions, 1)
    masked = token_ids.copy()
    np.put_along_axis(masked, positions[:, :3], 4, 1)
    return {
        "token_ids": masked,
        "padding_mask": np.ones((batch, LENGTH), bool),
        "segment_ids": np.zeros((batch, LENGTH), "int32"),
        "mask_positions": positions,
        "mask_ids": mask_ids,
        "mask_weights": weights,
        "span_boundaries": boundaries,
        "span_offsets": offsets,
        "sbo_weights": weights.copy(),
    }


def _events(directory):
    """{tag: (plugin, [(step, value)])} from every event file under directory."""
    found = {}
    for path in glob.glob(os.path.join(directory, "**", "events.out.tfevents.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name or found.get(
                    value.tag, ("",)
                )[0]
                tensor = tf.make_ndarray(value.tensor) if value.HasField("tensor") else None
                entry = found.setdefault(value.tag, (plugin, []))
                entry[1].append((event.step, tensor))
    return found


def test_event_files_hold_scalars_text_and_histogram(tmp_path):
    keras.utils.set_random_seed(0)
    config = ModelConfig(
        num_layers=1, hidden_dim=8, num_heads=2, intermediate_dim=16,
        max_sequence_length=16, dropout=0.0, max_pair_targets=3, position_embedding_dim=4,
    )
    model = build_pretrainer(
        config, len(TOKENS), TrainingConfig(steps=100, warmup_steps=2, learning_rate=1e-2)
    )
    batches = [make_batch(s) for s in range(4)]
    train = tf.data.Dataset.from_tensor_slices(
        {k: np.stack([b[k] for b in batches]) for k in batches[0]}
    )
    held_out = tf.data.Dataset.from_tensors(make_batch(9))
    callbacks = tensorboard_callbacks(
        str(tmp_path), TOKENS, eval_data=held_out, text_every_n_steps=2, num_examples=2
    )
    history = model.fit(train, epochs=2, validation_data=held_out, verbose=0, callbacks=callbacks)

    steps = _events(str(tmp_path / "steps"))
    for tag in ("loss", "mlm_loss", "sbo_loss", "mlm_accuracy", "sbo_accuracy",
                "learning_rate", "grad_norm", "tokens_per_second"):
        plugin, series = steps[tag]
        assert plugin == "scalars", tag
        assert [s for s, _ in series] == list(range(1, 9)), tag
        assert all(np.isfinite(v) for _, v in series), tag
    for tag in ("val_loss", "val_mlm_loss", "val_sbo_accuracy"):
        plugin, series = steps[tag]
        assert plugin == "scalars" and [s for s, _ in series] == [4, 8]
    assert all(v > 0 for _, v in steps["tokens_per_second"][1])
    # Per-step values, not running means: the epoch mean is their average.
    for epoch, chunk in enumerate((slice(0, 4), slice(4, 8))):
        per_step = [float(v) for _, v in steps["mlm_loss"][1][chunk]]
        assert np.mean(per_step) == pytest.approx(history.history["mlm_loss"][epoch], rel=1e-5)
    # learning rate of the first update: 1e-2 * 1 / 2 warm-up steps
    assert float(steps["learning_rate"][1][0][1]) == pytest.approx(5e-3)

    plugin, texts = steps["predictions"]
    assert plugin == "text" and [s for s, _ in texts] == [2, 4, 6, 8]
    text = texts[-1][1].item().decode("utf-8")
    assert text.count("**Block") == 2
    assert "MASK" in text and "«" in text and "| position | truth | MLM | SBO |" in text
    plugin, histograms = steps["span_lengths"]
    assert plugin == "histograms" and [s for s, _ in histograms] == [2, 4, 6, 8]
    buckets = histograms[0][1]  # rows of (left, right, count)
    assert buckets[:, 2].sum() == 3  # spans: [2..3] and [6] in row 0, [2..3] in row 1
    keras_runs = os.listdir(tmp_path)
    assert "train" in keras_runs and "validation" in keras_runs


def test_span_lengths_and_detokenize():
    batch = make_batch(0, batch=2)
    np.testing.assert_array_equal(span_lengths(batch), [1, 2, 2])
    np.testing.assert_array_equal(span_lengths(batch, rows=[1]), [2])
    callback = SpanBertTensorBoard("unused", TOKENS)
    assert callback.detokenize([5, 6, 7, 8, 0, 0]) == "the cats sat"
    assert callback.detokenize([5, 6, 7, 8, 9], marked={1, 2}) == "the «cats» sat on"
    assert callback.detokenize([5, 6, 7, 8], marked={3}) == "the cats «sat»"


def test_invalid_arguments():
    with pytest.raises(ValueError, match="text_every_n_steps"):
        SpanBertTensorBoard("unused", TOKENS, text_every_n_steps=0)
