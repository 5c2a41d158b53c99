"""AdamW with decoupled weight decay, with or without LayerNorm and biases."""

import keras
import numpy as np
import pytest

from spanbert_keras.config import ModelConfig
from spanbert_keras.config import TrainingConfig
from spanbert_keras.models.backbone import build_backbone
from spanbert_keras.models.span_bert_pretrainer import SpanBertPretrainer
from spanbert_keras.training.optimizer import AdamWeightDecay
from spanbert_keras.training.optimizer import build_optimizer
from spanbert_keras.training.schedule import WarmupLinearDecay


def test_published_hyperparameters():
    opt = build_optimizer(TrainingConfig())
    assert isinstance(opt, keras.optimizers.AdamW)
    assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.9, 0.999, 1e-8)
    assert opt.weight_decay == 0.01
    assert opt.global_clipnorm is None and opt.clipnorm is None  # clipped in the step
    schedule = opt._learning_rate
    assert isinstance(schedule, WarmupLinearDecay)
    assert (schedule.peak_learning_rate, schedule.warmup_steps) == (1e-4, 10_000)
    assert schedule.total_steps == 2_400_000


def test_total_steps_override_and_short_runs():
    opt = build_optimizer(TrainingConfig(warmup_steps=10_000), total_steps=50)
    assert opt._learning_rate.total_steps == 50
    assert opt._learning_rate.warmup_steps == 49


def _pretrainer():
    config = ModelConfig(
        num_layers=1, hidden_dim=8, num_heads=2, intermediate_dim=16,
        max_sequence_length=16, dropout=0.0, max_pair_targets=3,
        position_embedding_dim=4,
    )
    return SpanBertPretrainer(
        build_backbone(config, 20), max_pair_targets=3, position_embedding_dim=4
    )


def _is_norm_or_bias(model, variable):
    norms = [
        w
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.LayerNormalization)
        for w in layer.weights
    ]
    return any(variable is w for w in norms) or "bias" in variable.name


def test_no_decay_on_layer_norm_and_bias():
    model = _pretrainer()
    variables = model.trainable_variables
    rng = np.random.default_rng(0)
    for v in variables:  # non-zero values everywhere (LayerNorm beta, biases start at 0)
        v.assign(rng.normal(size=v.shape).astype("float32") + 1.0)
    before = [v.numpy() for v in variables]
    lr, wd = 0.1, 0.5
    opt = AdamWeightDecay(learning_rate=lr, weight_decay=wd)
    # Zero gradients: Adam moves nothing, only decoupled decay can.
    opt.apply([keras.ops.zeros(v.shape) for v in variables], variables)
    decayed = kept = 0
    for v, start in zip(variables, before):
        if _is_norm_or_bias(model, v):
            np.testing.assert_array_equal(v.numpy(), start, err_msg=v.path)
            kept += 1
        else:
            np.testing.assert_allclose(v.numpy(), start * (1 - lr * wd), rtol=1e-6, err_msg=v.path)
            decayed += 1
    # every LayerNorm (embeddings, attention, FFN, both heads) and bias is kept
    assert kept >= 4 * 2 + 2 * 2 + 2 and decayed >= 5
    names = {v.path for v in variables if not _is_norm_or_bias(model, v)}
    assert "token_embedding/embeddings" in names
    assert "sbo_head/position_embeddings" in names


def test_pretraining_decays_every_parameter_fine_tuning_excludes_norms_and_biases():
    # The authors' pre-training decays everything; their fine-tuning does not
    # decay LayerNorm parameters and biases.
    model = _pretrainer()
    variables = model.trainable_variables
    lr, wd = 0.1, 0.5
    for exclude in (False, True):
        for v in variables:
            v.assign(np.full(v.shape, 2.0, "float32"))
        config = TrainingConfig(steps=100, warmup_steps=0, learning_rate=lr, weight_decay=wd,
                                decay_norms_and_biases=not exclude)
        opt = build_optimizer(config)
        opt.apply([keras.ops.zeros(v.shape) for v in variables], variables)
        for v in variables:
            # The schedule's first rate is lr * (total - 0) / total = lr.
            kept = exclude and _is_norm_or_bias(model, v)
            want = 2.0 if kept else 2.0 * (1 - lr * wd)
            np.testing.assert_allclose(v.numpy(), want, rtol=1e-6, err_msg=v.path)


def test_exclusion_survives_serialisation():
    opt = build_optimizer(TrainingConfig(steps=100, warmup_steps=10, decay_norms_and_biases=False))
    config = keras.saving.serialize_keras_object(opt)
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, AdamWeightDecay)
    assert restored.no_decay_names == ("bias", "gamma", "beta")
    gamma = keras.Variable(np.ones(3, "float32"), name="gamma")
    kernel = keras.Variable(np.ones(3, "float32"), name="kernel")
    assert not restored._use_weight_decay(gamma)
    assert restored._use_weight_decay(kernel)
    wrapped = keras.optimizers.LossScaleOptimizer(opt)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(wrapped))
    assert again.inner_optimizer.no_decay_names == ("bias", "gamma", "beta")


@pytest.mark.parametrize("policy", ["mixed_float16"])
def test_pretrainer_wraps_for_float16(policy):
    from spanbert_keras.training.build import build_pretrainer

    config = ModelConfig(
        num_layers=1, hidden_dim=8, num_heads=2, intermediate_dim=16,
        max_sequence_length=16, max_pair_targets=3, position_embedding_dim=4,
    )
    model = build_pretrainer(config, 20, TrainingConfig(steps=10, warmup_steps=1, dtype_policy=policy))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.optimizer.inner_optimizer, AdamWeightDecay)
