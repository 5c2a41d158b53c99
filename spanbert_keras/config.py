"""Configuration of pre-training and of fine-tuning: dataclasses with the paper's defaults.

A `PretrainConfig` has four sections (`model`, `masking`, `data`,
`training`): `load_config` reads a YAML file, `apply_overrides` sets
`section.field=value` pairs from the command line. A `FinetuneConfig` holds
what every fine-tuning run sets, flat (`learning_rate`, or pre-training's
`training.learning_rate`), with a task's own options under `options`:
`finetune_overrides` sets `key=value` pairs; a task's defaults are applied by
`spanbert_keras.tasks.base.finetune_config`. Both read YAML with the same
loader and coerce values with the same rules (`check_fields`: numbers in any
usual notation, unknown keys and values of the wrong type refused with an
error that names them).
"""

import dataclasses
import os
import types
import typing
import warnings

import yaml

from spanbert_keras.files import parse_yaml
from spanbert_keras.files import read_yaml

MODEL_SIZES = {
    # name: (num_layers, hidden_dim, num_heads, intermediate_dim)
    "tiny": (2, 128, 2, 512),
    "small": (4, 512, 8, 2048),
    "base": (12, 768, 12, 3072),
    "large": (24, 1024, 16, 4096),
}
MODEL_PRESETS = MODEL_SIZES  # the deprecated name (goes in the next release)


@dataclasses.dataclass
class ModelConfig:
    """Encoder size and SBO head. `vocabulary_size` comes from the vocabulary.

    `activation` is the encoder's feed-forward activation (`"gelu"`: BERT's
    exact erf GeLU; `"gelu_approximate"`: keras-hub's tanh form; any Keras
    activation name); `layer_norm_epsilon` is BERT's 1e-12, the only value
    keras-hub's BERT encoder supports. Both describe imported checkpoints.
    """

    size: str = "base"
    num_layers: int = 12
    hidden_dim: int = 768
    num_heads: int = 12
    intermediate_dim: int = 3072
    max_sequence_length: int = 512
    dropout: float = 0.1
    max_pair_targets: int = 15
    position_embedding_dim: int = 200
    activation: str = "gelu"
    layer_norm_epsilon: float = 1e-12

    @classmethod
    def from_size(cls, name, **overrides):
        """The config of a named size (`MODEL_SIZES`), with `overrides`.

        >>> ModelConfig.from_size("tiny", dropout=0.0).hidden_dim
        128
        """
        if name not in MODEL_SIZES:
            raise ValueError(
                f"Unknown model size {name!r}; choose one of {sorted(MODEL_SIZES)}."
            )
        layers, hidden, heads, ffn = MODEL_SIZES[name]
        values = dict(
            size=name,
            num_layers=layers,
            hidden_dim=hidden,
            num_heads=heads,
            intermediate_dim=ffn,
        )
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_preset(cls, name, **overrides):
        """Deprecated name of `from_size` ("preset" now means a shipped model); warns."""
        warnings.warn("ModelConfig.from_preset is renamed from_size; the old name goes in the "
                      "next release.", DeprecationWarning, stacklevel=2)
        return cls.from_size(name, **overrides)


@dataclasses.dataclass
class MaskingConfig:
    """Span masking: SpanBERT's whole-word geometric spans and their replacement.

    `random_token_distribution` says where the random replacement tokens
    come from: "unigram" (the authors' choice) draws them with the corpus'
    own token frequencies, counted once per run
    (`spanbert_keras.data.vocabulary.corpus_token_counts`); "uniform" draws
    them uniformly over the vocabulary's maskable ids (its pieces and [UNK]).
    The other fields are `SpanMasker`'s arguments of the same names.
    """

    scheme: str = "span"
    mask_rate: float = 0.15
    geometric_p: float = 0.2
    max_span_words: int = 10
    mask_token_rate: float = 0.8
    random_token_rate: float = 0.1
    max_predictions: int | None = None
    random_token_distribution: str = "unigram"

    def __post_init__(self):
        if self.random_token_distribution not in ("unigram", "uniform"):
            raise ValueError(
                "`random_token_distribution` must be 'unigram' or 'uniform'. "
                f"Received: random_token_distribution={self.random_token_distribution!r}"
            )


@dataclasses.dataclass
class DataConfig:
    """Corpus, vocabulary and batching."""

    corpus: list = dataclasses.field(default_factory=list)
    vocabulary: str | None = None
    vocabulary_size: int = 8000
    sequence_length: int = 512
    batch_size: int = 256
    validation_fraction: float = 0.02
    shuffle_buffer: int = 1000
    seed: int = 0


@dataclasses.dataclass
class TrainingConfig:
    """Optimiser and schedule; the defaults are the authors' pre-training command.

    `weight_decay` 0.01 is their command's value (`--weight-decay 0.01`);
    the paper's text says 0.1 (see docs/departures.md).

    `decay_norms_and_biases`: the authors' pre-training decays every
    parameter (True); fine-tuning excludes LayerNorm parameters and biases
    (False). `clip_mode`: `"mean_loss"` clips the gradient of the mean loss
    at `clip_norm`; `"authors"` reproduces the authors' trainer, whose
    clipped gradient is further divided by the targets of each GPU (see
    `SpanBertPretrainer`).
    """

    steps: int = 2_400_000
    steps_per_epoch: int = 1000
    learning_rate: float = 1e-4
    warmup_steps: int = 10_000
    weight_decay: float = 0.01
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    clip_norm: float = 1.0
    clip_mode: str = "mean_loss"
    decay_norms_and_biases: bool = True
    sbo_weight: float = 1.0
    dtype_policy: str = "float32"
    jit_compile: bool | str = "auto"
    eval_steps: int = 20
    text_summary_every: int = 200


@dataclasses.dataclass
class PretrainConfig:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    masking: MaskingConfig = dataclasses.field(default_factory=MaskingConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)

    def to_dict(self):
        return dataclasses.asdict(self)

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(self.to_dict(), f, sort_keys=False)
        return path

    @classmethod
    def from_dict(cls, values, source="config"):
        values = _renamed(values)
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"Unknown section(s) {sorted(unknown)} in {source}.")
        model_values = dict(values.get("model") or {})
        size = model_values.pop("size", None)
        sections = {}
        for field in dataclasses.fields(cls):
            section_cls = field.type
            given = dict(values.get(field.name) or {})
            if field.name == "model":
                given = model_values
            check_fields(section_cls, given, f"{source} [{field.name}]")
            if field.name == "model" and size is not None:
                sections["model"] = ModelConfig.from_size(size, **given)
            else:
                sections[field.name] = section_cls(**given)
        return cls(**sections)


# Keys of earlier releases and their names now (run directories keep their
# config.yaml, so old names must still load).
RENAMED_KEYS = {
    ("data", "max_seq_length"): "sequence_length",
    ("data", "vocab_size"): "vocabulary_size",
    # "preset" is a shipped model (`from_preset("austen-tiny")`); a model's size is its size.
    ("model", "preset"): "size",
}
# Keys that moved to another section: the SBO position table's rows are the
# model's (the masker reads them from there).
MOVED_KEYS = {("masking", "max_pair_targets"): "model"}


def _renamed(values):
    """A copy of a config mapping with earlier key names replaced by today's."""
    values = {section: (dict(keys) if isinstance(keys, dict) else keys)
              for section, keys in dict(values or {}).items()}
    for (section, old), new in RENAMED_KEYS.items():
        keys = values.get(section)
        if isinstance(keys, dict) and old in keys:
            if new in keys:
                raise ValueError(f"[{section}] sets both {old!r} and its new name {new!r}.")
            keys[new] = keys.pop(old)
    for (section, key), target in MOVED_KEYS.items():
        keys = values.get(section)
        if isinstance(keys, dict) and key in keys:
            value = keys.pop(key)
            destination = values.setdefault(target, {}) or {}
            values[target] = destination
            if key in destination and destination[key] != value:
                raise ValueError(
                    f"[{section}] {key}={value!r} disagrees with [{target}] "
                    f"{key}={destination[key]!r}; it is set in [{target}] only now."
                )
            destination[key] = value
    return values


# The dtype policies training supports: float32, and Keras' mixed precision
# (float16 or bfloat16 compute, float32 variables). A policy of one dtype
# throughout (float16, bfloat16, float64) fails in the losses, which are float32.
DTYPE_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
# `model.compile(jit_compile=...)`: XLA always, never, or where Keras chooses.
JIT_COMPILE_VALUES = (True, False, "auto")
# The values a field of this name may take, in every config dataclass
# (`PretrainConfig`'s [training] and `FinetuneConfig` alike).
FIELD_CHOICES = {"dtype_policy": DTYPE_POLICIES, "jit_compile": JIT_COMPILE_VALUES}


def check_fields(section_cls, given, where):
    """Refuses keys `section_cls` lacks and coerces `given`'s values to its field types, in place.

    A field typed as a union (`int | None`, `bool | str`) takes a value of
    any of its types; a field named in `FIELD_CHOICES` only the values
    listed there.

    Example:

    >>> check_fields(TrainingConfig, {"jit_compile": "maybe"}, "config.yaml [training]")
    Traceback (most recent call last):
    ...
    ValueError: config.yaml [training] jit_compile must be one of true, false, 'auto' (default 'auto'). Received: 'maybe'
    """
    fields = {f.name: f for f in dataclasses.fields(section_cls)}
    for key, value in given.items():
        if key not in fields:
            raise ValueError(
                f"Unknown key {key!r} in {where}; known keys: {sorted(fields)}."
            )
        field = fields[key]
        default = field.default if field.default is not dataclasses.MISSING else None
        choices = FIELD_CHOICES.get(key)
        if choices is not None:
            if not any(type(value) is type(choice) and value == choice for choice in choices):
                raise ValueError(
                    f"{where} {key} must be one of {', '.join(map(_yaml_value, choices))} "
                    f"(default {_yaml_value(default)}). Received: {_yaml_value(value)}"
                )
            continue
        given[key] = _coerce(value, field.type, default, f"{where} {key}")


def _yaml_value(value):
    """A value as a config writes it: true / false, null, a string quoted."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _coerce(value, kind, default, where):
    """`value` as a value of the type `kind` (a class, or a union of classes), or ValueError."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return _coerce_union(value, typing.get_args(kind), default, where)
    kind = kind if isinstance(kind, type) else None
    if value is None or kind is None or kind is list:
        if kind is list and isinstance(value, str):
            return [value]
        return value
    if kind is bool and not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false. Received: {value!r}")
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # a label or a name YAML read as a number (`positive_label=1`)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind):
        raise ValueError(
            f"{where} must be of type {kind.__name__} (default {default!r}). "
            f"Received: {value!r}"
        )
    return value


def _coerce_union(value, kinds, default, where):
    """`value` as the first of `kinds` that takes it (`int | None`: an int, or None)."""
    if value is None and type(None) in kinds:
        return None
    members = [k for k in kinds if k is not type(None)]
    if not all(isinstance(k, type) for k in members):
        return value  # a member this check does not know (a generic alias): as given
    if type(value) in members:  # `str | int`: a column's index stays an int
        return value
    for kind in members:
        try:
            return _coerce(value, kind, default, where)
        except ValueError:
            continue
    names = ["bool" if k is bool else k.__name__ for k in members]
    names += ["null"] if type(None) in kinds else []
    raise ValueError(
        f"{where} must be of type {' or '.join(names)} (default {default!r}). "
        f"Received: {value!r}"
    )


def read_yaml_mapping(path, what):
    """The mapping a YAML config file holds (None for an empty file).

    Args:
        path: the file.
        what: str, what the mapping holds, for the error ("sections", ...).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config file not found: {path}")
    values = read_yaml(path)
    if values is not None and not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of {what}.")
    return values


def load_config(path):
    """Reads a YAML pre-training config (see `pipelines/configs/`)."""
    return PretrainConfig.from_dict(read_yaml_mapping(path, "sections"), source=path)


def apply_overrides(config, overrides):
    """Returns a new config with `section.key=value` strings applied.

    Values are parsed as YAML scalars (`training.steps=100`,
    `data.corpus=[a.txt, b.txt]`).
    """
    values = config.to_dict()
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ValueError(
                f"Override {item!r} must look like section.key=value "
                "(e.g. training.steps=100)."
            )
        dotted, raw = item.split("=", 1)
        section, key = dotted.split(".", 1)
        key = RENAMED_KEYS.get((section, key), key)
        section = MOVED_KEYS.get((section, key), section)
        if section not in values:
            raise ValueError(
                f"Unknown section {section!r} in override {item!r}; "
                f"known sections: {sorted(values)}."
            )
        if key not in values[section]:
            raise ValueError(
                f"Unknown key {key!r} in override {item!r}; "
                f"known keys of [{section}]: {sorted(values[section])}."
            )
        values[section][key] = parse_yaml(raw, f"override {item!r}")
    return PretrainConfig.from_dict(values, source="overrides")


@dataclasses.dataclass
class FinetuneConfig:
    """What every fine-tuning run sets; the defaults are the authors' fine-tuning recipe.

    Adam with decoupled weight decay 0.01 excluding biases and LayerNorm
    parameters, linear warm-up over `warmup_fraction` of the steps then
    linear decay, lr 2e-5, batch 32. A task's own options (window stride,
    label column, entity markers, ...) are in its `options` dict, checked by
    the task's `options_class`.

    The dev set is predicted and scored `eval_per_epoch` times per epoch
    (each time after an equal share of the epoch's steps) and the weights of
    the best evaluation by the task's metric are the ones the run ends with,
    as the authors ran it (MRQA: 5 an epoch); 0 scores the dev set only once,
    at the end, and keeps the last weights.
    """

    sequence_length: int = 128
    batch_size: int = 32
    epochs: int = 4
    learning_rate: float = 2e-5
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    decay_norms_and_biases: bool = False
    clip_norm: float = 1.0
    dropout: float = 0.1
    dtype_policy: str = "float32"
    jit_compile: bool | str = "auto"
    seed: int = 0
    steps_per_epoch: int | None = None
    eval_per_epoch: int = 1
    options: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for name in ("sequence_length", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive. Received: {name}={getattr(self, name)!r}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(
                "steps_per_epoch must be positive (or null: one pass over the training data). "
                f"Received: steps_per_epoch={self.steps_per_epoch!r}"
            )
        if isinstance(self.eval_per_epoch, bool) or self.eval_per_epoch < 0:
            raise ValueError(
                "eval_per_epoch must be 0 (the dev set scored once, at the end) or positive. "
                f"Received: eval_per_epoch={self.eval_per_epoch!r}"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive. Received: {self.learning_rate!r}")
        for name in ("warmup_fraction", "dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1). Received: {name}={getattr(self, name)!r}")

    def to_dict(self):
        return dataclasses.asdict(self)


# Pre-training's section of the same settings: `training.learning_rate` (a `--set` key, or a
# `training:` mapping in YAML) is fine-tuning's `learning_rate`, so either spelling works for both.
TRAINING_SECTION = "training"


def merged_training_section(values, source="config"):
    """A copy of `values` with a `training:` mapping's keys moved to the top level.

    Example:

    >>> merged_training_section({"training": {"learning_rate": 1e-3}, "epochs": 2})
    {'epochs': 2, 'learning_rate': 0.001}
    """
    values = dict(values or {})
    section = values.pop(TRAINING_SECTION, None)
    if section is None:
        return values
    if not isinstance(section, dict):
        raise ValueError(f"{source}: `{TRAINING_SECTION}` must be a mapping of settings. "
                         f"Received: {section!r}")
    for key, value in section.items():
        if key in values:
            raise ValueError(f"{source}: {key!r} is given twice, at the top level and under "
                             f"`{TRAINING_SECTION}`.")
        values[key] = value
    return values


def finetune_overrides(values, overrides):
    """A copy of the dict `values` with `KEY=VALUE` strings applied (`options.NAME=VALUE`).

    Values are parsed as YAML (`1e-3` is a number, see `files.parse_yaml`);
    unknown keys are refused. The task's defaults are applied later, by
    `finetune_config`, so that they can follow the options given here.

    Example:

    >>> finetune_overrides({"epochs": 3}, ["learning_rate=1e-4", "options.doc_stride=64"])
    {'epochs': 3, 'options': {'doc_stride': 64}, 'learning_rate': 0.0001}
    """
    values = merged_training_section(values)  # a file's `training:` keys, which `--set` overrides
    values["options"] = dict(values.get("options") or {})
    settings = {f.name for f in dataclasses.fields(FinetuneConfig)} - {"options"}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"Override {item!r} must look like KEY=VALUE (e.g. epochs=2).")
        value = parse_yaml(raw, f"override {item!r}")
        name = key.removeprefix(TRAINING_SECTION + ".")  # pre-training's spelling, the same setting
        if key.startswith("options."):
            values["options"][key[len("options."):]] = value
        elif name in settings:
            values[name] = value
        else:
            raise ValueError(
                f"Unknown key {key!r} in override {item!r}; known keys: "
                f"{sorted(settings)} (or training.KEY) and options.NAME."
            )
    if not values["options"]:
        del values["options"]
    return values
