"""Relation extraction (TACRED): the `tacred` fine-tuning task.

reader `data.tacred.read_tacred` -> features `data.tacred.RelationFeatures`
(PTB brackets converted; entities replaced by markers on `[unusedN]` pieces,
"ner" mode, or wrapped in start / end markers, "text" mode) ->
`SpanBertRelationClassifier` (from the pooled [CLS], cross entropy) ->
`metrics.tacred` (micro P / R / F1 without `no_relation`) -> serving
`export.serving.classification.RelationServing`.

Options (`--set options.KEY=VALUE`): `mode` ("ner", the authors' default,
or "text"), `negative_label` ("no_relation": label 0, excluded from the
scores). Defaults: the authors' recipe, sequence length 128, 10 epochs
(lr 2e-5, batch 32). An encoder narrower than BERT-base (`tiny`,
`austen-tiny`) gets a measured small-encoder recipe instead
(`small_encoder_defaults`: lr 1e-3, batch 16, no dropout, the same 10
epochs); the run prints which.

`task.json` is what the authors' `run_tacred.py` derives from the data, so
their fine-tuned model reads the same label ids and marker pieces: the
labels (`no_relation` first, then the training set's relations by
descending frequency), the markers and their pieces (`SUBJ_START`,
`SUBJ_END`, `OBJ_START`, `OBJ_END` = `[unused1..4]`, then the entity types
`SUBJ=PERSON`, `OBJ=CITY`, ... from `[unused5]` in order of first use over
the dev set, then the training set), and the pieces added to the vocabulary
when it lacks an `[unusedN]` piece a marker needs (the encoder's embedding
table grows by as many rows, initialised as BERT's, N(0, 0.02) truncated).
`authors_task_info(train_file, dev_file, vocabulary)` rebuilds it from the
two files (for a model fine-tuned by the authors). Predictions are `{id:
relation}`.
"""

import dataclasses

import keras
import numpy as np

from spanbert_keras.config import FinetuneConfig
from spanbert_keras.data.tacred import MODES
from spanbert_keras.data.tacred import SPAN_KEYS
from spanbert_keras.data.tacred import RelationFeatures
from spanbert_keras.data.tacred import assign_marker_pieces
from spanbert_keras.data.tacred import entity_markers
from spanbert_keras.data.tacred import example_tensors
from spanbert_keras.data.tacred import read_tacred
from spanbert_keras.data.tacred import relation_labels
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.metrics.tacred import NO_RELATION
from spanbert_keras.metrics.tacred import score_tacred
from spanbert_keras.models.span_bert_relation_classifier import SpanBertRelationClassifier
from spanbert_keras.tasks.encoder_task import EncoderTask
from spanbert_keras.tasks.encoder_task import options_dict
from spanbert_keras.tasks.encoder_task import strings


@dataclasses.dataclass
class TacredOptions:
    """The `tacred` task's options; defaults: the authors' fine-tuning."""

    mode: str = "ner"
    negative_label: str = NO_RELATION

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"options.mode must be one of {MODES}. Received: {self.mode!r}")


def task_vocabulary(vocabulary, task_info):
    """The vocabulary with the task's added marker pieces (if any) after its last id."""
    added = task_info.get("added_pieces") or []
    if not added:
        return vocabulary
    return Vocabulary(list(vocabulary.tokens) + list(added), source=vocabulary.source)


def with_added_pieces(backbone, count, seed=0):
    """A copy of `backbone` whose embedding table has `count` more rows.

    The rows are BERT's initialisation (truncated normal, stddev 0.02); all
    other weights are copied.

    Example:

    >>> from spanbert_keras.models.span_bert_backbone import SpanBertBackbone
    >>> backbone = SpanBertBackbone(vocabulary_size=20, num_layers=1, num_heads=2,
    ...                             hidden_dim=8, intermediate_dim=16, max_sequence_length=12)
    >>> bigger = with_added_pieces(backbone, 3)
    >>> bigger.vocabulary_size, tuple(bigger.token_embedding.embeddings.shape)
    (23, (23, 8))
    """
    config = backbone.get_config()
    config["vocabulary_size"] = backbone.vocabulary_size + count
    bigger = type(backbone).from_config(config)
    embedding = backbone.token_embedding.embeddings
    values = []
    for variable in backbone.weights:
        value = keras.ops.convert_to_numpy(variable)
        if variable is embedding:
            rows = keras.initializers.TruncatedNormal(stddev=0.02, seed=seed)(
                (count, value.shape[1]), dtype=value.dtype
            )
            value = np.concatenate([value, keras.ops.convert_to_numpy(rows)])
        values.append(value)
    bigger.set_weights(values)
    return bigger


class TacredTask(EncoderTask):
    name = "tacred"
    metric_name = "micro_f1"
    options_class = TacredOptions
    config_defaults = {"sequence_length": 128, "epochs": 10}
    # Measured on `austen-tiny` (hidden 128), 500 training records of the realistic data of the
    # tests (tests/cli/test_small_encoder_recipes.py): micro-F1 0.996 held out, where the
    # paper's recipe reaches 0.15.
    small_encoder_defaults = {"learning_rate": 1e-3, "batch_size": 16, "dropout": 0.0}
    model_class = SpanBertRelationClassifier

    def read(self, path, strict=False):
        return read_tacred(path, strict)

    def prepare(self, train_examples, vocabulary, config, dev_examples=()):
        """The authors' labels and marker pieces (markers numbered over dev, then train)."""
        options = self.options(config)
        pieces, added = assign_marker_pieces(entity_markers(dev_examples, train_examples),
                                             vocabulary, options.mode)
        return {
            "options": options_dict(options),
            "labels": relation_labels(train_examples, options.negative_label),
            "marker_pieces": pieces,
            "added_pieces": added,
            "vocabulary_size": vocabulary.size,
        }

    def feature_inputs(self, examples):
        return example_tensors(examples)

    def targets(self, examples, task_info):
        return super().targets(
            [dict(e, label=e["relation"]) for e in examples], task_info
        )

    def features(self, vocabulary, task_info, config):
        return RelationFeatures(task_vocabulary(vocabulary, task_info), task_info["marker_pieces"],
                                task_info["options"]["mode"], config.sequence_length)

    def build_model(self, backbone, task_info, config):
        added = len(task_info.get("added_pieces") or [])
        size = task_info["vocabulary_size"]
        if backbone.vocabulary_size == size and added:
            backbone = with_added_pieces(backbone, added, seed=config.seed)
        elif backbone.vocabulary_size != size + added:
            raise ValueError(
                f"The encoder has {backbone.vocabulary_size} token embeddings; this task "
                f"needs {size} (its vocabulary) + {added} (added marker pieces)."
            )
        return super().build_model(backbone, task_info, config)

    def serving(self, model, vocabulary, task_info, config):
        from spanbert_keras.export.serving.classification import RelationServing

        return RelationServing(model, self.features(vocabulary, task_info, config),
                               task_info["labels"])

    def serving_inputs(self, examples):
        width = max([len(e["tokens"]) for e in examples] + [1])
        inputs = {"tokens": strings([e["tokens"] for e in examples], width)}
        for key in SPAN_KEYS:
            inputs[key] = np.array([e[key] for e in examples], np.int32)
        for key in ("subj_type", "obj_type"):
            inputs[key] = strings([e[key] for e in examples])
        return inputs

    def prediction_problems(self, outputs, examples, task_info):
        problems = []
        known = task_info["marker_pieces"]
        for row, example in enumerate(examples):
            if outputs["entities_truncated"][row]:
                problems.append(f"{example['where']}: an entity is beyond the sequence length")
            if task_info["options"]["mode"] == "ner":
                unseen = [f"{role}={example[f'{key}_type']}"
                          for role, key in (("SUBJ", "subj"), ("OBJ", "obj"))
                          if f"{role}={example[f'{key}_type']}" not in known]
                if unseen:
                    problems.append(f"{example['where']}: entity type(s) {unseen} without a "
                                    "marker (unseen in the training and dev sets; marked "
                                    "with [UNK])")
        return problems

    def score(self, predictions, examples, task_info):
        gold, predicted = self.gold_and_predicted(
            predictions, [dict(e, label=e["relation"]) for e in examples], task_info
        )
        scores = score_tacred(gold, predicted, task_info["options"]["negative_label"])
        return {k: scores[k] for k in ("micro_f1", "precision", "recall")}

    def export_settings(self, task_info, config):
        return {"labels": task_info["labels"], "mode": task_info["options"]["mode"],
                "marker_pieces": task_info["marker_pieces"]}


TASK = TacredTask()


def authors_task_info(train_file, dev_file, vocabulary, mode="ner",
                      negative_label=TacredOptions.negative_label, strict=False):
    """The `task.json` of the authors' `run_tacred.py` on these files (labels and markers).

    What a model fine-tuned by the authors (their `BertForSequenceClassification`
    on TACRED) was trained with, rebuilt from TACRED's `train.json` and
    `dev.json`: the class ids (`no_relation` = 0, then by descending training
    frequency) and the marker pieces (`[unusedN]` in order of first use over
    the dev set, then the training set). The same as `TASK.prepare` in a
    run on these files.

    Args:
        train_file, dev_file: TACRED's training and dev files.
        vocabulary: the model's `Vocabulary` (its `vocab.txt`).
        mode: "ner" (the authors' default `--feature_mode`) or "text".
        negative_label: str, the authors' `--negative_label`.
        strict: bool, a bad record is an error instead of being skipped.

    Returns:
        A `task_info` dict (what `TASK.dataset`, `TASK.predict` and
        `TASK.export` take).

    Example:

    >>> import json, os, tempfile
    >>> from spanbert_keras.data.vocabulary import Vocabulary
    >>> folder = tempfile.mkdtemp()
    >>> def write(name, types_and_relations):
    ...     records = [{"id": f"{name}{i}", "token": ["Emma", "in", "Bath"], "subj_start": 0,
    ...                 "subj_end": 0, "obj_start": 2, "obj_end": 2, "subj_type": "PERSON",
    ...                 "obj_type": t, "relation": r}
    ...                for i, (t, r) in enumerate(types_and_relations)]
    ...     path = os.path.join(folder, name + ".json")
    ...     with open(path, "w") as f:
    ...         json.dump(records, f)
    ...     return path
    >>> train = write("train", [("CITY", "per:cities_of_residence"), ("CITY", "no_relation"),
    ...                         ("DATE", "per:date_of_birth"), ("CITY", "per:date_of_birth")])
    >>> dev = write("dev", [("DATE", "no_relation")])
    >>> vocab = Vocabulary(["[PAD]"] + [f"[unused{n}]" for n in range(1, 10)]
    ...                    + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    >>> info = authors_task_info(train, dev, vocab)
    >>> info["labels"]
    ['no_relation', 'per:date_of_birth', 'per:cities_of_residence']
    >>> {m: info["marker_pieces"][m] for m in ("SUBJ=PERSON", "OBJ=DATE", "OBJ=CITY")}
    {'SUBJ=PERSON': '[unused5]', 'OBJ=DATE': '[unused6]', 'OBJ=CITY': '[unused7]'}
    """
    train, _ = read_tacred(train_file, strict)
    dev, _ = read_tacred(dev_file, strict)
    config = FinetuneConfig(**{**TASK.config_defaults,
                               "options": {"mode": mode, "negative_label": negative_label}})
    return TASK.prepare(train, vocabulary, config, dev)
