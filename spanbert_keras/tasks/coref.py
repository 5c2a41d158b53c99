"""Coreference resolution (CoNLL-2012 / OntoNotes): the `coref` fine-tuning task.

reader `data.coref_reader.read_coref` (CoNLL-2012 `*_conll` files or the
authors' jsonlines) -> features `data.coref_features.CorefFeatures`
(segments at sentence boundaries, each encoded on its own) ->
`SpanBertCoreference` (the "independent" model of Joshi et al. 2019:
candidate spans, mention scores, coarse-to-fine antecedents, higher-order
refinement; loss the marginal log-likelihood of the gold antecedents) ->
`metrics.coref` (MUC, B-cubed, CEAF-phi4 and their mean, the CoNLL F1, as
the reference scorer v8.01) -> serving `export.serving.coreference`.

One document a step (`batch_size` 1). A training document longer than
`options.max_training_segments` segments is cut to that many consecutive
segments, at a random place each time it is seen (the authors'
`truncate_example`); the gold mentions outside are left out. Evaluation
reads whole documents.

Two learning rates, as the authors train: `learning_rate` (the encoder's:
AdamW, warm-up then linear decay) and `options.task_learning_rate` (the
scorer's: Adam without weight decay, linear decay). Defaults are the
authors' SpanBERT-base settings: segments of 384 pieces, 20 epochs, 2e-5 /
1e-4, spans up to 30 pieces, FFNNs of 3000, dropout 0.3, 0.4 spans a piece,
50 antecedents, `coref_depth` 2, 3 training segments. An encoder narrower
than BERT-base (`tiny`, `austen-tiny`) gets a measured small-encoder recipe
instead (`small_encoder_defaults`: segments of 128, 10 epochs, 3e-4 / 3e-3,
no encoder dropout, FFNNs of 256); the run prints which.

Predictions are `{document id: clusters}` (each cluster a list of
`[first word, last word]`, inclusive, over the document's words); the run
writes them as `predictions.json`, as jsonlines (`predictions.jsonlines`:
`doc_key`, `sentences`, `clusters`) and, for a CoNLL-2012 input, as a
`predictions.conll` the reference scorer reads beside the input.
"""

import dataclasses
import json
import os

import tensorflow as tf

from spanbert_keras.data.coref_features import CorefFeatures
from spanbert_keras.data.coref_features import genre_ids
from spanbert_keras.data.coref_reader import is_jsonlines
from spanbert_keras.data.coref_reader import read_coref
from spanbert_keras.data.coref_reader import write_conll_predictions
from spanbert_keras.data.features import MODEL_INPUTS
from spanbert_keras.data.features import ragged_rows
from spanbert_keras.files import atomic_write
from spanbert_keras.files import write_json
from spanbert_keras.metrics.coref import coref_scores
from spanbert_keras.models.span_bert_coreference import DOCUMENT_INPUTS
from spanbert_keras.models.span_bert_coreference import SpanBertCoreference
from spanbert_keras.tasks.base import FinetuneTask
from spanbert_keras.tasks.base import export_training
from spanbert_keras.tasks.encoder_task import options_dict
from spanbert_keras.tasks.encoder_task import warn_count


@dataclasses.dataclass
class CorefOptions:
    """The `coref` task's options (the authors' SpanBERT-base values)."""

    task_learning_rate: float = 1e-4
    max_span_width: int = 30
    feature_size: int = 20
    ffnn_size: int = 3000
    ffnn_dropout: float = 0.3
    top_span_ratio: float = 0.4
    max_top_antecedents: int = 50
    coref_depth: int = 2
    max_training_segments: int = 3

    def __post_init__(self):
        if not self.task_learning_rate > 0:
            raise ValueError("options.task_learning_rate must be positive. "
                             f"Received: {self.task_learning_rate!r}")
        if not self.max_training_segments >= 1:
            raise ValueError("options.max_training_segments must be positive. "
                             f"Received: {self.max_training_segments!r}")

    def scorer_options(self):
        return dict(max_span_width=self.max_span_width, feature_size=self.feature_size,
                    ffnn_size=self.ffnn_size, top_span_ratio=self.top_span_ratio,
                    max_top_antecedents=self.max_top_antecedents, coref_depth=self.coref_depth,
                    max_segment_distance=self.max_training_segments)


def _sentence_ids(document):
    return [i for i, sentence in enumerate(document["sentences"]) for _ in sentence]


def _words(document):
    return [word for sentence in document["sentences"] for word in sentence]


def _speakers(document):
    return [speaker for sentence in document["speakers"] for speaker in sentence]


def document_tensors(documents):
    """The documents as ragged tensors whose slices are one document each."""
    mentions = [[(m[0], m[1], c + 1) for c, cluster in enumerate(d["clusters"]) for m in cluster]
                for d in documents]
    return {
        "words": ragged_rows([_words(d) for d in documents], tf.string),
        "sentence_ids": ragged_rows([_sentence_ids(d) for d in documents], tf.int32),
        "speakers": ragged_rows([_speakers(d) for d in documents], tf.string),
        "genre": tf.constant([d["genre"] for d in documents], tf.string, shape=[len(documents)]),
        "gold_word_starts": ragged_rows([[m[0] for m in row] for row in mentions], tf.int32),
        "gold_word_ends": ragged_rows([[m[1] for m in row] for row in mentions], tf.int32),
        "gold_cluster_ids": ragged_rows([[m[2] for m in row] for row in mentions], tf.int32),
    }


def truncate_segments(x, y, keep, offset):
    """The document cut to segments `offset .. offset + keep - 1` (gold mentions inside kept)."""
    length = tf.shape(x["token_ids"])[1]
    inside = (x["piece_segments"] >= offset) & (x["piece_segments"] < offset + keep)
    first = tf.cast(tf.argmax(tf.cast(inside, tf.int32)), tf.int32)
    cut = {k: x[k][offset : offset + keep] for k in MODEL_INPUTS}
    for key in ("sentence_ids", "speaker_ids", "piece_segments", "piece_positions"):
        cut[key] = tf.boolean_mask(x[key], inside)
    cut["piece_segments"] -= offset
    cut["piece_positions"] -= offset * length
    cut["genre"] = x["genre"]
    last = first + tf.reduce_sum(tf.cast(inside, tf.int32)) - 1
    gold = (y["gold_starts"] >= first) & (y["gold_ends"] <= last)
    return cut, {"gold_starts": tf.boolean_mask(y["gold_starts"], gold) - first,
                 "gold_ends": tf.boolean_mask(y["gold_ends"], gold) - first,
                 "gold_cluster_ids": tf.boolean_mask(y["gold_cluster_ids"], gold)}


class CorefTask(FinetuneTask):
    name = "coref"
    metric_name = "conll_f1"
    options_class = CorefOptions
    config_defaults = {"sequence_length": 384, "batch_size": 1, "epochs": 20,
                       "learning_rate": 2e-5, "jit_compile": False}
    # Measured on `austen-tiny` (hidden 128): CoNLL F1 0.94 held out on the synthetic corpus
    # of the tests (tests/cli/test_finetune_coref.py), where the paper's recipe learns little.
    small_encoder_defaults = {"sequence_length": 128, "epochs": 10, "learning_rate": 3e-4,
                              "dropout": 0.0,
                              "options": {"task_learning_rate": 3e-3, "ffnn_size": 256}}

    def read(self, path, strict=False):
        return read_coref(path, strict)

    def prepare(self, train_examples, vocabulary, config, dev_examples=()):
        return {"options": options_dict(self.options(config))}

    def _options(self, task_info):
        return CorefOptions(**task_info["options"])

    def features(self, vocabulary, config):
        return CorefFeatures(vocabulary, config.sequence_length)

    def dataset(self, examples, vocabulary, task_info, config, training):
        if config.batch_size != 1:
            raise ValueError("coref trains on one document a step: batch_size must be 1. "
                             f"Received: batch_size={config.batch_size}")
        options = self._options(task_info)
        features = self.features(vocabulary, config)
        dataset = tf.data.Dataset.from_tensor_slices(document_tensors(examples))

        def to_model(document):
            out = features(document["words"], document["sentence_ids"], document["speakers"])
            x = {k: out[k] for k in MODEL_INPUTS + DOCUMENT_INPUTS[:-1]}
            x["genre"] = tf.reshape(genre_ids(tf.strings.substr(document["genre"], 0, 2)), [1])
            y = {"gold_starts": tf.gather(out["word_starts"], document["gold_word_starts"]),
                 "gold_ends": tf.gather(out["word_ends"], document["gold_word_ends"]),
                 "gold_cluster_ids": document["gold_cluster_ids"]}
            return x, y

        def cut(x, y):
            segments = tf.shape(x["token_ids"])[0]
            keep = tf.minimum(segments, options.max_training_segments)
            offset = tf.random.uniform([], 0, segments - keep + 1, tf.int32,
                                       seed=config.seed)
            return truncate_segments(x, y, keep, offset)

        # The features are the same every epoch: computed once, then cached.
        dataset = dataset.map(to_model, num_parallel_calls=tf.data.AUTOTUNE).cache()
        if training:
            dataset = dataset.shuffle(max(len(examples), 1), seed=config.seed,
                                      reshuffle_each_iteration=True)
            dataset = dataset.map(cut)  # sequential: the same cuts on a re-run
        return dataset.prefetch(tf.data.AUTOTUNE)

    def build_model(self, backbone, task_info, config):
        options = self._options(task_info)
        return SpanBertCoreference(backbone, dropout=options.ffnn_dropout,
                                   **options.scorer_options())

    def loss(self, task_info, config):
        return None

    def compile_args(self, task_info, config):
        return {}  # the model's compute_loss is the loss

    def task_learning_rate(self, task_info, config, model):
        options = self._options(task_info)
        return options.task_learning_rate, model.task_variables()

    def serving(self, model, vocabulary, task_info, config):
        from spanbert_keras.export.serving.coreference import CoreferenceServing

        return CoreferenceServing(model, self.features(vocabulary, config))

    def predict(self, model, examples, vocabulary, task_info, config):
        resolve = self.serving(model, vocabulary, task_info, config).document_function()
        predictions = {}
        for document in examples:
            words = _words(document)
            starts, ends, clusters = resolve(
                tf.constant(words, tf.string, shape=[len(words)]),
                tf.constant(_sentence_ids(document), tf.int32, shape=[len(words)]),
                tf.constant(_speakers(document), tf.string, shape=[len(words)]),
                tf.constant(document["genre"][:2]))
            found = {}
            for start, end, cluster in zip(starts.numpy().tolist(), ends.numpy().tolist(),
                                           clusters.numpy().tolist()):
                found.setdefault(cluster, []).append([start, end])
            predictions[document["id"]] = list(found.values())
        return predictions

    def score(self, predictions, examples, task_info):
        missing = [d["id"] for d in examples if d["id"] not in predictions]
        if missing:
            raise ValueError(f"No prediction for {len(missing)} document(s), e.g. {missing[:5]}.")
        unreachable = []
        for document in examples:
            sentence_of = _sentence_ids(document)  # once a document, not once a mention
            unreachable += [f"{document['where']}: gold mention {m} crosses a sentence boundary"
                            for c in document["clusters"] for m in c
                            if sentence_of[m[0]] != sentence_of[m[1]]]
        warn_count(unreachable, "gold mention(s) the model cannot propose (never predicted)")
        return coref_scores([(d["clusters"], predictions[d["id"]]) for d in examples])

    def write_predictions(self, predictions, path, examples=()):
        write_json(path, predictions)
        stem = os.path.splitext(path)[0]
        lines = "".join(json.dumps({"doc_key": d["id"], "sentences": d["sentences"],
                                    "clusters": predictions.get(d["id"], [])}) + "\n"
                        for d in examples)
        atomic_write(stem + ".jsonlines", lambda f: f.write(lines))
        sources = {d["where"].rsplit(": line ", 1)[0] for d in examples}
        if len(sources) == 1 and not is_jsonlines(next(iter(sources))):
            write_conll_predictions(sources.pop(), stem + ".conll", predictions)
        return path

    def export(self, model, vocabulary, task_info, config, export_dir, overwrite=False):
        return self.serving(model, vocabulary, task_info, config).export(
            export_dir, self.name, {"options": task_info["options"]},
            export_training(config, task_info), overwrite=overwrite)


TASK = CorefTask()
