"""PyTorch BERT checkpoints in the Hugging Face layout: read and write.

Reads what the hub copies of SpanBERT, the authors' tarballs and
`transformers` write: a directory (or the weights file itself) holding
`config.json` (or the older `bert_config.json`), `vocab.txt`, perhaps `tokenizer_config.json`, and the weights as
`model.safetensors`, `pytorch_model.bin` (PyTorch, float16 in the hub copies),
or either one sharded with an `*.index.json`. Keys may be `BertModel`'s (no
prefix), `BertForMaskedLM`'s or `BertForPreTraining`'s (`bert.`, `cls.*`),
LayerNorm `weight`/`bias` or `gamma`/`beta`.

Writes `config.json` (`BertForPreTraining`), `vocab.txt`,
`tokenizer_config.json` (`do_lower_case` set from the vocabulary's casing) and
`model.safetensors` in the `BertForPreTraining` key layout, the SBO head under
`cls.pair_target_predictions.*`: `transformers` opens the encoder and MLM head
(`BertForMaskedLM`, `BertForPreTraining`), the authors' code finds the SBO
head, and keras-hub's converter (`BertBackbone.from_preset(DIR)`) finds the
pooler and the tokenizer config it needs.
"""

import json
import os

import numpy as np

from spanbert_keras.checkpoint_sizes import CONFIG_FILE
from spanbert_keras.checkpoint_sizes import SAFETENSORS_FILE
from spanbert_keras.checkpoint_sizes import config_file
from spanbert_keras.checkpoints.checkpoint import Checkpoint
from spanbert_keras.checkpoints.names import WORD_EMBEDDINGS
from spanbert_keras.checkpoints.names import activation_name
from spanbert_keras.checkpoints.names import canonical_state
from spanbert_keras.checkpoints.names import hf_activation
from spanbert_keras.checkpoints.names import pretrainer_names
from spanbert_keras.checkpoints.names import task_head_state
from spanbert_keras.checkpoints.paths import read_json
from spanbert_keras.checkpoints.torch_pickle import load_torch_file
from spanbert_keras.checkpoints.torch_pickle import torch_state_to_numpy
from spanbert_keras.checkpoints.vocabulary import VOCAB_FILE
from spanbert_keras.checkpoints.vocabulary import checkpoint_vocabulary
from spanbert_keras.checkpoints.vocabulary import infer_lowercase
from spanbert_keras.checkpoints.vocabulary import read_lowercase
from spanbert_keras.files import member_path

TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
# The weight files of a directory, in the order they are looked for.
WEIGHT_FILES = (
    SAFETENSORS_FILE,
    SAFETENSORS_FILE + ".index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def _read_weight_file(path):
    if path.endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError, ValueError, TypeError) as error:
            raise ValueError(f"{path} is not a readable safetensors file: {error}") from None
    state = load_torch_file(path)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a training checkpoint that wraps its weights
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict (name -> tensor).")
    return torch_state_to_numpy(state, path)


def read_weights(path):
    """{name: array} of a weights file, or of every shard an `*.index.json` lists."""
    if not path.endswith(".index.json"):
        return _read_weight_file(path)
    weight_map = read_json(path, "weight index").get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ValueError(f"{path} has no `weight_map` of tensor names to shard files.")
    directory = os.path.dirname(path)
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        tensors.update(_read_weight_file(member_path(directory, shard, path)))
    return tensors


def read_huggingface(path, vocabulary=None):
    """Reads a Hugging Face BERT checkpoint (a directory or its weights file).

    Args:
        path: the directory, or `model.safetensors` / `pytorch_model.bin` /
            an `*.index.json` in it.
        vocabulary: optional vocabulary in place of the directory's `vocab.txt`.

    Returns:
        A `Checkpoint`.
    """
    if os.path.isdir(path):
        directory = path
        found = [name for name in WEIGHT_FILES if os.path.isfile(os.path.join(path, name))]
        if not found:
            raise FileNotFoundError(f"No weights in {path}: expected one of {list(WEIGHT_FILES)}.")
        weights = os.path.join(path, found[0])
    else:
        directory, weights = os.path.dirname(path) or ".", path
    config_path = config_file(directory)
    config = read_json(config_path, f"{CONFIG_FILE} beside {weights} (the model's sizes)")
    raw = read_weights(weights)
    tensors, skipped = canonical_state(raw, weights)
    vocabulary = checkpoint_vocabulary(
        vocabulary, directory, int(tensors[WORD_EMBEDDINGS].shape[0]), weights)
    lowercase = read_lowercase(os.path.join(directory, TOKENIZER_CONFIG_FILE), "do_lower_case",
                               weights)
    kind = "safetensors" if ".safetensors" in os.path.basename(weights) else "PyTorch"
    return Checkpoint(
        source=weights, layout=f"Hugging Face {kind}", config=config,
        config_source=config_path, tensors=tensors, skipped=skipped, vocabulary=vocabulary,
        lowercase=infer_lowercase(vocabulary) if lowercase is None else lowercase,
        lowercase_from="inferred from the vocabulary" if lowercase is None else TOKENIZER_CONFIG_FILE,
        task_head=task_head_state(raw),
    )


def encoder_config(backbone):
    """The PyTorch BERT config (a dict) of a keras-hub `BertBackbone`."""
    from spanbert_keras.models.span_bert_backbone import SpanBertBackbone

    activation = "gelu_approximate"  # keras-hub's own BertBackbone
    if isinstance(backbone, SpanBertBackbone):
        activation = activation_name(backbone.activation)
    return {
        "model_type": "bert",
        "vocab_size": int(backbone.vocabulary_size),
        "hidden_size": int(backbone.hidden_dim),
        "num_hidden_layers": int(backbone.num_layers),
        "num_attention_heads": int(backbone.num_heads),
        "intermediate_size": int(backbone.intermediate_dim),
        "hidden_act": hf_activation(activation),
        "hidden_dropout_prob": float(backbone.dropout),
        "attention_probs_dropout_prob": float(backbone.dropout),
        "max_position_embeddings": int(backbone.max_sequence_length),
        "type_vocab_size": int(backbone.num_segments),
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "position_embedding_type": "absolute",
    }


def write_huggingface(model, directory, vocabulary, lowercase):
    """Writes a `SpanBertPretrainer` into `directory` in the Hugging Face layout.

    Only fixed file names are written (`WEIGHT_FILES[0]`, `config.json`,
    `tokenizer_config.json`, `vocab.txt`). Use `save_pretrained`, which
    writes into a staging directory and checks the vocabulary.
    """
    from safetensors.numpy import save_file

    config = {
        "architectures": ["BertForPreTraining"],
        **encoder_config(model.backbone),
        "pad_token_id": int(vocabulary.pad_id),
        "tie_word_embeddings": True,
        # The SBO head, named as in the authors' training arguments.
        "max_pair_targets": int(model.max_pair_targets),
        "pair_positional_embedding_size": int(model.position_embedding_dim),
    }
    tensors = {
        name.key: np.ascontiguousarray(name.to_torch())
        for names in pretrainer_names(model).values() for name in names
    }
    save_file(tensors, os.path.join(directory, SAFETENSORS_FILE), metadata={"format": "pt"})
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": bool(lowercase),
        "strip_accents": None if lowercase else False,
        "model_max_length": int(model.backbone.max_sequence_length),
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }
    for name, values in ((CONFIG_FILE, config), (TOKENIZER_CONFIG_FILE, tokenizer_config)):
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            json.dump(values, f, indent=2)
            f.write("\n")
    vocabulary.save(os.path.join(directory, VOCAB_FILE))
