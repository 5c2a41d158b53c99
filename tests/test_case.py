"""The shared test harness: the generic checks every layer, model and preprocessing layer gets.

`from test_case import run_layer_test` in any test module (pytest puts
`tests/`, the folder of `conftest.py`, on `sys.path`). Plain functions that
raise `AssertionError`; numeric tests against NumPy stay in the test modules.
"""

import json
import math
import tempfile

import keras
import numpy as np
import tensorflow as tf

from spanbert_keras.config import ModelConfig
from spanbert_keras.models.distributed import DistributedTraining

# The tiny model every test uses (vocabulary, encoder, SBO head sizes).
TINY_MODEL_CONFIG = {
    "vocabulary_size": 43,
    "num_layers": 2,
    "num_heads": 2,
    "hidden_dim": 16,
    "intermediate_dim": 32,
    "max_sequence_length": 32,
    "max_pair_targets": 4,
    "position_embedding_dim": 8,
}
PRECISION_POLICIES = ("mixed_float16", "mixed_bfloat16")


def tiny_model_config(**overrides):
    """`TINY_MODEL_CONFIG` as a `ModelConfig` (dropout 0), with `overrides`."""
    values = {k: v for k, v in TINY_MODEL_CONFIG.items() if k != "vocabulary_size"}
    return ModelConfig(**{"dropout": 0.0, **values, **overrides})


def numpy_gelu(x):
    """Exact (erf) GeLU, the reference's, in float64."""
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(np.asarray(x, "float64") / math.sqrt(2.0)))


def numpy_layer_norm(x, gamma, beta, epsilon=1e-12):
    """LayerNorm over the last axis, epsilon inside the square root (BERT's)."""
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def to_numpy(x):
    """Nested dicts / lists of NumPy arrays (ragged tensors as lists, strings as bytes)."""
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_numpy(v) for v in x]
    if isinstance(x, tf.RaggedTensor):
        return to_numpy(x.to_list())
    return keras.ops.convert_to_numpy(x) if keras.ops.is_tensor(x) else np.asarray(x)


def assert_allclose(actual, desired, atol=1e-6, rtol=1e-6, where="output"):
    """Same structure, shapes and dtype kinds; floats within tolerance, the rest equal."""
    actual, desired = to_numpy(actual), to_numpy(desired)
    if isinstance(desired, dict):
        assert isinstance(actual, dict) and sorted(actual) == sorted(desired), where
        for key in desired:
            assert_allclose(actual[key], desired[key], atol, rtol, f"{where}[{key!r}]")
    elif isinstance(desired, list) and any(isinstance(v, list) for v in desired):
        assert isinstance(actual, list) and len(actual) == len(desired), where
        for i, (a, d) in enumerate(zip(actual, desired)):
            assert_allclose(a, d, atol, rtol, f"{where}[{i}]")
    else:
        actual, desired = np.asarray(actual), np.asarray(desired)
        assert actual.shape == desired.shape, (where, actual.shape, desired.shape)
        if desired.dtype.kind == "f":
            np.testing.assert_allclose(actual, desired, atol=atol, rtol=rtol, err_msg=where)
        else:
            np.testing.assert_array_equal(actual, desired, err_msg=where)


def _call(layer, input_data, as_model):
    if isinstance(input_data, dict) and not as_model:
        return layer(**input_data)
    return layer(input_data)


def _floats(structure):
    return [x for x in keras.tree.flatten(structure) if "float" in str(x.dtype)]


def _with_policy(init_kwargs, policy):
    """`init_kwargs` rebuilt under `policy` (layer-valued arguments too)."""
    kwargs = {}
    for key, value in init_kwargs.items():
        if isinstance(value, keras.Layer):
            value = type(value).from_config({**value.get_config(), "dtype": policy})
        kwargs[key] = value
    return {**kwargs, "dtype": policy}


def _check_config_round_trip(instance, input_data, output, as_model):
    config = instance.get_config()
    clone = type(instance).from_config(config)
    assert json.dumps(clone.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    revived = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(instance)))
    )
    assert type(revived) is type(instance)
    assert json.dumps(revived.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    _call(clone, input_data, as_model)  # builds the clone
    clone.set_weights(instance.get_weights())
    assert_allclose(_call(clone, input_data, as_model), output, where="config round trip")


def _check_symbolic_call(instance, input_data, expected_output_shape, as_model):
    def symbol(x, name=None):  # named after their keys: functional models need it
        return keras.Input(batch_shape=np.shape(x), dtype=x.dtype, name=name)

    if isinstance(input_data, dict):
        symbolic = {key: symbol(x, key) for key, x in input_data.items()}
    else:
        symbolic = symbol(input_data)
    outputs = _call(instance, symbolic, as_model)
    shapes = keras.tree.map_structure(lambda x: tuple(x.shape), outputs)
    assert shapes == expected_output_shape, ("symbolic call", shapes)
    return symbolic, outputs


def _check_fit_step(instance, input_data, output, as_model):
    model = instance
    if not as_model:

        class LayerModel(keras.Model):
            def __init__(self, layer):
                super().__init__()
                self.layer = layer

            def call(self, x):
                return _call(self.layer, x, as_model=False)

        model = LayerModel(instance)
    before = [v.numpy().copy() for v in model.trainable_variables]
    stock_steps = (keras.Model.train_step, DistributedTraining.train_step)  # Keras' loss
    if type(model).train_step in stock_steps:  # no custom step: fit to noise
        rng = np.random.default_rng(0)
        noise = lambda x: rng.normal(size=x.shape).astype("float32")  # noqa: E731
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        history = model.fit(input_data, keras.tree.map_structure(noise, to_numpy(output)), verbose=0)
    else:
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        history = model.fit(tf.data.Dataset.from_tensors(input_data), verbose=0)
    assert np.isfinite(history.history["loss"]).all(), history.history
    after = [v.numpy() for v in model.trainable_variables]
    assert all(np.isfinite(a).all() for a in after)
    assert any(not np.array_equal(a, b) for a, b in zip(after, before)), "fit changed nothing"


def _check_precision(cls, init_kwargs, input_data, reference, output, tolerance, as_model):
    for name in PRECISION_POLICIES:
        policy = keras.dtype_policies.get(name)
        instance = cls(**_with_policy(init_kwargs, policy))
        _call(instance, input_data, as_model)
        instance.set_weights(reference.get_weights())  # the float32 weights
        result = _call(instance, input_data, as_model)
        for tensor in _floats(result):
            assert keras.backend.standardize_dtype(tensor.dtype) == policy.compute_dtype, name
        assert all(v.dtype == "float32" for v in _floats(instance.weights)), name
        for layer in instance._flatten_layers():
            if not isinstance(layer, (keras.layers.InputLayer, keras.layers.Softmax)):
                assert layer.dtype_policy.name == name, (name, layer.name)
        scale = max([1.0] + [float(np.abs(x).max()) for x in _floats(to_numpy(output))])
        assert_allclose(
            keras.tree.map_structure(lambda x: to_numpy(keras.ops.cast(x, "float32")), result),
            output, atol=tolerance * scale, rtol=0, where=name,
        )


def _check_saving(instance, input_data, output, symbolic, as_model):
    saved = instance if as_model else keras.Model(symbolic, _call(instance, symbolic, False))
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/saved.keras"
        saved.save(path)
        loaded = keras.saving.load_model(path)
    assert type(loaded) is type(saved)
    assert_allclose(loaded(input_data), output, atol=0, rtol=0, where=".keras round trip")


def run_layer_test(
    cls,
    init_kwargs,
    input_data,
    expected_output_shape,
    run_training_check=True,
    run_precision_checks=True,
    run_saving_check=True,
    precision_tolerance=0.02,
    _as_model=False,
):
    """The generic checks of a layer; returns its eager output.

    Symbolic call on `keras.Input`s and eager call give `expected_output_shape`
    (a tuple, or a dict of tuples, batch dim included); the config round trip
    (`from_config(get_config())`, JSON and `serialize_keras_object`) rebuilds
    a layer computing the same outputs with the same weights; `.keras`
    save/load gives identical outputs; under `mixed_float16` and
    `mixed_bfloat16` float outputs are in the compute dtype, variables
    float32, and with the same weights outputs are within
    `precision_tolerance` x max(1, max |float32 output|) of float32; one
    `fit` step (MSE to noise) moves the weights and stays finite.

    Args:
        cls: the layer class; `init_kwargs` its arguments (layer-valued ones,
            e.g. a tied `token_embedding`, are rebuilt for other dtypes).
        input_data: an array, or a dict passed as keyword arguments.
        run_*_check(s): set False where a check does not apply.
    """
    instance = cls(**init_kwargs)
    symbolic, _ = _check_symbolic_call(instance, input_data, expected_output_shape, _as_model)
    output = _call(instance, input_data, _as_model)
    shapes = keras.tree.map_structure(lambda x: tuple(x.shape), output)
    assert shapes == expected_output_shape, ("eager call", shapes)
    _check_config_round_trip(instance, input_data, output, _as_model)
    if run_saving_check:
        _check_saving(instance, input_data, output, symbolic, _as_model)
    if run_precision_checks:
        _check_precision(
            cls, init_kwargs, input_data, instance, output, precision_tolerance, _as_model
        )
    if run_training_check:
        _check_fit_step(instance, input_data, output, _as_model)
    return output


def run_model_test(cls, init_kwargs, input_data, expected_output_shape, **kwargs):
    """`run_layer_test` for a `keras.Model` subclass: called as `model(input_data)`,
    saved as itself; one `fit` step uses its own `train_step` if it has one
    (`fit(dataset of input_data)`), else MSE to noise on every output."""
    return run_layer_test(
        cls, init_kwargs, input_data, expected_output_shape, _as_model=True, **kwargs
    )


def run_preprocessing_layer_test(layer, inputs, expected_output=None):
    """A preprocessing layer gives the same result four ways; returns the eager output.

    `inputs`: a batch (array, tensor, ragged tensor or a dict of them; first
    axis = examples) that `tf.data.Dataset.from_tensor_slices` can slice; the
    layer gets it as tensors. Asserts that `layer(inputs)` (eager) equals,
    example by example, `ds.map(layer)` on the unbatched examples, and equals
    `ds.ragged_batch(n).map(layer)` (dense where the examples are) and
    `tf.function(layer)(inputs)`; ints and strings exactly, floats to 1e-6.
    So each example's output must depend only on that example (seed random
    choices from the example itself) and the layer must run on one example
    (rank reduced by one) as on a batch. Ragged outputs compare as lists.
    """
    to_tensor = lambda x: x if isinstance(x, tf.RaggedTensor) else tf.convert_to_tensor(x)  # noqa: E731
    inputs = tf.nest.map_structure(to_tensor, inputs)
    output = layer(inputs)
    dataset = tf.data.Dataset.from_tensor_slices(inputs)
    for i, element in enumerate(dataset.map(layer)):
        assert_allclose(
            element, keras.tree.map_structure(lambda x, i=i: x[i], output), where=f"ds.map example {i}"
        )
    batched = dataset.ragged_batch(int(dataset.cardinality())).map(layer).get_single_element()
    assert_allclose(batched, output, where="ds.ragged_batch().map")
    assert_allclose(tf.function(layer)(inputs), output, where="tf.function")
    if expected_output is not None:
        assert_allclose(output, expected_output, where="expected_output")
    return output
