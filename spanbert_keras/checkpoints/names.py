"""The one key map between our variables and the PyTorch BERT / SpanBERT names.

Every checkpoint is read into, and written from, one canonical state dict:
`BertForPreTraining`'s names (`bert.embeddings.*`, `bert.encoder.layer.N.*`,
`bert.pooler.*`, `cls.predictions.*`), LayerNorm parameters named
`weight`/`bias`, and the SBO head under `cls.pair_target_predictions.*` as the
authors name it (`position_embeddings`, `mlp_layer_norm.linear1`,
`layer_norm1`, `linear2`, `layer_norm2`, `bias`). Arrays are in PyTorch's
layout (a linear layer's weight is `[out, in]`).

The encoder's names and reshapes are keras-hub's own (its Hugging Face BERT
converter, `convert_bert.convert_weights`, run against a recorder instead of a
file), so a `SpanBertBackbone` maps exactly as keras-hub maps a
`BertBackbone`; the heads' names are added here. The reverse direction (our
variables to PyTorch arrays) inverts those reshapes exactly, by running each
one on an array of indices.
"""

import dataclasses
import re

import keras
import numpy as np

from spanbert_keras.compat import convert_bert_weights
from spanbert_keras.compat import masked_lm_head_parts

ENCODER_PREFIX = "bert."
POOLER_PREFIX = "bert.pooler."
MLM_PREFIX = "cls.predictions."
SBO_PREFIX = "cls.pair_target_predictions."
# BERT's next-sentence head: no part of SpanBERT, ignored when present.
NSP_PREFIX = "cls.seq_relationship."
# Index buffers that older `transformers` releases saved beside the weights: ignored.
BUFFERS = ("bert.embeddings.position_ids", "bert.embeddings.token_type_ids")
# Tied to other tensors in PyTorch (the decoders are the word embeddings, the
# MLM decoder's bias is `cls.predictions.bias`): checked when present, never
# loaded on their own, not written (as `transformers` writes them).
WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"
TIED = {
    MLM_PREFIX + "decoder.weight": WORD_EMBEDDINGS,
    SBO_PREFIX + "decoder.weight": WORD_EMBEDDINGS,
    MLM_PREFIX + "decoder.bias": MLM_PREFIX + "bias",
}
SBO_POSITIONS = SBO_PREFIX + "position_embeddings.weight"
# The task heads of fine-tuned checkpoints (`BertForQuestionAnswering`'s
# start / end layer, `BertForSequenceClassification`'s classifier): no part of
# a pretrainer, kept aside for `spanbert-keras import --task`.
TASK_HEAD_PREFIXES = ("qa_outputs.", "classifier.")
# The parts of a `SpanBertPretrainer`, in the order they are reported.
PARTS = ("encoder", "pooler", "mlm_head", "sbo_head")

# PyTorch BERT's `hidden_act` names and our activations (`SpanBertBackbone`).
HF_ACTIVATIONS = {
    "gelu": "gelu",  # exact (erf), BERT's and SpanBERT's
    "gelu_new": "gelu_approximate",  # the tanh approximation, keras-hub's
    "gelu_pytorch_tanh": "gelu_approximate",
    "relu": "relu",
    "swish": "silu",
    "silu": "silu",
}
APPROXIMATE_GELU_NAME = "gelu_approximate"


def _transpose(array, shape):
    return np.transpose(array)


@dataclasses.dataclass
class WeightName:
    """One variable and its PyTorch name.

    Attributes:
        variable: the Keras variable.
        key: its name in the canonical state dict.
        hook: None, or keras-hub's `hook_fn(array, keras_shape)` turning the
            PyTorch array into the variable's layout (transposes, reshapes).
        bias_shape: for a linear layer's weight with a hook, the shape of its
            bias variable (its size is the layer's output size).
    """

    variable: object
    key: str
    hook: object = None
    bias_shape: tuple = None

    def to_keras(self, array, source="the checkpoint"):
        """The variable's value from the PyTorch array, in the variable's dtype."""
        expected = self.torch_shape()
        if tuple(array.shape) != expected:
            raise ValueError(
                f"{source}: {self.key} has shape {tuple(array.shape)}, but the model "
                f"described by its config needs {expected}."
            )
        array = np.asarray(array)
        if self.hook is not None:
            array = self.hook(array, list(self.variable.shape))
        return array.astype(keras.backend.standardize_dtype(self.variable.dtype))

    def to_torch(self):
        """The variable's value as a PyTorch-layout NumPy array (the exact inverse)."""
        value = np.array(self.variable.numpy())
        if self.hook is None:
            return value.copy()
        shape = self.torch_shape()
        source_index = self.hook(np.arange(int(np.prod(shape))).reshape(shape),
                                 list(self.variable.shape))
        flat = np.empty(int(np.prod(shape)), value.dtype)
        flat[np.ravel(source_index)] = np.ravel(value)
        return flat.reshape(shape)

    def torch_shape(self):
        """The shape of the PyTorch array (a linear layer's weight is [out, in])."""
        shape = tuple(self.variable.shape)
        if self.hook is None:
            return shape
        size = int(np.prod(shape))
        if self.key.endswith(".bias"):
            return (size,)
        out = int(np.prod(self.bias_shape))
        return (out, size // out)


class _Recorder:
    """Stands in for keras-hub's `SafetensorLoader`: records instead of loading."""

    def __init__(self):
        self.names = []

    def get_tensor(self, key):
        # keras-hub probes `embeddings.LayerNorm.gamma` to choose the LayerNorm
        # naming: answering "absent" selects `weight`/`bias`, our canonical form.
        raise KeyError(key)

    def port_weight(self, keras_variable, hf_weight_key, hook_fn=None):
        self.names.append(WeightName(keras_variable, ENCODER_PREFIX + hf_weight_key, hook_fn))


def encoder_names(backbone):
    """keras-hub's names of a `BertBackbone`'s variables (pooler included), `bert.`-prefixed."""
    recorder = _Recorder()
    convert_bert_weights(backbone, recorder)
    return _with_bias_shapes(recorder.names)


def _head_names(prefix, pairs):
    return [WeightName(variable, prefix + key, hook) for key, variable, hook in pairs]


def mlm_head_names(head):
    """`cls.predictions.*` of a `BertMaskedLMHead` (keras-hub `MaskedLMHead` layout)."""
    dense, layer_norm, _, bias = masked_lm_head_parts(head)
    return _head_names(MLM_PREFIX, [
        ("transform.dense.weight", dense.kernel, _transpose),
        ("transform.dense.bias", dense.bias, None),
        ("transform.LayerNorm.weight", layer_norm.gamma, None),
        ("transform.LayerNorm.bias", layer_norm.beta, None),
        ("bias", bias, None),
    ])


def sbo_head_names(head):
    """`cls.pair_target_predictions.*` of a `SpanBoundaryHead` (the authors' module names)."""
    mlp = "mlp_layer_norm."
    return _head_names(SBO_PREFIX, [
        ("position_embeddings.weight", head.position_embeddings, None),
        (mlp + "linear1.weight", head.linear1.kernel, _transpose),
        (mlp + "linear1.bias", head.linear1.bias, None),
        (mlp + "layer_norm1.weight", head.layer_norm1.gamma, None),
        (mlp + "layer_norm1.bias", head.layer_norm1.beta, None),
        (mlp + "linear2.weight", head.linear2.kernel, _transpose),
        (mlp + "linear2.bias", head.linear2.bias, None),
        (mlp + "layer_norm2.weight", head.layer_norm2.gamma, None),
        (mlp + "layer_norm2.bias", head.layer_norm2.beta, None),
        ("bias", head.bias, None),
    ])


def _with_bias_shapes(names):
    shapes = {n.key: tuple(n.variable.shape) for n in names}
    for name in names:
        if name.hook is not None and name.key.endswith(".weight"):
            name.bias_shape = shapes[name.key[: -len("weight")] + "bias"]
    return names


def pretrainer_names(model):
    """{part: [WeightName]} of a `SpanBertPretrainer` (`PARTS`).

    Example:

    >>> from spanbert_keras.config import ModelConfig
    >>> from spanbert_keras.training.build import build_pretrainer
    >>> from spanbert_keras.checkpoints.names import pretrainer_names
    >>> model = build_pretrainer(ModelConfig(num_layers=1, hidden_dim=8, num_heads=2,
    ...     intermediate_dim=16, max_sequence_length=12, max_pair_targets=3,
    ...     position_embedding_dim=4), vocabulary_size=30)
    >>> names = pretrainer_names(model)
    >>> [n.key for n in names["encoder"]][:2]
    ['bert.embeddings.word_embeddings.weight', 'bert.embeddings.position_embeddings.weight']
    >>> query = next(n for n in names["encoder"] if n.key.endswith("0.attention.self.query.weight"))
    >>> tuple(query.variable.shape), query.torch_shape()
    ((8, 2, 4), (8, 8))
    >>> [n.key for n in names["sbo_head"]][:2]
    ['cls.pair_target_predictions.position_embeddings.weight', 'cls.pair_target_predictions.mlp_layer_norm.linear1.weight']
    """
    encoder = encoder_names(model.backbone)
    return {
        "encoder": [n for n in encoder if not n.key.startswith(POOLER_PREFIX)],
        "pooler": [n for n in encoder if n.key.startswith(POOLER_PREFIX)],
        "mlm_head": _with_bias_shapes(mlm_head_names(model.mlm_head)),
        "sbo_head": _with_bias_shapes(sbo_head_names(model.sbo_head)),
    }


_LAYER_NORM_LEGACY = {"gamma": "weight", "beta": "bias"}


def canonical_state(tensors, source):
    """A state dict renamed to the canonical names.

    Strips a wrapper prefix (fairseq's `decoder.`, a bare `BertModel`'s
    missing `bert.`, ...) found from the word-embedding key, and renames legacy
    LayerNorm `gamma`/`beta` to `weight`/`bias`.

    Args:
        tensors: dict name -> array.
        source: the file, for errors.

    Returns:
        (dict canonical name -> array, list of the keys outside the model
        that were left out).

    Raises:
        ValueError: the state dict holds no BERT encoder (e.g. GPT-2 keys).

    Example:

    >>> import numpy as np
    >>> state, skipped = canonical_state(
    ...     {"decoder.bert.embeddings.word_embeddings.weight": np.zeros((5, 2)),
    ...      "decoder.bert.embeddings.LayerNorm.gamma": np.ones(2),
    ...      "decoder.cls.predictions.bias": np.zeros(5), "step": np.zeros(())}, "x.pt")
    >>> sorted(state), skipped
    (['bert.embeddings.LayerNorm.weight', 'bert.embeddings.word_embeddings.weight', 'cls.predictions.bias'], ['step'])
    """
    anchor = "embeddings.word_embeddings.weight"
    found = sorted(k for k in tensors if k == anchor or k.endswith("." + anchor))
    if not found:
        sample = ", ".join(sorted(tensors)[:6]) or "none"
        raise ValueError(
            f"{source} does not hold a BERT encoder: no `{ENCODER_PREFIX}{anchor}` "
            f"(or any key ending in `{anchor}`). Its keys start with: {sample}."
        )
    encoder_prefix = found[0][: -len(anchor)]  # "decoder.bert.", "bert.", ""
    root = encoder_prefix[: -len(ENCODER_PREFIX)] if encoder_prefix.endswith(ENCODER_PREFIX) else None
    state, skipped = {}, []
    for key, value in tensors.items():
        inner = key[len(encoder_prefix):] if key.startswith(encoder_prefix) else ""
        if inner.startswith(("embeddings.", "encoder.", "pooler.")):
            name = ENCODER_PREFIX + inner
        elif root is not None and key.startswith(root + "cls."):
            name = key[len(root):]
        else:
            skipped.append(key)
            continue
        parts = name.split(".")
        parts[-1] = _LAYER_NORM_LEGACY.get(parts[-1], parts[-1])
        state[".".join(parts)] = value
    return state, sorted(skipped)


def task_head_state(tensors):
    """{name: array} of the task-head tensors of a fine-tuned checkpoint (`qa_outputs.*`, ...).

    Example:

    >>> import numpy as np
    >>> sorted(task_head_state({"bert.pooler.dense.bias": np.zeros(2),
    ...                         "qa_outputs.weight": np.zeros((2, 2))}))
    ['qa_outputs.weight']
    """
    return {k: v for k, v in tensors.items() if k.startswith(TASK_HEAD_PREFIXES)}


def layer_count(state):
    """The number of `bert.encoder.layer.N.` blocks in a canonical state dict."""
    indices = {int(m.group(1)) for k in state
               for m in [re.match(r"bert\.encoder\.layer\.(\d+)\.", k)] if m}
    return max(indices) + 1 if indices else 0


def activation_name(activation):
    """Our name of an encoder's activation function (`"gelu"`, `"gelu_approximate"`, ...)."""
    approximate = keras.saving.get_registered_object("keras_hub>gelu_approximate")
    if activation is approximate:
        return APPROXIMATE_GELU_NAME
    name = keras.activations.serialize(activation)
    return name if isinstance(name, str) else str(name)


def keras_activation(hf_name, source):
    """Our activation for PyTorch BERT's `hidden_act`; a clear error for others."""
    if hf_name not in HF_ACTIVATIONS:
        raise ValueError(
            f"{source}: hidden_act={hf_name!r} is not supported; known: "
            f"{sorted(HF_ACTIVATIONS)}."
        )
    return HF_ACTIVATIONS[hf_name]


def hf_activation(name):
    """PyTorch BERT's `hidden_act` for one of our activations."""
    for hf_name, ours in HF_ACTIVATIONS.items():
        if ours == name:
            return hf_name
    raise ValueError(
        f"The encoder's activation {name!r} has no PyTorch BERT name; known: "
        f"{sorted(set(HF_ACTIVATIONS.values()))}."
    )
