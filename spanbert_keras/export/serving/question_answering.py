"""The QA model's serving signature: a question and a passage in, the answer out.

`export_question_answerer(model, vocabulary, "saved_models/NAME/VERSION")`
writes one SavedModel in TF Serving's layout, the vocabulary in `assets/`:

| signature | inputs | outputs |
|---|---|---|
| `serving_default` | `question`, `context` string [B] | `answer` string [B], `char_start`, `char_end` int32 [B], `score` float32 [B], `context_truncated` bool [B] (+ `no_answer_score` float32 [B] for a v2.0 model) |

A context longer than `MAX_CONTEXT_CHARACTERS` (100,000 characters) is read
up to there, and `context_truncated` says so: a request's memory is bounded.

The answer is `context[char_start:char_end]` (Unicode characters, as Python
indexes a `str`), read from the passage itself; an unanswered question gives
`""` and -1 / -1. `score` is the best span's start + end logit. A v2.0
model answers `""` where `no_answer_score` (null score - best span score,
the authors' `score_diff`) is above the threshold chosen on the run's dev
set (`settings.null_score_diff_threshold` in `export_info.json`), as the authors
answer test questions. In the graph: the same windows
(`QuestionAnswerFeatures`) and the same decoding (`qa_decoding`) as
`spanbert-keras finetune squad` uses for its `predictions.json`, so the
answers are the Keras model's.

Load it without this package (the tokenizer is a tensorflow-text op):

    import tensorflow as tf, tensorflow_text  # registers the tokenizer ops
    served = tf.saved_model.load("saved_models/NAME/1")
    served.signatures["serving_default"](
        question=tf.constant(["Who lived at Hartfield?"]),
        context=tf.constant(["Emma Woodhouse lived at Hartfield."]))
"""

import tensorflow as tf

from spanbert_keras.data.qa_decoding import best_spans
from spanbert_keras.data.qa_decoding import choose_answers
from spanbert_keras.data.qa_features import MAX_CONTEXT_CHARACTERS
from spanbert_keras.data.qa_features import MODEL_INPUTS
from spanbert_keras.data.qa_features import QuestionAnswerFeatures
from spanbert_keras.data.vocabulary import load_vocabulary
from spanbert_keras.export.serving.task_serving import TaskServing
from spanbert_keras.export.serving.task_serving import string_spec

DESCRIPTION = ("question, context strings -> windows [CLS] question [SEP] passage [SEP] -> "
               "start/end logits -> the best span over the windows, read from the passage")


class QuestionAnsweringServing(TaskServing):
    """The `serving_default` signature of a `SpanBertQuestionAnswerer`.

    Args:
        model: the `SpanBertQuestionAnswerer`.
        features: its `QuestionAnswerFeatures` (windows, vocabulary).
        max_answer_length, n_best: the decoding (`best_spans`).
        version_2: bool, answer "" when the no-answer score is above
            `null_score_diff_threshold`, and return `no_answer_score`.
        null_score_diff_threshold: float, see `choose_answers` (the
            `squad` task passes the dev-chosen `no_answer_threshold`).
    """

    descriptions = {"serving_default": DESCRIPTION}

    def __init__(self, model, features, max_answer_length=30, n_best=20, version_2=False,
                 null_score_diff_threshold=0.0):
        super().__init__(model, features)
        self.max_answer_length = max_answer_length
        self.n_best = n_best
        self.version_2 = version_2
        self.threshold = float(null_score_diff_threshold)

    def endpoints(self):
        return {"serving_default": (self.answer, [string_spec("question"), string_spec("context")])}

    def answer(self, question, context):
        truncated = tf.strings.length(context, unit="UTF8_CHAR") > MAX_CONTEXT_CHARACTERS
        context = tf.strings.substr(context, 0, MAX_CONTEXT_CHARACTERS, unit="UTF8_CHAR")
        features = self.features(question, context)
        logits = self.model({k: features[k] for k in MODEL_INPUTS}, training=False)
        spans = best_spans(logits["start_logits"], logits["end_logits"], features,
                           tf.size(question), self.n_best, self.max_answer_length)
        chosen = choose_answers(spans, self.version_2, self.threshold)
        start, end = chosen["char_start"], chosen["char_end"]
        text = tf.strings.substr(context, tf.maximum(start, 0), tf.maximum(end - start, 0),
                                 unit="UTF8_CHAR")
        outputs = {"answer": text, "char_start": start, "char_end": end, "score": chosen["score"],
                   "context_truncated": truncated}
        if self.version_2:
            outputs["no_answer_score"] = chosen["no_answer_score"]
        return outputs


def question_answering_serving(model, vocabulary, sequence_length=512, doc_stride=128,
                               max_query_length=64, max_answer_length=30, n_best=20,
                               version_2=False, null_score_diff_threshold=0.0):
    """The `QuestionAnsweringServing` of a QA model (the arguments: see `export_question_answerer`)."""
    vocabulary = load_vocabulary(vocabulary)
    if sequence_length > model.backbone.max_sequence_length:
        raise ValueError(
            f"sequence_length={sequence_length} exceeds the encoder's position table "
            f"({model.backbone.max_sequence_length})."
        )
    features = QuestionAnswerFeatures(vocabulary, sequence_length, doc_stride, max_query_length)
    return QuestionAnsweringServing(model, features, max_answer_length, n_best, version_2,
                                    null_score_diff_threshold)


def export_question_answerer(model, vocabulary, export_dir, sequence_length=512, doc_stride=128,
                             max_query_length=64, max_answer_length=30, n_best=20,
                             version_2=False, null_score_diff_threshold=0.0, config=None,
                             overwrite=False, task="question_answering"):
    """Writes a QA model as a SavedModel for TF Serving (strings in, answers out).

    Args:
        model: a `SpanBertQuestionAnswerer`.
        vocabulary: its `Vocabulary`, list of wordpieces or `vocab.txt` path.
        export_dir: `saved_models/NAME/VERSION`, VERSION an integer.
        sequence_length, doc_stride, max_query_length: the windows
            (`QuestionAnswerFeatures`).
        max_answer_length, n_best, version_2, null_score_diff_threshold: see
            `QuestionAnsweringServing`.
        config: optional JSON-ready dict, the training configuration
            recorded in `export_info.json` (`training`).
        overwrite: bool, replace an existing version.
        task: str, `export_info.json`'s `task` (a fine-tuning run's task name).

    Returns:
        A dict: `saved_model` (the version directory), `export_info`.

    Example:

    >>> import os, tempfile
    >>> from spanbert_keras.models.span_bert_backbone import SpanBertBackbone
    >>> from spanbert_keras.models.span_bert_question_answerer import SpanBertQuestionAnswerer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Who", "?", "Emma", "sat"]
    >>> model = SpanBertQuestionAnswerer(SpanBertBackbone(
    ...     vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=16))
    >>> root = tempfile.mkdtemp()
    >>> paths = export_question_answerer(model, vocab, os.path.join(root, "qa", "1"),
    ...                                  sequence_length=16, max_query_length=4)
    >>> sorted(os.listdir(paths["saved_model"])), os.listdir(os.path.join(paths["saved_model"], "assets"))
    (['assets', 'export_info.json', 'fingerprint.pb', 'saved_model.pb', 'variables'], ['vocab.txt'])
    >>> sorted(paths["export_info"]["signatures"]["serving_default"]["outputs"])
    ['answer', 'char_end', 'char_start', 'context_truncated', 'score']
    """
    serving = question_answering_serving(model, vocabulary, sequence_length, doc_stride,
                                         max_query_length, max_answer_length, n_best, version_2,
                                         null_score_diff_threshold)
    settings = {
        "version_2": bool(version_2),
        "doc_stride": doc_stride,
        "max_query_length": max_query_length,
        "max_answer_length": max_answer_length,
        "n_best": n_best,
        "null_score_diff_threshold": float(null_score_diff_threshold),
    }
    return serving.export(export_dir, task, settings, config, overwrite)
