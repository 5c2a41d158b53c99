"""SpanBertPretrainer: losses against NumPy, tying, training, saving, resuming, precision."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_case import TINY_MODEL_CONFIG
from test_case import run_model_test
from test_case import tiny_model_config

from spanbert_keras.config import ModelConfig
from spanbert_keras.config import TrainingConfig
from spanbert_keras.models.backbone import build_backbone
from spanbert_keras.models.span_bert_backbone import SpanBertBackbone
from spanbert_keras.models.span_bert_pretrainer import SpanBertPretrainer
from spanbert_keras.training.build import build_pretrainer

VOCAB, LENGTH, TARGETS, MASK_ID = TINY_MODEL_CONFIG["vocabulary_size"], 16, 6, 4
CONFIG = tiny_model_config()


def make_batch(seed=0, batch=4, length=LENGTH, targets=TARGETS, vocab=VOCAB):
    """A batch of the span pipeline's contract: contiguous, separated spans,
    padded target slots (weight 0), one padded sequence tail, and spans longer
    than `max_pair_targets` (no SBO target beyond it)."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, vocab, (batch, length)).astype("int32")
    padding = np.ones((batch, length), bool)
    padding[-1, length - 3 :] = False
    token_ids[-1, length - 3 :] = 0
    out = {
        "mask_positions": np.zeros((batch, targets), "int32"),
        "mask_ids": np.zeros((batch, targets), "int32"),
        "mask_weights": np.zeros((batch, targets), "float32"),
        "span_boundaries": np.zeros((batch, targets, 2), "int32"),
        "span_offsets": np.zeros((batch, targets), "int32"),
        "sbo_weights": np.zeros((batch, targets), "float32"),
    }
    masked = token_ids.copy()
    for row in range(batch):
        real = int(padding[row].sum())
        budget = targets - (row % 2)  # odd rows keep one padded slot
        slots, start = [], int(rng.integers(0, 3))
        while len(slots) < budget and start < real:
            span = 5 if row == 0 and not slots else int(rng.integers(1, 6))
            end = min(start + span, real, start + budget - len(slots))
            for i in range(start, end):
                slots.append((i, start, end - 1))
            start = end + 1 + int(rng.integers(0, 3))
        for j, (i, s, e) in enumerate(slots):
            out["mask_positions"][row, j] = i
            out["mask_ids"][row, j] = token_ids[row, i]
            out["mask_weights"][row, j] = 1.0
            out["span_boundaries"][row, j] = (max(s - 1, 0), min(e + 1, length - 1))
            out["span_offsets"][row, j] = i - s
            out["sbo_weights"][row, j] = float(i - s < CONFIG.max_pair_targets)
            masked[row, i] = MASK_ID
    out.update(
        token_ids=masked,
        padding_mask=padding,
        segment_ids=np.zeros((batch, length), "int32"),
    )
    return out


def tiny_model(seed=0, config=CONFIG, **training):
    keras.utils.set_random_seed(seed)
    values = dict(steps=1000, warmup_steps=0, learning_rate=1e-3, jit_compile=False)
    values.update(training)
    return build_pretrainer(config, VOCAB, TrainingConfig(**values))


def one_batch_dataset(batch, repeat=1):
    return tf.data.Dataset.from_tensors(batch).repeat(repeat)


def _log_softmax(logits):
    logits = logits.astype("float64")
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def test_outputs_only_for_heads_with_inputs():
    model = tiny_model()
    batch = make_batch()
    base = {k: batch[k] for k in ("token_ids", "padding_mask")}
    assert sorted(model(base)) == ["pooled_output", "sequence_output"]
    mlm_only = model({**base, "mask_positions": batch["mask_positions"]})
    assert "mlm_logits" in mlm_only and "sbo_logits" not in mlm_only
    sbo_only = model({**base, **{k: batch[k] for k in ("span_boundaries", "span_offsets")}})
    assert "sbo_logits" in sbo_only and "mlm_logits" not in sbo_only


def test_harness():
    """Config round trip, symbolic and eager calls, its own train step, mixed
    precision, `.keras` round trip (the encoder alone: tests/models/test_backbone.py)."""
    keras.utils.set_random_seed(0)
    run_model_test(
        SpanBertPretrainer,
        {
            "backbone": build_backbone(CONFIG, VOCAB),
            "sbo_weight": 0.5,
            "clip_norm": 2.0,
            "max_pair_targets": CONFIG.max_pair_targets,
            "position_embedding_dim": CONFIG.position_embedding_dim,
        },
        make_batch(),
        expected_output_shape={
            "sequence_output": (4, LENGTH, CONFIG.hidden_dim),
            "pooled_output": (4, CONFIG.hidden_dim),
            "mlm_logits": (4, TARGETS, VOCAB),
            "sbo_logits": (4, TARGETS, VOCAB),
        },
    )


@pytest.mark.parametrize("sbo_weight", [1.0, 0.7])
def test_loss_matches_numpy(sbo_weight):
    model = tiny_model()
    model.sbo_weight = sbo_weight
    batch = make_batch(seed=3)
    outputs = model(batch)
    mlm_lp = _log_softmax(keras.ops.convert_to_numpy(outputs["mlm_logits"]))
    sbo_lp = _log_softmax(keras.ops.convert_to_numpy(outputs["sbo_logits"]))
    labels = batch["mask_ids"][..., None]
    mlm_ce = -np.take_along_axis(mlm_lp, labels, -1)[..., 0]
    sbo_ce = -np.take_along_axis(sbo_lp, labels, -1)[..., 0]
    mw, sw = batch["mask_weights"], batch["sbo_weights"]
    assert 0 < sw.sum() < mw.sum() < mw.size  # padding and SBO-less targets present
    want_mlm = (mlm_ce * mw).sum() / mw.sum()
    want_sbo = (sbo_ce * sw).sum() / sw.sum()
    want = {
        "mlm_loss": want_mlm,
        "sbo_loss": want_sbo,
        "loss": want_mlm + sbo_weight * want_sbo,
        "mlm_accuracy": ((mlm_lp.argmax(-1) == batch["mask_ids"]) * mw).sum() / mw.sum(),
        "sbo_accuracy": ((sbo_lp.argmax(-1) == batch["mask_ids"]) * sw).sum() / sw.sum(),
    }
    got = model.evaluate(one_batch_dataset(batch), verbose=0, return_dict=True)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name


def test_tied_weights_are_one_variable():
    model = tiny_model()
    embedding = model.backbone.token_embedding
    assert model.mlm_head.token_embedding is embedding
    assert model.sbo_head.token_embedding is embedding
    shapes = [tuple(v.shape) for v in model.trainable_variables]
    assert shapes.count((VOCAB, CONFIG.hidden_dim)) == 1
    assert (CONFIG.hidden_dim, VOCAB) not in shapes
    batch = make_batch()
    embedding.embeddings.assign(np.zeros((VOCAB, CONFIG.hidden_dim), "float32"))
    outputs = model(batch)
    for head, bias in (("mlm", model.mlm_head._bias), ("sbo", model.sbo_head.bias)):
        logits = keras.ops.convert_to_numpy(outputs[f"{head}_logits"])
        np.testing.assert_allclose(logits, np.broadcast_to(bias.numpy(), logits.shape))


def test_tiny_preset_overfits_one_batch():
    config = ModelConfig.from_size(
        "tiny", max_sequence_length=32, dropout=0.0, max_pair_targets=4
    )
    model = tiny_model(config=config, learning_rate=1e-3, warmup_steps=10)
    batch = make_batch(seed=5)
    data = one_batch_dataset(batch)
    for _ in range(15):
        model.fit(one_batch_dataset(batch, 10), verbose=0)
        result = model.evaluate(data, verbose=0, return_dict=True)
        if result["mlm_loss"] < 0.1 and result["sbo_loss"] < 0.1:
            break
    assert result["mlm_loss"] < 0.1 and result["sbo_loss"] < 0.1, result
    assert int(model.optimizer.iterations) <= 150
    print(f"overfit after {int(model.optimizer.iterations)} steps: {result}")


def test_save_load_round_trip(tmp_path):
    model = tiny_model()
    batch = make_batch()
    model.fit(one_batch_dataset(batch, 2), verbose=0)
    path = str(tmp_path / "pretrainer.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, SpanBertPretrainer)
    assert type(loaded.backbone) is SpanBertBackbone
    assert loaded.backbone.activation.__name__ == "gelu"
    assert loaded.mlm_head.token_embedding is loaded.backbone.token_embedding
    assert loaded.sbo_head.token_embedding is loaded.backbone.token_embedding
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 2
    # Training continues identically (optimizer moments and schedule restored).
    model.fit(one_batch_dataset(make_batch(seed=1)), verbose=0)
    loaded.fit(one_batch_dataset(make_batch(seed=1)), verbose=0)
    assert int(loaded.optimizer.iterations) == 3
    for a, b in zip(model.trainable_variables, loaded.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError("simulated kill")


class _Record(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.started = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started.append((epoch, int(self.model.optimizer.iterations)))


def test_resume_with_backup_and_restore(tmp_path):
    batches = [make_batch(seed=s) for s in range(3)]
    stacked = {k: np.stack([b[k] for b in batches]) for k in batches[0]}
    data = tf.data.Dataset.from_tensor_slices(stacked)
    backup = str(tmp_path / "backup")

    straight = tiny_model(seed=1)
    with pytest.raises(RuntimeError, match="simulated kill"):
        straight.fit(
            data,
            epochs=4,
            verbose=0,
            callbacks=[keras.callbacks.BackupAndRestore(backup), _Interrupt(2)],
        )
    # The interrupted process' in-memory model, carried on to the end, is the
    # uninterrupted trajectory; a fresh process must land on the same weights.
    assert int(straight.optimizer.iterations) == 6
    straight.fit(data, epochs=4, initial_epoch=2, verbose=0)

    resumed = tiny_model(seed=7)  # different initial weights: all must come back
    record = _Record()
    resumed.fit(
        data,
        epochs=4,
        verbose=0,
        callbacks=[keras.callbacks.BackupAndRestore(backup), record],
    )
    assert record.started == [(2, 6), (3, 9)]
    assert int(resumed.optimizer.iterations) == int(straight.optimizer.iterations) == 12
    for a, b in zip(straight.trainable_variables, resumed.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    assert not os.path.exists(backup) or not os.listdir(backup)  # cleaned up at the end


def _true_gradient_norm(model, batch):
    """Global norm of the dense float32 gradient of SPEC section 4's loss."""
    with tf.GradientTape() as tape:
        outputs = model(batch, training=True)
        labels = tf.constant(batch["mask_ids"])
        mw, sw = batch["mask_weights"], batch["sbo_weights"]
        mlm = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels, tf.cast(outputs["mlm_logits"], "float32")
        )
        sbo = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels, tf.cast(outputs["sbo_logits"], "float32")
        )
        loss = tf.reduce_sum(mlm * mw) / mw.sum() + tf.reduce_sum(sbo * sw) / sw.sum()
    variables = model.trainable_variables
    grads = tape.gradient(loss, variables)
    dense = [tf.convert_to_tensor(g).numpy().astype("float64") for g in grads if g is not None]
    return float(loss), float(np.sqrt(sum((g**2).sum() for g in dense))), grads, variables


def test_mixed_float16_scales_the_loss():
    batch = make_batch()
    want_loss, want_norm, _, _ = _true_gradient_norm(tiny_model(seed=2), batch)
    model = tiny_model(seed=2, dtype_policy="mixed_float16")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.backbone.dtype_policy.name == "mixed_float16"
    outputs = model(batch)
    assert keras.backend.standardize_dtype(outputs["mlm_logits"].dtype) == "float16"
    got = model.train_on_batch(batch, return_dict=True)
    assert float(model.optimizer.dynamic_scale) > 1.0
    assert all(np.isfinite(got[n]) for n in ("loss", "mlm_loss", "sbo_loss", "grad_norm"))
    # Same initial weights: an unscaled (or doubly scaled) gradient would be
    # off by the loss scale, 2**15.
    assert got["loss"] == pytest.approx(want_loss, rel=0.02)
    assert got["grad_norm"] == pytest.approx(want_norm, rel=0.05)


@pytest.mark.parametrize(
    "policy, jit", [("mixed_bfloat16", False), ("float32", True)]
)
def test_precision_and_xla_steps_are_finite(policy, jit):
    model = tiny_model(dtype_policy=policy, jit_compile=jit)
    assert not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(one_batch_dataset(make_batch(), 3), verbose=0)
    for name in ("loss", "mlm_loss", "sbo_loss", "grad_norm"):
        assert np.isfinite(history.history[name]).all(), name
    assert int(model.optimizer.iterations) == 3


def test_clipping_uses_the_true_global_norm():
    keras.utils.set_random_seed(4)
    clip = 0.05
    model = SpanBertPretrainer(build_backbone(CONFIG, VOCAB), clip_norm=clip,
                               max_pair_targets=CONFIG.max_pair_targets,
                               position_embedding_dim=CONFIG.position_embedding_dim)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
    batch = make_batch(seed=6)
    before = [v.numpy().astype("float64") for v in model.trainable_variables]
    _, norm, raw, variables = _true_gradient_norm(model, batch)
    assert any(isinstance(g, tf.IndexedSlices) for g in raw)  # SBO position table
    dense = [
        None if g is None else tf.convert_to_tensor(g).numpy().astype("float64")
        for g in raw
    ]
    slices_norm = np.sqrt(
        sum(
            (g.values.numpy().astype("float64") ** 2).sum()
            if isinstance(g, tf.IndexedSlices)
            else (tf.convert_to_tensor(g).numpy().astype("float64") ** 2).sum()
            for g in raw
            if g is not None
        )
    )
    assert abs(slices_norm - norm) > 0.005 * norm  # a norm over slices is wrong
    assert norm > clip
    logs = model.train_on_batch(batch, return_dict=True)
    assert logs["grad_norm"] == pytest.approx(norm, rel=1e-5)
    for variable, start, grad in zip(variables, before, dense):
        want = start if grad is None else start - grad * (clip / norm)
        np.testing.assert_allclose(variable.numpy(), want, atol=2e-6)
    pooler = model.backbone.get_layer("pooled_dense").kernel
    assert any(v is pooler for v, g in zip(variables, dense) if g is None)


def test_predict_top_k():
    model = tiny_model()
    batch = make_batch()
    logits = model.predict(one_batch_dataset(batch), verbose=0)
    model.predict_top_k = 3
    model.predict_function = None
    top = model.predict(one_batch_dataset(batch), verbose=0)
    assert sorted(top) == [
        "mlm_top_ids", "mlm_top_log_probs", "sbo_top_ids", "sbo_top_log_probs"
    ]
    for head in ("mlm", "sbo"):
        assert top[f"{head}_top_ids"].shape == (4, TARGETS, 3)
        np.testing.assert_array_equal(
            top[f"{head}_top_ids"][..., 0], logits[f"{head}_logits"].argmax(-1)
        )


def test_argument_and_batch_validation():
    backbone = build_backbone(CONFIG, VOCAB)
    with pytest.raises(ValueError, match="dtype"):
        SpanBertPretrainer(backbone, dtype="mixed_bfloat16")
    with pytest.raises(ValueError, match="sbo_weight"):
        SpanBertPretrainer(backbone, sbo_weight=-1.0)
    with pytest.raises(ValueError, match="clip_norm"):
        SpanBertPretrainer(backbone, clip_norm=0.0)
    with pytest.raises(ValueError, match="sequence_length=64"):
        build_pretrainer(CONFIG, VOCAB, TrainingConfig(), sequence_length=64)
    model = tiny_model()
    batch = make_batch()
    del batch["sbo_weights"]
    with pytest.raises(ValueError, match="sbo_weights"):
        model.train_on_batch(batch)


DISTRIBUTED_SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    sys.path[:0] = [sys.argv[1], os.path.dirname(sys.argv[1])]  # tests/models, tests
    import test_span_bert_pretrainer as t

    batches = [t.make_batch(seed=s) for s in range(2)]
    # Replica 0 gets rows 0-1, replica 1 rows 2-3: different target counts.
    stacked = {k: np.stack([b[k] for b in batches]) for k in batches[0]}
    single = t.tiny_model(seed=3, clip_norm=0.05)
    single_logs = single.fit(tf.data.Dataset.from_tensor_slices(stacked), verbose=0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = t.tiny_model(seed=3, clip_norm=0.05)
    mirrored_logs = mirrored.fit(
        tf.data.Dataset.from_tensor_slices(stacked), verbose=0)
    diff = max(float(np.abs(a.numpy() - b.numpy()).max())
               for a, b in zip(single.trainable_variables, mirrored.trainable_variables))
    for name in ("loss", "mlm_loss", "sbo_loss", "mlm_accuracy", "sbo_accuracy", "grad_norm"):
        a, b = single_logs.history[name][-1], mirrored_logs.history[name][-1]
        assert abs(a - b) < 1e-5 * max(1.0, abs(a)), (name, a, b)
    assert diff < 1e-5, diff
    print("OK", diff)
    """
)


AGGREGATION_SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    sys.path[:0] = [sys.argv[1], os.path.dirname(sys.argv[1])]  # tests/models, tests
    import test_span_bert_pretrainer as t
    from spanbert_keras.models.span_bert_pretrainer import SpanBertPretrainer

    # Every cross-replica reduction traced into the step (each replica traces
    # its own copy of the step), by replica and number of elements.
    reduced = []
    original = tf.distribute.ReplicaContext.all_reduce
    def counting(self, reduce_op, value, options=None):
        size = sum(int(np.prod(v.shape)) for v in tf.nest.flatten(value))
        reduced.append((int(tf.get_static_value(self.replica_id_in_sync_group)), size))
        return original(self, reduce_op, value, options)
    tf.distribute.ReplicaContext.all_reduce = counting

    batches = [t.make_batch(seed=s) for s in range(2)]
    stacked = {k: np.stack([b[k] for b in batches]) for k in batches[0]}
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = t.tiny_model(seed=3)
    model.fit(tf.data.Dataset.from_tensor_slices(stacked), verbose=0)
    parameters = sum(int(np.prod(v.shape)) for v in model.trainable_variables
                     if "pooled_dense" not in v.path)  # the pooler gets no gradient
    gradient_sized = sorted((r, n) for r, n in reduced if n >= parameters)
    assert gradient_sized == [(0, parameters), (1, parameters)], (gradient_sized, parameters)

    # mixed_float16: an overflow on replica 1 only skips the step everywhere.
    class OverflowOnReplica1(SpanBertPretrainer):
        def _span_loss_terms(self, x, outputs, counts=None):
            terms = super()._span_loss_terms(x, outputs, counts)
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            terms["loss"] = terms["loss"] * tf.where(replica == 1, 1e30, 1.0)
            return terms

    keras.config.set_dtype_policy("mixed_float16")
    with strategy.scope():
        keras.utils.set_random_seed(3)
        base = t.tiny_model(seed=3, dtype_policy="mixed_float16")
        model = OverflowOnReplica1.from_config(base.get_config())
        model.compile(optimizer=keras.optimizers.LossScaleOptimizer(
            keras.optimizers.AdamW(1e-3), initial_scale=1024.0))
    before = [v.numpy() for v in model.trainable_variables]
    model.fit(tf.data.Dataset.from_tensor_slices(stacked), verbose=0)
    after = [v.numpy() for v in model.trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after)), "step applied"
    # Two steps (two global batches), both skipped: the scale is halved twice.
    assert float(model.optimizer.scale_loss(1.0)) == 256.0, model.optimizer.scale_loss(1.0)
    print("OK", gradient_sized)
    """
)


def _run_on_two_devices(source, tmp_path):
    """Runs a test script in a fresh process with 2 logical CPUs; it prints OK."""
    script = tmp_path / "two_devices.py"
    script.write_text(source)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [sys.executable, str(script), os.path.dirname(__file__)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]


@pytest.mark.slow
def test_gradients_cross_the_wire_once_and_any_overflow_skips_the_step(tmp_path):
    """Under MirroredStrategy(2): one gradient-sized all-reduce per step, and a
    float16 overflow on one replica skips the step on both (Keras' loss-scale
    optimiser alone looks at replica 0 only). Opt-in: 2 logical CPUs."""
    _run_on_two_devices(AGGREGATION_SCRIPT, tmp_path)


@pytest.mark.slow
def test_mirrored_strategy_matches_one_device(tmp_path):
    """Two replicas with unequal target counts == one device (global counts,
    all-reduced clipping). Opt-in: a subprocess with 2 logical CPUs, ~30 s."""
    _run_on_two_devices(DISTRIBUTED_SCRIPT, tmp_path)


@pytest.mark.slow
def test_demo_corpus_short_run_lowers_held_out_losses(demo_corpus):
    """400 steps of `tiny` on the Austen corpus (~1-2 min on 2 CPU cores)."""
    from spanbert_keras.data.pretraining_dataset import finite_batches
    from spanbert_keras.data.pretraining_dataset import pretraining_dataset
    from spanbert_keras.data.vocabulary import build_vocabulary

    vocabulary = build_vocabulary([demo_corpus], vocab_size=2000, show_progress=False)
    length, batch_size, steps = 64, 16, 400
    train = pretraining_dataset(
        [demo_corpus], vocabulary, sequence_length=length, batch_size=batch_size,
        seed=0, split="train", steps_per_epoch=100,
    )
    held_out, _ = finite_batches(
        pretraining_dataset(
            [demo_corpus], vocabulary, sequence_length=length, batch_size=batch_size,
            seed=1, split="validation", num_epochs=1, shuffle=False,
        ),
        max_batches=4,
    )
    keras.utils.set_random_seed(0)
    config = ModelConfig.from_size("tiny", max_sequence_length=length, dropout=0.0)
    model = build_pretrainer(
        config, vocabulary.size,
        TrainingConfig(steps=steps, warmup_steps=40, learning_rate=1e-3),
        sequence_length=length,
    )
    before = model.evaluate(held_out, verbose=0, return_dict=True)
    model.fit(train, epochs=steps // 100, steps_per_epoch=100, verbose=0)
    after = model.evaluate(held_out, verbose=0, return_dict=True)
    print(
        "held-out before -> after {} steps: MLM loss {:.3f} -> {:.3f}, SBO loss "
        "{:.3f} -> {:.3f}, MLM acc {:.3f} -> {:.3f}, SBO acc {:.3f} -> {:.3f}".format(
            steps, before["mlm_loss"], after["mlm_loss"], before["sbo_loss"],
            after["sbo_loss"], before["mlm_accuracy"], after["mlm_accuracy"],
            before["sbo_accuracy"], after["sbo_accuracy"],
        )
    )
    for name in ("mlm_loss", "sbo_loss"):
        assert after[name] < before[name] - 1.0, (name, before[name], after[name])
