"""Rebuilding the nested Keras objects of a model's config, for every model's `from_config`."""

import keras

_DESERIALIZERS = {
    "backbone": keras.layers.deserialize,
    "preprocessor": keras.layers.deserialize,
    "dtype": keras.dtype_policies.deserialize,
    "activation": keras.activations.deserialize,
}


def deserialize_nested(config, keys=tuple(_DESERIALIZERS)):
    """A copy of `config` whose serialised `keys` (dicts in a `.keras` file) are objects again.

    Example:

    >>> config = deserialize_nested({"activation": {"module": "keras.activations",
    ...     "class_name": "function", "config": "relu", "registered_name": "relu"}})
    >>> config["activation"].__name__
    'relu'
    """
    config = dict(config)
    for key in keys:
        if isinstance(config.get(key), dict):
            config[key] = _DESERIALIZERS[key](config[key])
    return config
