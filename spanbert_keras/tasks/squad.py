"""Extractive question answering (SQuAD v1.1 / v2.0, MRQA): the `squad` fine-tuning task.

reader `data.squad` -> features `data.qa_features` (windows, character
offsets, max context) -> model `SpanBertQuestionAnswerer` (start / end
cross entropy, halved, as the authors) -> decoding `data.qa_decoding` (n-best
over windows, max answer length, v2.0 null score) + metric `metrics.squad`
(official EM / F1) -> serving `export.serving.question_answering`.

Options (`--set options.KEY=VALUE`, or `--version-2`), the authors' values
by default: `version_2` (False), `doc_stride` (128), `max_query_length` (64),
`max_answer_length` (30), `n_best_size` (20), `null_score_diff_threshold`
(0.0). The window length is the run's `sequence_length` (384 here; the
authors used 512).
"""

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from spanbert_keras.data.qa_decoding import best_spans
from spanbert_keras.data.qa_decoding import choose_answers
from spanbert_keras.data.qa_features import MODEL_INPUTS
from spanbert_keras.data.qa_features import QuestionAnswerFeatures
from spanbert_keras.data.squad import read_qa_file
from spanbert_keras.files import write_json
from spanbert_keras.metrics.squad import squad_scores
from spanbert_keras.models.span_bert_question_answerer import SpanBertQuestionAnswerer
from spanbert_keras.tasks.base import FinetuneTask

NA_PROBS_FILE = "na_probs.json"
_EXAMPLES_PER_CALL = 256  # examples turned into windows per feature call


@dataclasses.dataclass
class SquadOptions:
    """The `squad` task's options; defaults: the authors' fine-tuning."""

    version_2: bool = False
    doc_stride: int = 128
    max_query_length: int = 64
    max_answer_length: int = 30
    n_best_size: int = 20
    null_score_diff_threshold: float = 0.0


class QaPredictions(dict):
    """id -> answer text (what the official scripts read), with the v2.0 extras.

    Attributes:
        na_probs: dict id -> no-answer probability (v2.0), or None.
        spans: dict id -> `{"char_start", "char_end", "score"}` of the answer.
    """

    def __init__(self, texts, na_probs=None, spans=None):
        super().__init__(texts)
        self.na_probs = na_probs
        self.spans = spans or {}


def _answer_chars(example):
    """(start, end) characters of the first located gold answer, or (-1, -1)."""
    for answer in example["answers"]:
        if answer["answer_start"] >= 0 and not example["is_impossible"]:
            return answer["answer_start"], answer["answer_start"] + len(answer["text"])
    return -1, -1


class SquadTask(FinetuneTask):
    name = "squad"
    metric_name = "f1"
    options_class = SquadOptions
    config_defaults = {"sequence_length": 384}

    def read(self, path, strict=False):
        return read_qa_file(path, strict)

    def prepare(self, train_examples, vocabulary, config, dev_examples=()):
        options = self.options(config)
        impossible = sum(e["is_impossible"] for e in train_examples)
        if impossible and not options.version_2:
            raise ValueError(
                f"The training data has {impossible} unanswerable (is_impossible) questions: "
                "it is SQuAD v2.0; pass --version-2 (options.version_2=true)."
            )
        return dataclasses.asdict(options)

    def _features(self, vocabulary, task_info, config):
        return QuestionAnswerFeatures(vocabulary, config.sequence_length,
                                      task_info["doc_stride"], task_info["max_query_length"])

    def dataset(self, examples, vocabulary, task_info, config, training):
        features = self._features(vocabulary, task_info, config)
        chars = np.array([_answer_chars(e) for e in examples], "int64").reshape(-1, 2)
        columns = {
            "question": [e["question"] for e in examples],
            "context": [e["context"] for e in examples],
            "answer_start": chars[:, 0],
            "answer_end": chars[:, 1],
        }

        def windows(batch):
            out = features(batch["question"], batch["context"], batch["answer_start"],
                           batch["answer_end"])
            x = {key: out[key] for key in MODEL_INPUTS}
            return x, {"start_logits": out["start_positions"], "end_logits": out["end_positions"]}

        dataset = (tf.data.Dataset.from_tensor_slices(columns).batch(_EXAMPLES_PER_CALL)
                   .map(windows, num_parallel_calls=tf.data.AUTOTUNE).unbatch())
        if training:
            dataset = dataset.cache().shuffle(10_000, seed=config.seed)
        return dataset.batch(config.batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)

    def build_model(self, backbone, task_info, config):
        return SpanBertQuestionAnswerer(backbone)

    def loss(self, task_info, config):
        cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return {"start_logits": cross_entropy, "end_logits": cross_entropy}

    def compile_args(self, task_info, config):
        # The authors' loss: (start CE + end CE) / 2.
        return {"loss": self.loss(task_info, config),
                "loss_weights": {"start_logits": 0.5, "end_logits": 0.5}}

    def predict(self, model, examples, vocabulary, task_info, config):
        features = self._features(vocabulary, task_info, config)
        version_2 = task_info["version_2"]
        texts, na_probs, spans = {}, {}, {}
        for first in range(0, len(examples), _EXAMPLES_PER_CALL):
            chunk = examples[first : first + _EXAMPLES_PER_CALL]
            contexts = [e["context"] for e in chunk]
            out = features([e["question"] for e in chunk], contexts)
            logits = model.predict({k: out[k].numpy() for k in MODEL_INPUTS},
                                   batch_size=config.batch_size, verbose=0)
            chosen = choose_answers(
                best_spans(logits["start_logits"], logits["end_logits"], out, len(chunk),
                           task_info["n_best_size"], task_info["max_answer_length"]),
                version_2, task_info["null_score_diff_threshold"])
            chosen = {k: v.numpy().tolist() for k, v in chosen.items()}
            for i, example in enumerate(chunk):
                start, end = chosen["char_start"][i], chosen["char_end"][i]
                qid = example["id"]
                texts[qid] = contexts[i][start:end] if start >= 0 else ""
                spans[qid] = {"char_start": start, "char_end": end,
                              "score": chosen["score"][i]}
                na_probs[qid] = chosen["no_answer_probability"][i]
        return QaPredictions(texts, na_probs if version_2 else None, spans)

    def score(self, predictions, examples, task_info):
        return squad_scores(examples, predictions, na_probs=getattr(predictions, "na_probs", None),
                            version_2=task_info["version_2"])

    def write_predictions(self, predictions, path):
        """`predictions.json` (id -> text) and, for v2.0, `na_probs.json` beside it."""
        write_json(path, dict(predictions))
        na_probs = getattr(predictions, "na_probs", None)
        if na_probs is not None:
            write_json(os.path.join(os.path.dirname(path), NA_PROBS_FILE), na_probs)
        return path

    def export(self, model, vocabulary, task_info, config, export_dir, overwrite=False):
        from spanbert_keras.export.serving.question_answering import export_question_answerer

        return export_question_answerer(
            model, vocabulary, export_dir, sequence_length=config.sequence_length,
            doc_stride=task_info["doc_stride"], max_query_length=task_info["max_query_length"],
            max_answer_length=task_info["max_answer_length"], n_best=task_info["n_best_size"],
            version_2=task_info["version_2"],
            null_score_diff_threshold=task_info["null_score_diff_threshold"],
            config={"task": self.name, "finetune": dataclasses.asdict(config),
                    "task_info": task_info},
            overwrite=overwrite,
        )


TASK = SquadTask()
