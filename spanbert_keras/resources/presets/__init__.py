"""Built-in presets: pre-trained models shipped in the package, loadable by name.

Each preset is a folder here holding a Hugging Face checkpoint (`config.json`,
`model.safetensors`, `vocab.txt`, as `save_pretrained` writes it), so every
reader of checkpoints takes it by name as well as by path:
`spanbert_keras.checkpoints.load_pretrained("austen-tiny")`,
`spanbert-keras import austen-tiny --output DIR` and
`spanbert-keras finetune TASK --init austen-tiny ...`. Beside the checkpoint:
`pretrain_config.yaml` (the configuration it was pre-trained with),
`token_counts.txt` (its corpus' token counts), `history.json`,
`evaluation.json` and a `README.md` saying how it was made.

| preset | what |
|---|---|
| `austen-tiny` | the `tiny` SpanBERT (2 layers, hidden 128) pre-trained on the shipped corpus |
"""

import os

PRESETS_DIR = os.path.dirname(os.path.abspath(__file__))
CHECKPOINT_CONFIG = "config.json"
PRETRAIN_CONFIG = "pretrain_config.yaml"


def preset_names():
    """The names of the built-in presets.

    Example:

    >>> from spanbert_keras.resources.presets import preset_names
    >>> "austen-tiny" in preset_names()
    True
    """
    return sorted(
        name for name in os.listdir(PRESETS_DIR)
        if os.path.isfile(os.path.join(PRESETS_DIR, name, CHECKPOINT_CONFIG))
    )


def resolve_preset(path):
    """The folder of the built-in preset `path` names; any other value unchanged.

    A path that exists is never taken for a preset name.

    Example:

    >>> import os
    >>> from spanbert_keras.resources.presets import resolve_preset
    >>> os.path.basename(resolve_preset("austen-tiny"))
    'austen-tiny'
    >>> resolve_preset("runs/my-model")
    'runs/my-model'
    """
    path = os.fspath(path)
    if os.path.exists(path) or path not in preset_names():
        return path
    return os.path.join(PRESETS_DIR, path)


def preset_config(name):
    """The `PretrainConfig` a built-in preset was pre-trained with, its corpus found here.

    Example:

    >>> from spanbert_keras.resources.presets import preset_config
    >>> preset_config("austen-tiny").model.size
    'tiny'
    """
    import dataclasses

    from spanbert_keras.config import load_config
    from spanbert_keras.resources import DEMO_CORPUS

    config = load_config(os.path.join(resolve_preset(name), PRETRAIN_CONFIG))
    shipped = os.path.basename(DEMO_CORPUS)
    corpus = [DEMO_CORPUS if os.path.basename(path) == shipped else path
              for path in config.data.corpus]
    return dataclasses.replace(config, data=dataclasses.replace(config.data, corpus=corpus))
