"""The SpanBERT encoder: keras-hub's `BertBackbone` with BERT's exact GeLU."""

import keras
import keras_hub

from spanbert_keras import preset_loading
from spanbert_keras.compat import feedforward_intermediate_dense
from spanbert_keras.models.serialization import deserialize_nested

# keras-hub's own tanh approximation, registered as "keras_hub>gelu_approximate".
APPROXIMATE_GELU = "gelu_approximate"


def _get_activation(activation):
    if activation == APPROXIMATE_GELU:
        return keras.saving.get_registered_object("keras_hub>gelu_approximate")
    try:
        return keras.activations.get(activation)
    except (TypeError, ValueError):
        raise ValueError(
            "`activation` must be a Keras activation (`\"gelu\"`, "
            f"`\"{APPROXIMATE_GELU}\"`, a callable, ...). "
            f"Received: activation={activation!r}"
        ) from None


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBertBackbone(keras_hub.models.BertBackbone):
    """A BERT encoder whose feed-forward activation is BERT's exact (erf) GeLU.

    keras-hub's `BertBackbone` hard-codes the tanh approximation of GeLU in
    every `TransformerEncoder`; BERT's PyTorch code, SpanBERT and their
    released checkpoints use the exact form `0.5 x (1 + erf(x / sqrt 2))`
    (keras-hub's own BERT presets come from Google's TensorFlow checkpoints,
    which used the approximation). This class builds keras-hub's model and
    gives its transformer layers `activation`; everything else is
    `BertBackbone`: the same layers, layer names
    (`token_embedding`, `position_embedding`, `segment_embedding`,
    `embeddings_layer_norm`, `transformer_layer_N`, `pooled_dense`), weights,
    inputs and outputs, so keras-hub's weight files, presets and Hugging Face
    converter apply to it, and `isinstance(x, keras_hub.models.BertBackbone)`
    holds.

    Inputs: a dict of int32 `[batch, length]` tensors `token_ids`,
    `segment_ids`, `padding_mask` (1 on real tokens). Outputs: a dict with
    `sequence_output` `[batch, length, hidden_dim]` and `pooled_output`
    `[batch, hidden_dim]`, in the compute dtype.

    Args:
        vocabulary_size: int, the number of wordpieces.
        num_layers: int, transformer layers.
        num_heads: int, attention heads; must divide `hidden_dim`.
        hidden_dim: int, width of the encoder.
        intermediate_dim: int, width of the feed-forward layers.
        dropout: float in [0, 1).
        max_sequence_length: int, rows of the position table.
        num_segments: int, rows of the segment table.
        activation: the feed-forward activation. `"gelu"` (default) is the
            exact GeLU of BERT, SpanBERT and Hugging Face BERT checkpoints;
            `"gelu_approximate"` is keras-hub's tanh approximation (its
            `BertBackbone`, its BERT presets).
        dtype: dtype policy (`"float32"`, `"mixed_bfloat16"`, ...).
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.models.span_bert_backbone import SpanBertBackbone
    >>> encoder = SpanBertBackbone(vocabulary_size=30, num_layers=1,
    ...                            num_heads=2, hidden_dim=8,
    ...                            intermediate_dim=16, max_sequence_length=12)
    >>> encoder.activation.__name__
    'gelu'
    >>> outputs = encoder({"token_ids": np.ones((2, 5), "int32"),
    ...                    "segment_ids": np.zeros((2, 5), "int32"),
    ...                    "padding_mask": np.ones((2, 5), "int32")})
    >>> tuple(outputs["sequence_output"].shape), tuple(outputs["pooled_output"].shape)
    ((2, 5, 8), (2, 8))

    References:
        Hendrycks and Gimpel, "Gaussian Error Linear Units (GELUs)", 2016;
        Devlin et al., "BERT", NAACL 2019; Joshi et al., "SpanBERT", TACL 2020.
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        max_sequence_length=512,
        num_segments=2,
        activation="gelu",
        dtype=None,
        **kwargs,
    ):
        # A functional model is built by its constructor: check first.
        for name, value in (
            ("vocabulary_size", vocabulary_size),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("hidden_dim", hidden_dim),
            ("intermediate_dim", intermediate_dim),
            ("max_sequence_length", max_sequence_length),
            ("num_segments", num_segments),
        ):
            _check_positive_int(name, value)
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` must be divisible by `num_heads`. Received: "
                f"hidden_dim={hidden_dim}, num_heads={num_heads}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
        activation_fn = _get_activation(activation)
        super().__init__(
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            dropout=dropout,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
            dtype=dtype,
            **kwargs,
        )
        # keras-hub gave every TransformerEncoder (and so its feed-forward
        # Dense, built above) the tanh approximation; the functional graph
        # calls these layers again at run time, so replacing the activation
        # here changes what the model computes and nothing else.
        self.activation = activation_fn
        for layer in self.transformer_layers:
            layer.activation = activation_fn
            feedforward_intermediate_dense(layer).activation = activation_fn

    def get_config(self):
        config = super().get_config()
        config["activation"] = keras.activations.serialize(self.activation)
        return config

    @classmethod
    def from_config(cls, config):
        # A `.keras` file stores the activation serialised (e.g. a dict for
        # keras-hub's registered approximation); resolve it before __init__.
        return super().from_config(deserialize_nested(config, keys=("activation",)))

    @classmethod
    def from_bert_backbone(cls, backbone, activation="gelu"):
        """A `SpanBertBackbone` with the sizes and weights of a `BertBackbone`.

        Args:
            backbone: a `keras_hub.models.BertBackbone` (e.g. loaded from a
                keras-hub preset, a Hugging Face checkpoint or an older
                `.keras` file).
            activation: the new encoder's activation (see the class).

        Returns:
            A new `SpanBertBackbone` with a copy of every weight, matched by
            variable path; same name and dtype policy.
        """
        if not isinstance(backbone, keras_hub.models.BertBackbone):
            raise ValueError(
                "`backbone` must be a keras_hub.models.BertBackbone. "
                f"Received: backbone={backbone!r}"
            )
        config = backbone.get_config()
        config["activation"] = activation
        new = cls.from_config(config)
        sources = {v.path: v for v in backbone.weights}
        targets = {v.path: v for v in new.weights}
        if sorted(sources) != sorted(targets):
            raise ValueError(
                "The backbone's variables do not match a SpanBertBackbone's: "
                f"{sorted(set(sources) ^ set(targets))}"
            )
        for path, variable in targets.items():
            variable.assign(sources[path])
        return new

    @classmethod
    def from_preset(cls, preset, load_weights=True, activation="gelu", **kwargs):
        """The encoder of a preset: ours by name or folder, or any BERT preset keras-hub reads.

        `preset` is one of:

        - a built-in preset's name (`"austen-tiny"`), a `spanbert-keras`
          run directory (pre-training or fine-tuning), a `.keras` file, or a
          released checkpoint folder (Hugging Face, the authors' `model.pt`,
          a keras-hub preset): read by the resolver fine-tuning's `--init`
          uses (`spanbert_keras.checkpoints.load_encoder`; `import
          spanbert_keras` registers it);
        - anything else `keras_hub.models.BertBackbone.from_preset` accepts
          (a keras-hub preset name, `hf://...`): loaded by keras-hub, then
          copied into a `SpanBertBackbone` with `activation`.

        Args:
            preset: the preset name, handle, directory or file.
            load_weights: bool, load the weights (else random ones).
            activation: for a keras-hub `BertBackbone` preset: see the
                class; `"gelu"` for SpanBERT and Hugging Face BERT
                checkpoints, `"gelu_approximate"` for keras-hub's BERT
                presets. Our presets keep their own.
            **kwargs: `dtype` (a dtype policy); for keras-hub's presets,
                any `BertBackbone.from_preset` argument.

        Example:

        >>> import spanbert_keras
        >>> from spanbert_keras.models.span_bert_backbone import SpanBertBackbone
        >>> backbone = SpanBertBackbone.from_preset("austen-tiny")
        >>> backbone.hidden_dim, backbone.num_layers
        (128, 2)
        """
        found = preset_loading.load("encoder", preset)
        if found is None:
            backbone = keras_hub.models.BertBackbone.from_preset(
                preset, load_weights=load_weights, **kwargs
            )
            wanted = _get_activation(activation)
            if isinstance(backbone, cls) and backbone.activation is wanted:
                return backbone
            return cls.from_bert_backbone(backbone, activation=activation)
        backbone = found[0]
        if not isinstance(backbone, cls):
            backbone = cls.from_bert_backbone(backbone, activation=activation)
        unknown = sorted(set(kwargs) - {"dtype"})
        if unknown:
            raise ValueError(f"Unknown argument(s) {unknown} for a spanbert-keras preset.")
        if kwargs.get("dtype") is None and load_weights:
            return backbone
        config = backbone.get_config()
        if kwargs.get("dtype") is not None:
            config["dtype"] = kwargs["dtype"]
        copy = cls.from_config(config)
        if load_weights:
            copy.set_weights(backbone.get_weights())
        return copy


def backbone_dtype_policy(backbone, dtype=None):
    """The dtype policy of a model around `backbone`: its own, or `dtype` if it is the same.

    Raises:
        ValueError: `dtype` names another policy than the backbone's.
    """
    if dtype is None:
        return backbone.dtype_policy
    if keras.dtype_policies.get(dtype).name != backbone.dtype_policy.name:
        raise ValueError(
            f"dtype={keras.dtype_policies.get(dtype).name!r} does not match the "
            f"backbone's dtype policy {backbone.dtype_policy.name!r}; build the "
            "backbone with the same dtype."
        )
    return dtype
