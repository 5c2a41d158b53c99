"""Every use of a private Keras, keras-hub or TensorFlow API, in one place.

The package reaches past the public APIs of its dependencies in a few places,
each for a reason the public API cannot serve:

- `FirstReplicaSymbolicBuild`: Keras 3.15 learns the shapes of the first
  batch under a strategy by MEAN-reducing it across replicas, which fails
  under `MultiWorkerMirroredStrategy` and on bool tensors
  (https://github.com/keras-team/keras/issues/20585); the override of
  `Trainer._maybe_symbolic_build` takes replica 0's part instead.
- `loss_tracker`: the step that sums gradients once (`models.distributed`)
  updates Keras' own loss metric, as `Trainer.train_step` does.
- `created_under_strategy`: whether a model was made in a strategy's scope.
- `in_multi_worker_mode`: whether a `MultiWorkerMirroredStrategy` spans
  several workers (a one-worker one behaves as `MirroredStrategy`).
- `convert_bert_weights`: keras-hub's own Hugging Face BERT converter names
  the weights of `checkpoints.names` (one mapping, keras-hub's).
- `feedforward_intermediate_dense`: a keras-hub `TransformerEncoder`'s
  feed-forward Dense, whose activation becomes BERT's exact GeLU.
- `masked_lm_head_parts`: the sub-layers and weights of keras-hub's
  `MaskedLMHead`, which `layers.BertMaskedLMHead.call` re-orders to cast the
  bias.

The versions these were tested on are `TESTED`; `check_private_apis()` runs
when the module is imported and fails with one message naming what is
missing and the versions to install, rather than an `AttributeError` deep in
a training step. Other versions in the supported ranges (pyproject.toml) only
warn.
"""

import importlib
import warnings

import keras
import keras_hub
import tensorflow as tf

# The versions (major.minor) the private accesses below were tested on.
TESTED = {"keras": "3.15", "keras_hub": "0.32", "tensorflow": "2.21"}
_MODULES = {"keras": keras, "keras_hub": keras_hub, "tensorflow": tf}


class PrivateApiError(ImportError):
    """An installed dependency lacks a private API the package relies on."""


def installed_versions():
    """{"keras": "3.15.1", ...}: the installed versions of the dependencies in `TESTED`."""
    return {name: module.__version__ for name, module in _MODULES.items()}


def _tested_line():
    tested = ", ".join(f"{name.replace('_', '-')} {version}" for name, version in TESTED.items())
    pins = " ".join(f"'{name.replace('_', '-')}=={version}.*'" for name, version in TESTED.items())
    installed = ", ".join(f"{name.replace('_', '-')} {version}"
                          for name, version in installed_versions().items())
    return f"installed: {installed}; tested with {tested}: pip install {pins}"


def _missing(what):
    return PrivateApiError(f"spanbert-keras needs {what}, which the installed versions do not "
                           f"have; {_tested_line()}.")


def _attribute(owner, name, what):
    try:
        return getattr(owner, name)
    except AttributeError:
        raise _missing(f"{what} (`{name}`)") from None


def check_private_apis():
    """Raise `PrivateApiError` if a private API used here is missing; warn on untested versions.

    >>> check_private_apis()  # the installed versions are the tested ones
    """
    for name in ("_maybe_symbolic_build", "_symbolic_build"):
        _attribute(keras.Model, name, "Keras' first-batch build")
    _convert_bert()
    untested = [f"{name} {version}" for name, version in installed_versions().items()
                if not version.startswith(TESTED[name] + ".")]
    if untested:
        warnings.warn(f"spanbert-keras was not tested with {', '.join(untested)}; "
                      f"{_tested_line()}.", stacklevel=2)


def _convert_bert():
    try:
        return importlib.import_module("keras_hub.src.utils.transformers.convert_bert")
    except ImportError:
        raise _missing("keras-hub's BERT converter (`keras_hub.src.utils.transformers."
                       "convert_bert`)") from None


def convert_bert_weights(backbone, loader):
    """Run keras-hub's Hugging Face BERT weight converter on `backbone` with `loader`."""
    _convert_bert().convert_weights(backbone, loader, transformers_config={})


def loss_tracker(model):
    """Keras' own loss metric of a compiled `model` (None when it has none)."""
    return _attribute(model, "_loss_tracker", "Keras' loss tracker")


def created_under_strategy(model):
    """Whether `model` was created inside a `tf.distribute` strategy's scope."""
    return getattr(model, "_distribute_strategy", None) is not None


def in_multi_worker_mode(strategy):
    """True when a `MultiWorkerMirroredStrategy` spans more than one worker."""
    check = _attribute(strategy.extended, "_in_multi_worker_mode",
                       "TensorFlow's multi-worker check")
    return bool(check())


def feedforward_intermediate_dense(encoder_layer):
    """The first (intermediate) Dense of a built keras-hub `TransformerEncoder`'s feed-forward."""
    return _attribute(encoder_layer, "_feedforward_intermediate_dense",
                      "keras-hub's TransformerEncoder feed-forward")


def masked_lm_head_parts(head):
    """(intermediate Dense, its LayerNorm, output kernel, output bias) of a built `MaskedLMHead`.

    The kernel is None when the head decodes through a tied embedding.
    """
    dense, layer_norm, bias = (_attribute(head, name, "keras-hub's MaskedLMHead layers")
                               for name in ("_intermediate_dense", "_intermediate_layer_norm",
                                            "_bias"))
    kernel = None if head.token_embedding is not None else _attribute(
        head, "_kernel", "keras-hub's MaskedLMHead layers")
    return dense, layer_norm, kernel, bias


class FirstReplicaSymbolicBuild:
    """Mixin for `keras.Model` subclasses: the first-batch build reads replica 0 under a strategy.

    Keras 3.15 learns the shapes of the first batch by MEAN-reducing it across
    the replicas, which fails under `MultiWorkerMirroredStrategy` and on bool
    tensors ("AddN ... bool"); this takes replica 0's part instead. A model
    created outside a strategy is built by its first call, as before.
    """

    def _first_replica(self, value):
        if isinstance(value, tf.distribute.DistributedValues):
            return self.distribute_strategy.experimental_local_results(value)[0]
        return value

    def _fully_built(self):
        return (
            all(layer.built for layer in self._flatten_layers())
            and (self.optimizer is None or self.optimizer.built)
            and (self._compile_metrics is None or self._compile_metrics.built)
            and (self._compile_loss is None or self._compile_loss.built)
        )

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if not created_under_strategy(self) or self._fully_built():
            return
        if iterator is not None and data_batch is None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(self._first_replica, next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)


check_private_apis()
