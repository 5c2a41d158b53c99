"""Extractive question answering (SQuAD v1.1 / v2.0, MRQA): the `squad` fine-tuning task.

reader `data.squad` -> features `data.qa_features` (windows, character
offsets, max context) -> model `SpanBertQuestionAnswerer` (start / end
cross entropy, halved, as the authors) -> decoding `data.qa_decoding` (n-best
over windows, max answer length, v2.0 null score) + metric `metrics.squad`
(official EM / F1) -> serving `export.serving.question_answering`.

Options (`--set options.KEY=VALUE`, or `--version-2`), the authors' values
by default: `version_2` (False), `doc_stride` (128), `max_query_length` (64),
`max_answer_length` (30), `n_best_size` (20), `null_score_diff_threshold`
(null: chosen on the dev set). The window length is the run's
`sequence_length`: 512 for every QA set, as the paper. An encoder narrower
than BERT-base (`tiny`, `austen-tiny`) gets a measured small-encoder recipe
instead (`small_encoder_defaults`: windows of 128 at stride 64, lr 1e-3,
batch 16, 6 epochs, the paper's dropout 0.1).

SQuAD v2.0, the authors' protocol (their `run_squad.py`):

- every question's prediction is its best non-null span, with the no-answer
  score `null score - best span score` (`na_probs.json`, the raw score);
- on the run's dev set, the official `find_best_thresh` scans these scores
  over the un-thresholded predictions: `best_f1`, `best_f1_thresh`,
  `best_exact`, `best_exact_thresh`; the dev score that picks the model
  (`metric_name(task_info, config)`) is `best_f1` (v1.1 and MRQA: `f1`);
- `calibrate` stores `best_f1_thresh` in `task.json`
  (`no_answer_threshold`); every later prediction (another file, the
  export) answers "" where the no-answer score is above it. Before
  calibration, the run's dev predictions are cut at that file's own
  `best_f1_thresh` (the authors' dev `predictions.json`); a number given
  as `null_score_diff_threshold` is used instead, everywhere.

v2.0 metrics: `exact_match`, `f1` and the `HasAns_*` / `NoAns_*` splits
score the answers written (threshold `na_prob_thresh`); `best_*` are the
official script's over the un-thresholded best answers. The official
`evaluate-v2.0.py DATA predictions.json --na-prob-file na_probs.json
--na-prob-thresh T` (T = `na_prob_thresh`) prints the same figures x 100
on the run's dev set.
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
from spanbert_keras.data.squad import MRQA_SUFFIXES
from spanbert_keras.data.squad import read_qa_file
from spanbert_keras.files import write_json
from spanbert_keras.metrics.squad import squad_scores
from spanbert_keras.models.span_bert_question_answerer import SpanBertQuestionAnswerer
from spanbert_keras.tasks.base import FinetuneTask
from spanbert_keras.tasks.base import export_training

NA_PROBS_FILE = "na_probs.json"
# The authors scored the MRQA dev sets 5 times an epoch (`run_mrqa.py --eval_per_epoch 5`).
MRQA_EVALUATIONS_PER_EPOCH = 5
_EXAMPLES_PER_CALL = 256  # examples turned into windows per feature call


@dataclasses.dataclass
class SquadOptions:
    """The `squad` task's options; defaults: the authors' fine-tuning."""

    version_2: bool = False
    doc_stride: int = 128
    max_query_length: int = 64
    max_answer_length: int = 30
    n_best_size: int = 20
    null_score_diff_threshold: float | None = None  # None: chosen on the dev set

    def __post_init__(self):
        for name in ("doc_stride", "max_query_length", "max_answer_length", "n_best_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"options.{name} must be a positive int. Received: {value!r}")
        value = self.null_score_diff_threshold
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError("options.null_score_diff_threshold must be a number or null. "
                             f"Received: {value!r}")


class QaPredictions(dict):
    """id -> answer text (what the official scripts read), with the v2.0 extras.

    Attributes:
        na_probs: dict id -> no-answer score `null - best span score` (v2.0,
            the authors' raw score difference), or None.
        best_answers: dict id -> the best non-null answer, before the
            threshold (v2.0), or None.
        threshold: float, the no-answer threshold applied (v2.0), or None.
        spans: dict id -> `{"char_start", "char_end", "score"}` of the answer
            given (-1 / -1 for ""; `score`: the best span's).
    """

    def __init__(self, texts, na_probs=None, spans=None, best_answers=None, threshold=None):
        super().__init__(texts)
        self.na_probs = na_probs
        self.best_answers = best_answers
        self.threshold = threshold
        self.spans = spans or {}


def no_answer_threshold(task_info):
    """The v2.0 threshold a run applies: calibrated on dev, else the option (None: not yet chosen)."""
    threshold = task_info.get("no_answer_threshold")
    if threshold is None:
        threshold = task_info.get("null_score_diff_threshold")
    return None if threshold is None else float(threshold)


def _answer_chars(example):
    """(start, end) characters of the first located gold answer, or (-1, -1).

    MRQA examples list their located answers by position (`read_mrqa`), so
    this is the earliest span, as the authors' `run_mrqa.py` trains on.
    """
    for answer in example["answers"]:
        if answer["answer_start"] >= 0 and not example["is_impossible"]:
            return answer["answer_start"], answer["answer_start"] + len(answer["text"])
    return -1, -1


class SquadTask(FinetuneTask):
    name = "squad"
    options_class = SquadOptions
    config_defaults = {"sequence_length": 512}
    # Measured on `austen-tiny` (hidden 128, positions pre-trained up to 128), the realistic
    # QA data of the tests (tests/cli/test_small_encoder_recipes.py: paragraphs of real
    # sentences longer than a window, three planted facts): see SMALL_ENCODER_QA in the docs.
    # The paper's 4 epochs are too few: the held-out F1 stays near 0.85 (the encoder tells
    # "born in" from "lives in" late), and reaches 1.0 by the 5th of 6.
    small_encoder_defaults = {"learning_rate": 1e-3, "batch_size": 16, "sequence_length": 128,
                              "epochs": 6, "options": {"doc_stride": 64}}

    def metric_name(self, task_info, config=None):
        """The dev score that picks the model: `best_f1` for v2.0, else `f1` (the authors').

        v2.0 is `task_info["version_2"]`, or the config's option before `prepare`.
        """
        version_2 = task_info.get("version_2")
        if version_2 is None and config is not None:
            version_2 = (config.options or {}).get("version_2", False)
        return "best_f1" if version_2 else "f1"

    def config_defaults_for(self, options, train_file=None):
        """Windows of 512 for every QA set; MRQA training files (`.jsonl[.gz]`) add 5
        dev evaluations an epoch, as the authors' `run_mrqa.py` was run.

        >>> from spanbert_keras.tasks.squad import TASK
        >>> TASK.config_defaults_for({}, "train.jsonl.gz"), TASK.config_defaults_for({}, "train-v1.1.json")
        ({'sequence_length': 512, 'eval_per_epoch': 5}, {'sequence_length': 512})
        """
        defaults = dict(self.config_defaults)
        if train_file is not None and os.fspath(train_file).endswith(MRQA_SUFFIXES):
            defaults["eval_per_epoch"] = MRQA_EVALUATIONS_PER_EPOCH
        return defaults

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
        """Answers keyed by id (`QaPredictions`); v2.0 with the no-answer scores.

        A v2.0 run without a threshold yet (its own dev set, before
        `calibrate`) cuts at this file's `best_f1_thresh`, which needs the
        examples' gold answers; afterwards the stored threshold is applied.
        """
        features = self._features(vocabulary, task_info, config)
        version_2 = task_info["version_2"]
        best, na_probs, spans = {}, {}, {}
        for first in range(0, len(examples), _EXAMPLES_PER_CALL):
            chunk = examples[first : first + _EXAMPLES_PER_CALL]
            contexts = [e["context"] for e in chunk]
            out = features([e["question"] for e in chunk], contexts)
            logits = model.predict({k: out[k].numpy() for k in MODEL_INPUTS},
                                   batch_size=config.batch_size, verbose=0)
            chosen = choose_answers(
                best_spans(logits["start_logits"], logits["end_logits"], out, len(chunk),
                           task_info["n_best_size"], task_info["max_answer_length"]))
            chosen = {k: v.numpy().tolist() for k, v in chosen.items()}
            for i, example in enumerate(chunk):
                start, end = chosen["best_start"][i], chosen["best_end"][i]
                qid = example["id"]
                best[qid] = contexts[i][start:end] if start >= 0 else ""
                spans[qid] = {"char_start": start, "char_end": end, "score": chosen["score"][i]}
                na_probs[qid] = chosen["no_answer_score"][i]
        if not version_2:
            return QaPredictions(best, spans=spans)
        threshold = no_answer_threshold(task_info)
        if threshold is None:
            threshold = squad_scores(examples, best, na_probs, version_2=True)["best_f1_thresh"]
        texts = {}
        for qid, text in best.items():
            texts[qid] = "" if na_probs[qid] > threshold else text
            if not texts[qid]:
                spans[qid] = dict(spans[qid], char_start=-1, char_end=-1)
        return QaPredictions(texts, na_probs, spans, best_answers=best, threshold=threshold)

    def score(self, predictions, examples, task_info):
        """The official metrics; v2.0 adds the splits, `best_*` and `na_prob_thresh`.

        v2.0: `exact_match`, `f1` and the splits score the answers given (the
        best answers cut at `na_prob_thresh`, the threshold `predict`
        applied; 1.0, the official script's default, for a plain dict);
        `best_*` are `find_best_thresh`'s over the un-thresholded answers.
        """
        if not task_info["version_2"]:
            return squad_scores(examples, predictions)
        best = getattr(predictions, "best_answers", None)
        threshold = getattr(predictions, "threshold", None)
        if best is None:
            best = predictions
        if threshold is None:
            threshold = 1.0
        metrics = squad_scores(examples, best, na_probs=getattr(predictions, "na_probs", None),
                               version_2=True, na_prob_threshold=threshold)
        metrics["na_prob_thresh"] = float(threshold)
        return metrics

    def calibrate(self, task_info, metrics):
        """v2.0: stores the dev set's `best_f1_thresh` as `no_answer_threshold` (unless fixed)."""
        if not task_info.get("version_2") or task_info.get("null_score_diff_threshold") is not None:
            return task_info
        return {**task_info, "no_answer_threshold": float(metrics["best_f1_thresh"])}

    def write_predictions(self, predictions, path, examples=()):
        """`predictions.json` (id -> text) and, for v2.0, `na_probs.json` beside it."""
        write_json(path, dict(predictions))
        na_probs = getattr(predictions, "na_probs", None)
        if na_probs is not None:
            write_json(os.path.join(os.path.dirname(path), NA_PROBS_FILE), na_probs)
        return path

    def _threshold(self, task_info):
        threshold = no_answer_threshold(task_info)
        if task_info["version_2"] and threshold is None:
            raise ValueError(
                "This SQuAD v2.0 model has no no-answer threshold yet: it is chosen on the "
                "run's dev set (`calibrate` stores `no_answer_threshold` in task.json), or set "
                "options.null_score_diff_threshold."
            )
        return threshold if threshold is not None else 0.0

    def _serving_arguments(self, task_info, config):
        return dict(sequence_length=config.sequence_length, doc_stride=task_info["doc_stride"],
                    max_query_length=task_info["max_query_length"],
                    max_answer_length=task_info["max_answer_length"],
                    n_best=task_info["n_best_size"], version_2=task_info["version_2"],
                    null_score_diff_threshold=self._threshold(task_info))

    def serving(self, model, vocabulary, task_info, config):
        from spanbert_keras.export.serving.question_answering import question_answering_serving

        return question_answering_serving(model, vocabulary,
                                          **self._serving_arguments(task_info, config))

    def export(self, model, vocabulary, task_info, config, export_dir, overwrite=False):
        from spanbert_keras.export.serving.question_answering import export_question_answerer

        return export_question_answerer(
            model, vocabulary, export_dir, **self._serving_arguments(task_info, config),
            config=export_training(config, task_info), overwrite=overwrite, task=self.name,
        )


TASK = SquadTask()
