"""Where `from_preset` finds the package's own presets, without importing back up.

Models, the tokenizer and the tasks sit below the checkpoint readers, so
their `from_preset` cannot import them. `spanbert_keras.checkpoints.encoder`
registers its loaders here when it is imported (`import spanbert_keras`
imports it); `load(kind, preset)` asks them. Kinds:

- `"encoder"`: `(backbone, vocabulary)`;
- `"task_model"`: a fine-tuned task model (from a fine-tuning run directory);
- `"pretrainer"`: a `SpanBertPretrainer` with both heads.
"""

KINDS = ("encoder", "task_model", "pretrainer")
_LOADERS = {}


def register(kind, loader):
    """Sets `loader(preset)` for `kind`: what it loads, or None when `preset` is not its kind."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}. Received: {kind!r}")
    _LOADERS[kind] = loader


def load(kind, preset):
    """What the loader of `kind` makes of `preset`, or None (none registered, or not ours)."""
    loader = _LOADERS.get(kind)
    return None if loader is None else loader(preset)


def not_found(preset):
    """The error of a `from_preset` whose `preset` no loader reads."""
    return ValueError(
        f"No spanbert-keras preset, run directory or checkpoint at {preset!r} (built-in "
        "presets: spanbert_keras.resources.presets.preset_names()); `import spanbert_keras` "
        "first if only this module was imported."
    )
