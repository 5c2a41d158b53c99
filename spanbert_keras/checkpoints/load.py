"""`load_pretrained`: a `SpanBertPretrainer` from any released or exported checkpoint."""

import dataclasses
import os

import numpy as np

from spanbert_keras.checkpoints.fairseq import read_fairseq
from spanbert_keras.checkpoints.huggingface import WEIGHT_FILES
from spanbert_keras.checkpoints.huggingface import read_huggingface
from spanbert_keras.checkpoints.keras_hub import is_keras_hub_preset
from spanbert_keras.checkpoints.keras_hub import read_keras_hub_preset
from spanbert_keras.checkpoints.names import BUFFERS
from spanbert_keras.checkpoints.names import NSP_PREFIX
from spanbert_keras.checkpoints.names import PARTS
from spanbert_keras.checkpoints.names import TIED
from spanbert_keras.checkpoints.names import pretrainer_names
from spanbert_keras.config import DataConfig
from spanbert_keras.config import MaskingConfig
from spanbert_keras.config import PretrainConfig
from spanbert_keras.config import TrainingConfig
from spanbert_keras.resources.presets import resolve_preset

PART_NAMES = {"encoder": "encoder", "pooler": "pooler", "mlm_head": "MLM head",
              "sbo_head": "SBO head"}


@dataclasses.dataclass
class ImportReport:
    """What `load_pretrained` read, and which parts of the model came from the file.

    Attributes:
        source: the file the weights came from; `layout`: its kind.
        from_file: the parts (`"encoder"`, `"pooler"`, `"mlm_head"`,
            `"sbo_head"`) loaded from the file.
        fresh: the parts the file lacks, initialised fresh.
        cast: the dtypes of the file's tensors that were cast to the model's
            variables (e.g. `["float16"]`).
        ignored: keys of the file that are no part of the model (an NSP head,
            index buffers, a trainer's bookkeeping).
        lowercase: whether the checkpoint's tokenizer lower-cases;
            `lowercase_from`: a tokenizer config or the vocabulary.
        vocabulary: the `Vocabulary`; `config`: a `PretrainConfig` describing
            the model (for a run directory).
        trainer_state: what a training checkpoint held besides the model
            and did not import (optimizer state, meters, ...).
    """

    source: str
    layout: str
    from_file: list
    fresh: list
    cast: list
    ignored: list
    lowercase: bool
    lowercase_from: str
    vocabulary: object
    config: object
    trainer_state: list = dataclasses.field(default_factory=list)

    def describe(self):
        """One line: what was loaded from where, what is fresh, what was cast."""
        line = (f"Loaded {self.source} ({self.layout}): "
                f"{', '.join(PART_NAMES[p] for p in self.from_file)} from the file")
        if self.fresh:
            line += (f"; {', '.join(PART_NAMES[p] for p in self.fresh)} initialised fresh "
                     "(not in the file)")
        if self.cast:
            line += f"; {'/'.join(self.cast)} tensors cast to float32"
        if self.ignored:
            line += f"; {len(self.ignored)} other tensor(s) ignored"
        if self.trainer_state:
            line += f"; skipped the trainer's {', '.join(self.trainer_state)}"
        casing = "uncased" if self.lowercase else "cased"
        return line + f"; vocabulary {self.vocabulary.size:,} pieces, {casing} ({self.lowercase_from})."

    def to_dict(self):
        """The JSON-ready summary (without the vocabulary and config objects)."""
        return {
            "source": self.source, "layout": self.layout, "from_file": list(self.from_file),
            "fresh": list(self.fresh), "cast": list(self.cast), "ignored": list(self.ignored),
            "lowercase": self.lowercase, "lowercase_from": self.lowercase_from,
            "trainer_state": list(self.trainer_state),
        }


def read_checkpoint(path, vocabulary=None):
    """Reads any supported layout into a `Checkpoint` (see `load_pretrained`)."""
    path = resolve_preset(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Checkpoint not found: {path}")
    if os.path.isdir(path):
        if is_keras_hub_preset(path):
            return read_keras_hub_preset(path, vocabulary)
        if any(os.path.isfile(os.path.join(path, name)) for name in WEIGHT_FILES):
            return read_huggingface(path, vocabulary)
        pickles = sorted(name for name in os.listdir(path) if name.endswith(".pt"))
        if len(pickles) == 1:
            return read_fairseq(os.path.join(path, pickles[0]), vocabulary)
        raise FileNotFoundError(
            f"{path} holds no checkpoint: expected {' or '.join(WEIGHT_FILES)} with a "
            "config.json (Hugging Face), one fairseq `.pt` file, or a keras-hub preset "
            f"(metadata.json and config.json). Found: {sorted(os.listdir(path))[:10]}."
        )
    if path.endswith((".safetensors", ".bin", ".index.json")):
        return read_huggingface(path, vocabulary)
    if path.endswith(".pt"):
        return read_fairseq(path, vocabulary)
    raise ValueError(
        f"{path}: unknown checkpoint file; expected a directory, a .safetensors, .bin "
        "(Hugging Face) or .pt (fairseq) file."
    )


def _assignments(model, checkpoint):
    """{WeightName: value} for every part in the file; (from_file, fresh, ignored, cast)."""
    state, source = checkpoint.tensors, checkpoint.source
    names = pretrainer_names(model)
    values, from_file, fresh = {}, [], []
    for part in PARTS:
        present = [n for n in names[part] if n.key in state]
        if not present and part != "encoder":
            fresh.append(part)
            continue
        missing = [n.key for n in names[part] if n.key not in state]
        if missing:
            raise ValueError(
                f"{source} holds part of the {PART_NAMES[part]} but lacks {missing[:6]}"
                f"{' ...' if len(missing) > 6 else ''}."
            )
        for name in names[part]:
            values[name.key] = (name, name.to_keras(state[name.key], source))
        from_file.append(part)
    activation = model.backbone.activation.__name__
    heads = [PART_NAMES[p] for p in from_file if p.endswith("_head")]
    if heads and activation != "gelu":
        raise ValueError(
            f"{source}: the {' and '.join(heads)} use exact GeLU here, but the checkpoint's "
            f"activation is {activation!r}."
        )
    for key, target in TIED.items():
        if key in state and target in state and not np.array_equal(state[key], state[target]):
            raise ValueError(
                f"{source}: {key} differs from {target}; only checkpoints whose decoders are "
                "tied to the word embeddings (as BERT's and SpanBERT's) can be loaded."
            )
    ignored = sorted(k for k in state if k.startswith(NSP_PREFIX) or k in BUFFERS)
    unknown = sorted(set(state) - set(values) - set(TIED) - set(ignored))
    if unknown:
        raise ValueError(
            f"{source} holds tensors this BERT model has no place for: {unknown[:6]}"
            f"{' ...' if len(unknown) > 6 else ''} (another architecture?)."
        )
    cast = sorted({str(state[k].dtype) for k in values if state[k].dtype != np.float32})
    return values, from_file, fresh, sorted(ignored + checkpoint.skipped), cast


def load_pretrained(path, vocabulary=None, training_config=None, log=print):
    """A `SpanBertPretrainer` with the weights of a BERT / SpanBERT checkpoint.

    Reads, from a directory or the checkpoint file itself:

    1. the Hugging Face hub copies of SpanBERT (`config.json`, float16
       `pytorch_model.bin`, `vocab.txt`; encoder only, no pooler);
    2. the authors' tarballs of the same (encoder only);
    3. the authors' fairseq training checkpoint `model.pt` with both heads
       (needs a `vocab.txt` beside it, or `vocabulary`);
    4. checkpoints written by `transformers` (`BertModel`, `BertForMaskedLM`,
       `BertForPreTraining`), `.bin` or `.safetensors`, or by
       `save_pretrained`;
    5. keras-hub BERT presets (encoder only);
    6. a built-in preset by name (`"austen-tiny"`, see
       `spanbert_keras.resources.presets`); its `preprocessor` is the one
       it was pre-trained with.

    The model is built from the checkpoint's config (sizes, vocabulary,
    activation, LayerNorm epsilon, position table, SBO table); its encoder
    and, when present, pooler, MLM head and SBO head come from the file, the
    rest is initialised fresh and reported (one line through `log`, and
    `model.import_report`). float16 tensors are cast to the variables'
    dtype. Nothing is assigned unless every tensor fits. `.bin` and `.pt`
    files need PyTorch (`pip install 'spanbert-keras[torch]'`) and are read
    as data (`weights_only`), never as code.

    Args:
        path: a checkpoint directory or file, or a built-in preset's name.
        vocabulary: optional `Vocabulary` / `vocab.txt` path in place of the
            checkpoint's own; its size must equal the embedding rows.
        training_config: optional `TrainingConfig` to compile with (default:
            the published recipe; its `dtype_policy` sets the model's).
        log: callable taking the report line (None: silent).

    Returns:
        A compiled `SpanBertPretrainer` ready for `fit`; `model.backbone` is
        the encoder alone; `model.import_report` an `ImportReport`.

    Example:

    >>> import os, tempfile
    >>> from spanbert_keras.config import ModelConfig
    >>> from spanbert_keras.data.vocabulary import Vocabulary
    >>> from spanbert_keras.training.build import build_pretrainer
    >>> from spanbert_keras.checkpoints import load_pretrained, save_pretrained
    >>> vocabulary = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "The", "cat"])
    >>> model = build_pretrainer(ModelConfig(num_layers=1, hidden_dim=8, num_heads=2,
    ...     intermediate_dim=16, max_sequence_length=12, max_pair_targets=3,
    ...     position_embedding_dim=4), vocabulary.size)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = save_pretrained(model, os.path.join(folder, "hf"), vocabulary)
    ...     loaded = load_pretrained(os.path.join(folder, "hf"), log=None)
    >>> loaded.import_report.from_file, loaded.import_report.lowercase
    (['encoder', 'pooler', 'mlm_head', 'sbo_head'], False)
    """
    model = pretrainer_from_checkpoint(read_checkpoint(path, vocabulary), training_config, log)
    if resolve_preset(path) != os.fspath(path):  # a built-in preset, by name
        model.preprocessor = _preset_preprocessor(path, model.import_report.vocabulary)
    return model


def _preset_preprocessor(name, vocabulary):
    """The preprocessor a built-in preset was pre-trained with (its config and corpus counts)."""
    from spanbert_keras.resources.presets import preset_config
    from spanbert_keras.run_layout import RunDirectory
    from spanbert_keras.training.pretrain import run_preprocessor

    counts = np.loadtxt(RunDirectory(resolve_preset(name)).token_counts, dtype=np.int64)
    return run_preprocessor(preset_config(name), vocabulary, counts)


def pretrainer_from_checkpoint(checkpoint, training_config=None, log=print):
    """`load_pretrained` for a `Checkpoint` already read (see there)."""
    from spanbert_keras.training.build import build_pretrainer

    model_config = checkpoint.model_config()
    training_config = training_config or TrainingConfig()
    try:
        model = build_pretrainer(model_config, checkpoint.vocabulary.size, training_config)
    except ValueError as error:
        raise ValueError(f"{checkpoint.config_source}: {error}") from None
    values, from_file, fresh, ignored, cast = _assignments(model, checkpoint)
    for name, value in values.values():
        name.variable.assign(value)
    config = PretrainConfig(
        model=model_config,
        masking=MaskingConfig(),
        data=DataConfig(vocabulary_size=checkpoint.vocabulary.size,
                        sequence_length=min(512, model_config.max_sequence_length)),
        training=training_config,
    )
    model.import_report = ImportReport(
        source=checkpoint.source, layout=checkpoint.layout, from_file=from_file, fresh=fresh,
        cast=cast, ignored=ignored, lowercase=checkpoint.lowercase,
        lowercase_from=checkpoint.lowercase_from, vocabulary=checkpoint.vocabulary,
        config=config, trainer_state=list(checkpoint.trainer_state),
    )
    if log is not None:
        log(model.import_report.describe())
    return model
