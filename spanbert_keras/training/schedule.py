"""Learning-rate schedule: linear warm-up, then linear decay to zero."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="spanbert_keras")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to a peak, then linear ("polynomial", power 1) decay to 0.

    `step` is the optimiser's `iterations`, i.e. the 0-based index of the
    update being applied:

    * `step < warmup_steps`: `peak * (step + 1) / warmup_steps` (the first
      update already moves; the last warm-up update uses the peak);
    * `step >= warmup_steps`:
      `peak * max(0, (total_steps - step) / (total_steps - warmup_steps))`,
      which is the peak at `warmup_steps` and 0 from `total_steps` on.

    Args:
        peak_learning_rate: float > 0, the rate reached after warm-up.
        warmup_steps: int >= 0.
        total_steps: int > warmup_steps, the step at which the rate reaches 0.
        name: optional str.

    Example:

    >>> from spanbert_keras.training.schedule import WarmupLinearDecay
    >>> schedule = WarmupLinearDecay(1e-4, warmup_steps=10, total_steps=110)
    >>> [round(float(schedule(s)), 7) for s in (0, 9, 10, 60, 110)]
    [1e-05, 0.0001, 0.0001, 5e-05, 0.0]
    """

    def __init__(self, peak_learning_rate, warmup_steps, total_steps, name=None):
        if not float(peak_learning_rate) > 0:
            raise ValueError(
                "`peak_learning_rate` must be positive. "
                f"Received: peak_learning_rate={peak_learning_rate}"
            )
        if int(warmup_steps) < 0:
            raise ValueError(
                f"`warmup_steps` must be >= 0. Received: warmup_steps={warmup_steps}"
            )
        if int(total_steps) <= int(warmup_steps):
            raise ValueError(
                "`total_steps` must exceed `warmup_steps`. Received: "
                f"total_steps={total_steps}, warmup_steps={warmup_steps}"
            )
        self.peak_learning_rate = float(peak_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.peak_learning_rate
        warmup = float(self.warmup_steps)
        warm = peak * (step + 1.0) / max(warmup, 1.0)
        remaining = (float(self.total_steps) - step) / (float(self.total_steps) - warmup)
        decay = peak * ops.clip(remaining, 0.0, 1.0)
        return ops.where(step < warmup, warm, decay)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "name": self.name,
        }
