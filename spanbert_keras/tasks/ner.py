"""Named-entity tagging (CoNLL-2003 style): the `ner` fine-tuning task.

reader `data.conll.read_columns` (sentences with every column; the tag
column is chosen with the options) -> features `data.conll.TaggingFeatures`
(`[CLS] pieces [SEP]`; each word's label on its first piece, the other pieces
weighted 0) -> `SpanBertTokenTagger` (cross entropy averaged over the
labelled pieces) -> `metrics.ner` (entity-level P / R / F1 as `seqeval`) ->
serving `export.serving.token_tagging.TokenTaggingServing`.

Options (`--set options.KEY=VALUE`): `tag_column` (-1, the last column:
CoNLL-2003's NER tags), `scheme` ("iob2", BIO; "iob1" converts the original
CoNLL-2003 files). Defaults: sequence length 128, lr 2e-5, batch 32. An
encoder narrower than BERT-base (`tiny`, `austen-tiny`) gets a measured
small-encoder recipe instead (`small_encoder_defaults`: lr 1e-3, batch 16,
8 epochs, no dropout); the run prints which.

Labels: `O` first (the tag of words cut away by the sequence length), then
the training set's tags sorted. Predictions are `{id: [tag, ...]}`, one tag
per word; ids are the sentences' indices in the file.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from spanbert_keras.data.conll import SCHEMES
from spanbert_keras.data.conll import TaggingFeatures
from spanbert_keras.data.conll import read_columns
from spanbert_keras.data.conll import select_tags
from spanbert_keras.data.features import MODEL_INPUTS
from spanbert_keras.data.features import ragged_strings
from spanbert_keras.losses import WeightedMeanSparseCategoricalCrossentropy
from spanbert_keras.metrics.ner import score_entities
from spanbert_keras.models.span_bert_token_tagger import SpanBertTokenTagger
from spanbert_keras.tasks.encoder_task import EncoderTask
from spanbert_keras.tasks.encoder_task import options_dict
from spanbert_keras.tasks.encoder_task import strings
from spanbert_keras.tasks.encoder_task import warn_count

OUTSIDE = "O"


@dataclasses.dataclass
class NerOptions:
    """The `ner` task's options."""

    tag_column: int = -1
    scheme: str = "iob2"

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"options.scheme must be one of {SCHEMES}. Received: {self.scheme!r}")
        if isinstance(self.tag_column, bool) or not isinstance(self.tag_column, int) or (
            self.tag_column == 0
        ):
            raise ValueError(
                f"options.tag_column must be a non-zero int. Received: {self.tag_column!r}"
            )


class NerTask(EncoderTask):
    name = "ner"
    metric_name = "f1"
    options_class = NerOptions
    config_defaults = {"sequence_length": 128}
    # Measured on `austen-tiny` (hidden 128), 400 training sentences of the realistic data of
    # the tests (tests/cli/test_small_encoder_recipes.py): entity F1 0.999 held out, where
    # the paper's recipe reaches 0.04.
    small_encoder_defaults = {"learning_rate": 1e-3, "batch_size": 16, "epochs": 8,
                              "dropout": 0.0}
    model_class = SpanBertTokenTagger
    predict_signature = "tag_words"
    unknown_label_message = "evaluation tag(s) the model was not trained on (never predicted)"

    def read(self, path, strict=False):
        return read_columns(path, strict)

    def prepare(self, train_examples, vocabulary, config, dev_examples=()):
        info = {"options": options_dict(self.options(config))}
        tags = {t for e in self.select(train_examples, info) for t in e["tags"]}
        info["labels"] = [OUTSIDE] + sorted(tags - {OUTSIDE})
        return info

    def select(self, examples, task_info):
        if not examples or "columns" not in examples[0]:
            return examples
        options = task_info["options"]
        path = examples[0]["where"].rsplit(": line ", 1)[0]
        chosen, problems = select_tags(examples, path, options["tag_column"], options["scheme"])
        warn_count(problems, "sentence(s) skipped")
        return chosen

    def feature_inputs(self, examples):
        return {"words": ragged_strings([e["tokens"] for e in examples])}

    def targets(self, examples, task_info):
        index = {tag: i for i, tag in enumerate(task_info["labels"])}
        unknown = [f"{e['where']}: tag {t!r} is not one of the model's {len(index)} tags"
                   for e in examples for t in sorted(set(e["tags"]) - set(index))]
        ids = tf.RaggedTensor.from_row_lengths(
            tf.constant([index.get(t, -1) for e in examples for t in e["tags"]], tf.int32,
                        shape=[sum(len(e["tags"]) for e in examples)]),
            tf.constant([len(e["tags"]) for e in examples], tf.int64, shape=[len(examples)]),
        )
        return ids, np.ones(len(examples), np.float32), unknown

    def model_batch(self, features, inputs, y, weights):
        out = features(inputs["words"], y)  # unknown tags (-1) get weight 0
        known = tf.cast(out["labels"] >= 0, tf.float32)
        x = {k: out[k] for k in MODEL_INPUTS}
        return x, tf.maximum(out["labels"], 0), out["label_weights"] * known

    def features(self, vocabulary, task_info, config):
        return TaggingFeatures(vocabulary, config.sequence_length)

    def loss(self, task_info, config):
        # The mean over the labelled (first) pieces of the (global) batch.
        return WeightedMeanSparseCategoricalCrossentropy(from_logits=True)

    def serving(self, model, vocabulary, task_info, config):
        from spanbert_keras.export.serving.token_tagging import TokenTaggingServing

        return TokenTaggingServing(model, self.features(vocabulary, task_info, config),
                                   task_info["labels"])

    def serving_inputs(self, examples):
        width = max([len(e["tokens"]) for e in examples] + [1])
        return {"words": strings([e["tokens"] for e in examples], width)}

    def decode(self, outputs, row):
        count = int(outputs["num_words"][row])
        return [tag.decode("utf-8") for tag in outputs["tags"][row][:count]]

    def prediction_problems(self, outputs, examples, task_info):
        return [f"{e['where']}: words beyond the sequence length tagged {OUTSIDE!r}"
                for row, e in enumerate(examples) if outputs["truncated"][row]]

    def score(self, predictions, examples, task_info):
        examples = self.select(examples, task_info)
        missing = [e["id"] for e in examples if e["id"] not in predictions]
        if missing:
            raise ValueError(f"No prediction for {len(missing)} sentence(s), e.g. ids {missing[:5]}.")
        warn_count(self.targets(examples, task_info)[2], self.unknown_label_message)
        scores = score_entities([e["tags"] for e in examples],
                                [predictions[e["id"]] for e in examples])
        return {k: scores[k] for k in ("f1", "precision", "recall")}

    def export_settings(self, task_info, config):
        return {"labels": task_info["labels"]}


TASK = NerTask()
