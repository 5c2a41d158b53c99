"""The authors' fairseq training checkpoint (`model.pt`), with both heads.

A pickled dict: the training `args` (an `argparse.Namespace` whose `config`
is the authors' `BertConfig`), the weights under `model` with keys
`decoder.bert.*`, `decoder.cls.predictions.*` and
`decoder.cls.pair_target_predictions.*` (LayerNorm `gamma`/`beta`; no
pooler: SpanBERT was trained without NSP), and what the authors' trainer
saves beside them (`optimizer_history`, `last_optimizer_state`, and
`extra_state` with the iterator position and `fairseq.meters` objects),
which is read as inert data, reported and left out.
The sizes come from `args` (or a `config.json` beside the file), the
vocabulary from the `vocab.txt` beside it or the one given.
"""

import argparse
import os

from spanbert_keras.checkpoint_sizes import CONFIG_FILE
from spanbert_keras.checkpoints.checkpoint import Checkpoint
from spanbert_keras.checkpoints.names import WORD_EMBEDDINGS
from spanbert_keras.checkpoints.names import canonical_state
from spanbert_keras.checkpoints.paths import read_json
from spanbert_keras.checkpoints.torch_pickle import load_torch_file
from spanbert_keras.checkpoints.torch_pickle import torch_state_to_numpy
from spanbert_keras.checkpoints.vocabulary import checkpoint_vocabulary
from spanbert_keras.checkpoints.vocabulary import infer_lowercase


def config_from_args(args):
    """A PyTorch BERT config (dict) from fairseq's training `args`.

    `args.config` (the authors' `BertConfig`, set by the model architecture)
    wins over the command-line values, which are None when not given.

    Example:

    >>> import argparse
    >>> args = argparse.Namespace(hidden_size=None, num_attention_heads=16,
    ...                           config=argparse.Namespace(hidden_size=1024))
    >>> config_from_args(args)
    {'num_attention_heads': 16, 'hidden_size': 1024}
    """
    values = {k: v for k, v in vars(args).items() if v is not None and k != "config"}
    nested = getattr(args, "config", None)
    if nested is not None and hasattr(nested, "__dict__"):
        values.update({k: v for k, v in vars(nested).items() if v is not None})
    return values


def describe_trainer_state(checkpoint):
    """Short descriptions of what a training checkpoint holds besides `args` and `model`.

    Example:

    >>> from collections import OrderedDict
    >>> describe_trainer_state({"args": None, "model": {}, "optimizer_history": [
    ...     {"optimizer_name": "FairseqAdam", "num_updates": 2400000}],
    ...     "last_optimizer_state": {"state": {0: {}, 1: {}}},
    ...     "extra_state": {"train_meters": OrderedDict(loss=object(), wps=object())}})
    ['optimizer state (2 parameters)', 'optimizer history (FairseqAdam, 2,400,000 updates)', '2 training meters']
    """
    parts = []
    optimizer = checkpoint.get("last_optimizer_state")
    if optimizer is not None:
        state = optimizer.get("state", {}) if isinstance(optimizer, dict) else {}
        parts.append(f"optimizer state ({len(state):,} parameters)")
    history = checkpoint.get("optimizer_history")
    if isinstance(history, list) and history and isinstance(history[-1], dict):
        last = history[-1]
        name = last.get("optimizer_name") or last.get("criterion_name") or "optimizer"
        updates = last.get("num_updates")
        count = f", {updates:,} updates" if isinstance(updates, int) else ""
        parts.append(f"optimizer history ({name}{count})")
    extra = checkpoint.get("extra_state")
    if isinstance(extra, dict):
        meters = extra.get("train_meters")
        if isinstance(meters, dict):
            parts.append(f"{len(meters)} training meters")
        others = sorted(str(k) for k in extra if k != "train_meters")
        if others:
            parts.append(f"trainer state ({', '.join(others)})")
    for key in sorted(str(k) for k in checkpoint):
        if key not in ("args", "model", "optimizer_history", "last_optimizer_state",
                       "extra_state"):
            parts.append(key)
    return parts


def read_fairseq(path, vocabulary=None):
    """Reads a fairseq `model.pt` (or a `.pt` holding a plain state dict).

    Args:
        path: the `.pt` file.
        vocabulary: optional vocabulary in place of the `vocab.txt` beside it.

    Returns:
        A `Checkpoint`.
    """
    loaded = load_torch_file(path)
    args, trainer_state = None, []
    if isinstance(loaded, dict) and isinstance(loaded.get("model"), dict):
        state, args = loaded["model"], loaded.get("args")
        trainer_state = describe_trainer_state(loaded)
    elif isinstance(loaded, dict) and loaded:
        state = loaded
    else:
        raise ValueError(
            f"{path} is neither a fairseq checkpoint (a dict with `model` and `args`) "
            "nor a state dict."
        )
    tensors, skipped = canonical_state(torch_state_to_numpy(state, path), path)
    directory = os.path.dirname(path) or "."
    config_path = os.path.join(directory, CONFIG_FILE)
    if os.path.isfile(config_path):
        config = read_json(config_path, CONFIG_FILE)
    elif isinstance(args, argparse.Namespace):
        config, config_path = config_from_args(args), f"the training args in {path}"
    else:
        raise FileNotFoundError(
            f"{path} holds no training args and there is no {CONFIG_FILE} beside it: "
            "the model's sizes (attention heads) cannot be read from the tensors alone."
        )
    vocabulary = checkpoint_vocabulary(
        vocabulary, directory, int(tensors[WORD_EMBEDDINGS].shape[0]), path)
    return Checkpoint(
        source=path, layout="fairseq training checkpoint", config=config,
        config_source=config_path, tensors=tensors, skipped=skipped, vocabulary=vocabulary,
        lowercase=infer_lowercase(vocabulary), lowercase_from="inferred from the vocabulary",
        trainer_state=trainer_state,
    )
