"""A BERT config's sizes checked against its tensors' shapes, before anything is allocated.

A `config.json` claiming 8,000,000 positions or a hidden size of 1e9 would
make a model allocate them. `check_sizes` refuses sizes the tensors
contradict; `check_safetensors_directory` runs it on a Hugging Face directory
from the safetensors header alone (no tensor is read), and needs neither
TensorFlow nor Keras: the command line calls it before TensorFlow loads, so a
lying config is refused in a few megabytes. `Checkpoint.model_config` runs
the same check on every checkpoint it reads.
"""

import os

from spanbert_keras.files import read_json

# The keys of a PyTorch BERT config that describe the encoder's sizes.
REQUIRED_CONFIG_KEYS = (
    "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "max_position_embeddings",
)
# The config sizes read off tensors: key -> (canonical tensor name, axis), PyTorch's layout.
SIZE_TENSORS = {
    "hidden_size": ("bert.embeddings.word_embeddings.weight", 1),
    "max_position_embeddings": ("bert.embeddings.position_embeddings.weight", 0),
    "type_vocab_size": ("bert.embeddings.token_type_embeddings.weight", 0),
    "intermediate_size": ("bert.encoder.layer.0.intermediate.dense.weight", 0),
}
# A Hugging Face checkpoint directory's files (`checkpoints.huggingface` reads and writes them).
CONFIG_FILE = "config.json"
LEGACY_CONFIG_FILE = "bert_config.json"  # pytorch_pretrained_bert's name, the authors' code
SAFETENSORS_FILE = "model.safetensors"


def config_file(directory):
    """The BERT config of a checkpoint directory: `config.json`, else `bert_config.json` if only
    that one exists (the path of `config.json` when neither does)."""
    path = os.path.join(directory, CONFIG_FILE)
    legacy = os.path.join(directory, LEGACY_CONFIG_FILE)
    return legacy if not os.path.isfile(path) and os.path.isfile(legacy) else path


def check_sizes(config, where, shapes, source):
    """Raise `ValueError` if `config`'s sizes disagree with the tensors' `shapes`.

    Args:
        config: a PyTorch BERT config (dict).
        where: the config's file, for the message.
        shapes: {canonical tensor name: shape}.
        source: the weights' file, for the message.

    >>> check_sizes({"hidden_size": 8_000_000, "num_attention_heads": 2}, "config.json",
    ...             {"bert.embeddings.word_embeddings.weight": (30, 8)}, "model.safetensors")
    Traceback (most recent call last):
    ...
    ValueError: config.json says hidden_size=8000000, but bert.embeddings.word_embeddings.weight in model.safetensors has 8 columns.
    """
    for key, (tensor, axis) in SIZE_TENSORS.items():
        value = config.get(key)
        if tensor not in shapes or (value is None and key not in REQUIRED_CONFIG_KEYS):
            continue
        actual = int(shapes[tensor][axis])
        if isinstance(value, bool) or not isinstance(value, int) or value != actual:
            raise ValueError(
                f"{where} says {key}={value!r}, but {tensor} in {source} has "
                f"{actual} {'rows' if axis == 0 else 'columns'}."
            )
    heads, hidden = config.get("num_attention_heads"), config.get("hidden_size")
    if isinstance(heads, bool) or not isinstance(heads, int) or not isinstance(hidden, int) \
            or not 0 < heads <= hidden or hidden % heads:
        raise ValueError(
            f"{where} says num_attention_heads={heads!r}, which does not divide "
            f"hidden_size={hidden!r}."
        )


def check_safetensors_directory(path):
    """`check_sizes` on a Hugging Face directory's config and `model.safetensors` header.

    Anything else (a file, a run directory, a preset name, PyTorch weights,
    a config or header that cannot be read) is left to the full reader,
    which checks the same and says what is wrong.
    """
    path = os.fspath(path)
    weights, config_path = os.path.join(path, SAFETENSORS_FILE), config_file(path)
    if not os.path.isfile(weights) or not os.path.isfile(config_path):
        return
    from safetensors import SafetensorError
    from safetensors import safe_open

    try:
        config = read_json(config_path)
        with safe_open(weights, framework="numpy") as f:
            shapes = {name: f.get_slice(name).get_shape() for name in f.keys()}
    except (OSError, ValueError, SafetensorError):  # the full reader names the problem
        return
    if not isinstance(config, dict) or not all(isinstance(config.get(k), int)
                                               for k in REQUIRED_CONFIG_KEYS):
        return  # the full reader names what is missing
    # The BertModel layout has no `bert.` prefix; the canonical names have it.
    shapes.update({"bert." + name: shape for name, shape in list(shapes.items())
                   if name.startswith(("embeddings.", "encoder."))})
    check_sizes(config, config_path, shapes, weights)
