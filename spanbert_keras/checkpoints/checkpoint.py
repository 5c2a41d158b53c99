"""A checkpoint read into memory: canonical tensors, a BERT config, the vocabulary."""

import dataclasses

from spanbert_keras.checkpoint_sizes import REQUIRED_CONFIG_KEYS
from spanbert_keras.checkpoint_sizes import check_sizes
from spanbert_keras.checkpoints.names import SBO_POSITIONS
from spanbert_keras.checkpoints.names import WORD_EMBEDDINGS
from spanbert_keras.checkpoints.names import keras_activation
from spanbert_keras.checkpoints.names import layer_count
from spanbert_keras.config import MODEL_SIZES
from spanbert_keras.config import ModelConfig


@dataclasses.dataclass
class Checkpoint:
    """What every reader returns.

    Attributes:
        source: the file the tensors came from.
        layout: a short description (`"Hugging Face safetensors"`, ...).
        config: a PyTorch BERT config as a dict (`hidden_size`, ...).
        config_source: where `config` came from, for errors.
        tensors: dict canonical name -> NumPy array (see `names`).
        skipped: keys of the file outside the model (fairseq's bookkeeping...).
        vocabulary: the `Vocabulary` (as many pieces as embedding rows).
        lowercase: bool, whether the tokenizer lower-cases.
        lowercase_from: where `lowercase` came from.
        trainer_state: the parts of a training checkpoint that are not the
            model and are not imported (`"Adam state"`, `"5 meters"`, ...).
        task_head: the task-head tensors of a fine-tuned checkpoint
            (`qa_outputs.*`, `classifier.*`), in PyTorch's layout; they are
            also among `skipped`.
    """

    source: str
    layout: str
    config: dict
    config_source: str
    tensors: dict
    skipped: list
    vocabulary: object
    lowercase: bool
    lowercase_from: str
    trainer_state: list = dataclasses.field(default_factory=list)
    task_head: dict = dataclasses.field(default_factory=dict)

    def _check_sizes_against_tensors(self):
        """Refuses config sizes the tensors contradict, before any variable is created."""
        check_sizes(self.config, self.config_source,
                    {name: tensor.shape for name, tensor in self.tensors.items()}, self.source)

    def model_config(self):
        """The `ModelConfig` of the checkpoint, checked against its tensors.

        Sizes, activation, LayerNorm epsilon and dropout come from the config;
        the vocabulary size, the number of layers and the SBO position table
        (`max_pair_targets` rows of `position_embedding_dim`) are read from
        the tensors and must agree with the config where it states them.

        Example:

        >>> import numpy as np
        >>> from spanbert_keras.checkpoints.checkpoint import Checkpoint
        >>> checkpoint = Checkpoint(
        ...     source="m.bin", layout="test", config_source="config.json",
        ...     config=dict(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        ...                 intermediate_size=16, max_position_embeddings=12),
        ...     tensors={"bert.embeddings.word_embeddings.weight": np.zeros((30, 8)),
        ...              "bert.encoder.layer.0.output.dense.bias": np.zeros(8),
        ...              "cls.pair_target_predictions.position_embeddings.weight": np.zeros((3, 4))},
        ...     skipped=[], vocabulary=None, lowercase=False, lowercase_from="test")
        >>> config = checkpoint.model_config()
        >>> config.num_layers, config.hidden_dim, config.max_pair_targets, config.position_embedding_dim
        (1, 8, 3, 4)
        """
        config, where = self.config, self.config_source
        missing = [k for k in REQUIRED_CONFIG_KEYS if config.get(k) is None]
        if missing:
            raise ValueError(f"{where} lacks {missing}: the encoder cannot be described.")
        model_type = config.get("model_type")
        if model_type not in (None, "bert"):
            raise ValueError(
                f"{where} describes a {model_type!r} model; only BERT encoders (SpanBERT, "
                "BERT) can be imported."
            )
        position_type = config.get("position_embedding_type", "absolute")
        if position_type != "absolute":
            raise ValueError(
                f"{where}: position_embedding_type={position_type!r} is not supported "
                "(only BERT's absolute position table)."
            )
        self._check_sizes_against_tensors()
        rows = int(self.tensors[WORD_EMBEDDINGS].shape[0])
        if config.get("vocab_size") not in (None, rows):
            raise ValueError(
                f"{where} says vocab_size={config['vocab_size']}, but "
                f"{WORD_EMBEDDINGS} in {self.source} has {rows} rows."
            )
        layers = layer_count(self.tensors)
        if layers != int(config["num_hidden_layers"]):
            raise ValueError(
                f"{where} says num_hidden_layers={config['num_hidden_layers']}, but "
                f"{self.source} holds {layers} encoder layers."
            )
        segments = config.get("type_vocab_size", 2)
        if segments != 2:
            raise ValueError(
                f"{where}: type_vocab_size={segments} is not supported (BERT's 2 segment types)."
            )
        sizes = tuple(int(config[k]) for k in (
            "num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size"))
        size = next((name for name, values in MODEL_SIZES.items() if values == sizes), "base")
        values = dict(
            size=size,
            num_layers=sizes[0],
            hidden_dim=sizes[1],
            num_heads=sizes[2],
            intermediate_dim=sizes[3],
            max_sequence_length=int(config["max_position_embeddings"]),
            dropout=float(config.get("hidden_dropout_prob", 0.1)),
            activation=keras_activation(config.get("hidden_act", "gelu"), where),
            layer_norm_epsilon=float(config.get("layer_norm_eps", 1e-12)),
        )
        table = self.tensors.get(SBO_POSITIONS)
        if table is not None:
            values.update(max_pair_targets=int(table.shape[0]),
                          position_embedding_dim=int(table.shape[1]))
        return ModelConfig(**values)
