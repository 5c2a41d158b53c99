"""Training steps that are right under any `tf.distribute` strategy: one mixin for every model.

`DistributedTraining` goes before `keras.Model` in the bases of the
pre-trainer and of every fine-tuning model. On one device it changes nothing
but densifying the gradients (so a global-norm clip sees the true norm of an
embedding's gradient). Under a strategy it:

- sums the replicas' gradients once, in the step, and has the optimiser
  apply them without a second all-reduce (`AdamWeightDecay.gradients_summed`),
  so gradients cross the wire once per step, the optimiser's clipping acts
  on the global gradient (Keras clips each replica's share before summing),
  and a loss-scale optimiser's finiteness check sees an overflow of any
  replica (Keras' looks at replica 0 only);
- works around Keras 3.15's `fit` under `MultiWorkerMirroredStrategy`
  (https://github.com/keras-team/keras/issues/20585): the first batch is
  read from replica 0 instead of being MEAN-reduced across workers
  (`compat.FirstReplicaSymbolicBuild`), and the step's logs are returned with shape
  `[1]`, which the multi-worker log reduction (`reduce(..., axis=0)`)
  needs (https://github.com/tensorflow/tensorflow/issues/72388);
- runs XLA per replica when XLA is asked for (`compile(jit_compile=True)`):
  Keras compiles the function that holds `strategy.run`, which XLA refuses
  for variables on several devices; a model that sets
  `replica_jit_compile = True` gets its per-replica forward and backward
  pass compiled instead, with the cross-replica sums outside. Other models
  run without XLA under a strategy (with a warning).

Losses must be normalised by global counts: Keras' own `Loss` objects with
reduction `sum_over_batch_size` are (Keras divides by the replicas); a loss
that divides by a count of its own must sum the count over the replicas
(`spanbert_keras.losses.global_sum`).

The Keras internals this needs are reached through `spanbert_keras.compat`;
the tests under `tests/training/` run them under `MirroredStrategy` and
`MultiWorkerMirroredStrategy`.
"""

import warnings

import keras
import tensorflow as tf

from spanbert_keras.compat import FirstReplicaSymbolicBuild
from spanbert_keras.compat import created_under_strategy
from spanbert_keras.compat import in_multi_worker_mode
from spanbert_keras.compat import loss_tracker


def is_multi_worker(strategy):
    """True under a `MultiWorkerMirroredStrategy` of more than one worker."""
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and in_multi_worker_mode(strategy))


class DistributedTraining(FirstReplicaSymbolicBuild):
    """Mixin for `keras.Model` subclasses: see the module docstring."""

    # Set True on a model whose train step compiles its per-replica work
    # itself (`self._replica_function`).
    replica_jit_compile = False

    @property
    def _replicas(self):
        return self.distribute_strategy.num_replicas_in_sync

    # ------------------------------------------------------------ compile
    def compile(self, *args, jit_compile="auto", **kwargs):
        """`keras.Model.compile`; under a strategy, `jit_compile=True` compiles per replica."""
        self._jit_per_replica = False
        if created_under_strategy(self) and jit_compile is True and not isinstance(
            self.distribute_strategy, tf.distribute.TPUStrategy
        ):
            if self.replica_jit_compile:
                self._jit_per_replica = True
            else:
                warnings.warn(
                    f"{type(self).__name__} runs without XLA under a tf.distribute strategy "
                    "(XLA cannot compile a step that spans several devices).",
                    stacklevel=2,
                )
            jit_compile = False
        super().compile(*args, jit_compile=jit_compile, **kwargs)

    def _replica_function(self, function):
        """`function` compiled with XLA when the per-replica step is (see `compile`)."""
        if not getattr(self, "_jit_per_replica", False):
            return function
        cache = self.__dict__.setdefault("_replica_functions", {})
        if function.__name__ not in cache:
            cache[function.__name__] = tf.function(function, jit_compile=True)
        return cache[function.__name__]

    # --------------------------------------------------------- gradients
    def _sum_gradients(self, grads):
        """Dense gradients, summed over the replicas (one all-reduce) when there are several."""
        grads = [tf.convert_to_tensor(g) for g in grads]
        if self._replicas > 1:
            grads = tf.distribute.get_replica_context().all_reduce("sum", grads)
        return grads

    def _apply_summed_gradients(self, grads, variables):
        """`optimizer.apply` on gradients `_sum_gradients` summed already.

        An optimiser that can be told so (`AdamWeightDecay.gradients_summed`,
        also inside a `LossScaleOptimizer`) skips its own all-reduce, and its
        clipping sees the global gradient; any other optimiser sums the
        replicas' gradients again, so it gets their share (`g / replicas`)
        and its own clipping (if any) acts on that share.
        """
        replicas = self._replicas
        inner = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        if replicas > 1 and hasattr(inner, "gradients_summed"):
            with inner.gradients_summed():
                self.optimizer.apply(grads, variables)
            return
        if replicas > 1:
            grads = [g / replicas for g in grads]
        self.optimizer.apply(grads, variables)

    # ------------------------------------------------------------- steps
    def _step_logs(self, logs):
        """The logs a step returns: shape `[1]` under a multi-worker strategy."""
        if not is_multi_worker(self.distribute_strategy):
            return logs
        return {name: tf.reshape(value, [1]) for name, value in logs.items()}

    def train_step(self, data):
        """Keras' train step, with the gradients summed once (see `_apply_summed_gradients`)."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                     training=True)
            tracker = loss_tracker(self)
            if tracker is not None:
                # Each replica's loss is its share of the global loss.
                tracker.update_state(
                    loss * float(self._replicas),
                    sample_weight=tf.shape(tf.nest.flatten(x)[0])[0],
                )
            scaled = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        pairs = [(g, v) for g, v in zip(tape.gradient(scaled, variables), variables)
                 if g is not None]
        self._apply_summed_gradients(self._sum_gradients([g for g, _ in pairs]),
                                     [v for _, v in pairs])
        return self._step_logs(self.compute_metrics(x, y, y_pred, sample_weight=sample_weight))

    def test_step(self, data):
        return self._step_logs(super().test_step(data))
