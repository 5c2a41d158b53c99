"""AdamW for SpanBERT: decoupled weight decay, optionally none on LayerNorm / biases.

The authors' pre-training decays every parameter (their optimiser is Adam with
decoupled weight decay and no exclusion); excluding LayerNorm parameters and
biases from the decay is BERT's fine-tuning recipe, which they use for
fine-tuning. `TrainingConfig.decay_norms_and_biases` chooses.
"""

import contextlib

import keras

from spanbert_keras.config import TrainingConfig
from spanbert_keras.training.schedule import WarmupLinearDecay

# Variable names (Keras 3 `variable.name`, the last path component) that take
# no weight decay: every bias (`bias`, the heads' output biases) and the
# LayerNorm scale / offset (`gamma`, `beta`).
NO_DECAY_NAMES = ("bias", "gamma", "beta")


@keras.saving.register_keras_serializable(package="spanbert_keras")
class AdamWeightDecay(keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` that skips weight decay on LayerNorm and biases.

    The exclusion is set with `exclude_from_weight_decay(var_names=...)` in
    the constructor and kept in `get_config`, so it survives
    `model.save` / `keras.saving.load_model` (Keras' own AdamW forgets it).
    Decay is decoupled as in PyTorch / fairseq AdamW:
    `w -= lr * weight_decay * w` besides the Adam step.

    Under a `tf.distribute` strategy Keras' optimiser sums the replicas'
    gradients inside `apply`. A train step that has summed them already
    (`SpanBertPretrainer` does, to clip by the true global norm) applies them
    inside `with optimizer.gradients_summed():`, and they cross the wire once.

    Two learning rates (coreference, as the authors train it): with a
    `task_learning_rate`, the variables given to `set_task_variables` (the
    task's scorer) follow that rate instead, as plain Adam (no weight decay);
    the others (the encoder) follow `learning_rate`. Which variables are the
    task's is not saved: set them again after loading.

    Args:
        no_decay_names: sequence of str; a variable whose name contains one of
            them is not decayed.
        task_learning_rate: optional float or schedule, the rate of the task
            variables.
        **kwargs: `keras.optimizers.AdamW` arguments.
    """

    def __init__(self, no_decay_names=NO_DECAY_NAMES, task_learning_rate=None, **kwargs):
        super().__init__(**kwargs)
        self.no_decay_names = tuple(no_decay_names or ())
        self.exclude_from_weight_decay(var_names=list(self.no_decay_names))
        self._summed = False
        if isinstance(task_learning_rate, dict):
            task_learning_rate = keras.optimizers.schedules.deserialize(task_learning_rate)
        self.task_learning_rate = task_learning_rate
        self._task_variable_ids = set()

    def set_task_variables(self, variables):
        """The variables that follow `task_learning_rate` (needs one)."""
        if self.task_learning_rate is None:
            raise ValueError("set_task_variables needs an optimizer with a task_learning_rate.")
        # The TensorFlow backend updates the Keras variable's TF variable (`.value`).
        self._task_variable_ids = {id(v) for v in variables} | {
            id(v.value) for v in variables if hasattr(v, "value")}

    def _is_task_variable(self, variable):
        return id(variable) in self._task_variable_ids

    def _use_weight_decay(self, variable):
        return not self._is_task_variable(variable) and super()._use_weight_decay(variable)

    def update_step(self, gradient, variable, learning_rate):
        if self._is_task_variable(variable):
            rate = self.task_learning_rate
            if callable(rate):
                rate = rate(self.iterations)
            learning_rate = keras.ops.cast(rate, variable.dtype)
        return super().update_step(gradient, variable, learning_rate)

    @contextlib.contextmanager
    def gradients_summed(self):
        """Within it, `apply` takes the gradients as already summed over replicas."""
        self._summed = True
        try:
            yield self
        finally:
            self._summed = False

    def _all_reduce_sum_gradients(self, grads_and_vars):
        if self._summed:
            return list(grads_and_vars)
        return super()._all_reduce_sum_gradients(grads_and_vars)

    def get_config(self):
        config = super().get_config()
        config["no_decay_names"] = list(self.no_decay_names)
        rate = self.task_learning_rate
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            rate = keras.optimizers.schedules.serialize(rate)
        config["task_learning_rate"] = rate
        return config


def effective_warmup_steps(training_config, total_steps):
    """The warm-up a run of `total_steps` gets: `warmup_steps`, shortened to `total_steps - 1`.

    >>> from spanbert_keras.config import TrainingConfig
    >>> effective_warmup_steps(TrainingConfig(warmup_steps=200), 6)
    5
    """
    return max(min(int(training_config.warmup_steps), int(total_steps) - 1), 0)


def build_optimizer(training_config=None, total_steps=None, task_learning_rate=None):
    """AdamW with the warm-up / linear-decay schedule from a `TrainingConfig`.

    Gradient clipping is not set here: `SpanBertPretrainer` clips by the true
    global norm in its train step (`training_config.clip_norm`).

    Args:
        training_config: a `spanbert_keras.config.TrainingConfig` (defaults:
            the published pre-training recipe). Its `decay_norms_and_biases`
            decides whether LayerNorm parameters and biases are decayed too.
        total_steps: optional int overriding `training_config.steps`, the step
            at which the learning rate reaches 0. A warm-up as long as the
            whole run is shortened to `total_steps - 1`.
        task_learning_rate: optional rate or schedule of the variables later
            given to `set_task_variables` (see `AdamWeightDecay`).

    Returns:
        An `AdamWeightDecay` optimizer.

    Example:

    >>> from spanbert_keras.config import TrainingConfig
    >>> from spanbert_keras.training.optimizer import build_optimizer
    >>> opt = build_optimizer(TrainingConfig(steps=100, warmup_steps=10))
    >>> opt.weight_decay, opt.beta_2, opt.no_decay_names
    (0.01, 0.999, ())
    >>> build_optimizer(TrainingConfig(decay_norms_and_biases=False)).no_decay_names
    ('bias', 'gamma', 'beta')
    """
    config = training_config or TrainingConfig()
    steps = int(total_steps if total_steps is not None else config.steps)
    schedule = WarmupLinearDecay(
        peak_learning_rate=config.learning_rate,
        warmup_steps=effective_warmup_steps(config, steps),
        total_steps=steps,
    )
    return AdamWeightDecay(
        no_decay_names=() if config.decay_norms_and_biases else NO_DECAY_NAMES,
        learning_rate=schedule,
        weight_decay=config.weight_decay,
        beta_1=config.beta_1,
        beta_2=config.beta_2,
        epsilon=config.epsilon,
        task_learning_rate=task_learning_rate,
    )
