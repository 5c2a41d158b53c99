"""The squad task: datasets, the authors' SQuAD v2.0 protocol against the official script, MRQA.

The v2.0 tests feed the same logits to `SquadTask.predict` (through a
stand-in model) and to a transcription of the authors' decoding, and score
both: ours with our metrics, theirs with a transcription of the official
`evaluate-v2.0.py` (tests/squad_reference.py).
"""

import json

import numpy as np
import pytest
from qa_data import squad_json
from qa_data import synthetic_squad
from squad_reference import answers_at_test_time
from squad_reference import authors_predictions
from squad_reference import evaluate

from spanbert_keras.data.qa_features import QuestionAnswerFeatures
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.tasks.base import finetune_config
from spanbert_keras.tasks.squad import TASK

WORDS = sorted({w.strip(".?") for e in synthetic_squad(50) for w in (e["question"] + " " + e["context"]).split()})
VOCABULARY = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "?", *WORDS])
CONFIG = finetune_config({"sequence_length": 24, "batch_size": 4,
                          "options": {"max_query_length": 8, "doc_stride": 4}}, TASK)


def test_labels_point_at_the_answer_in_every_window_that_holds_it():
    examples = synthetic_squad(10, seed=3)
    info = TASK.prepare(examples, VOCABULARY, CONFIG)
    assert info == {"version_2": False, "doc_stride": 4, "max_query_length": 8,
                    "max_answer_length": 30, "n_best_size": 20, "null_score_diff_threshold": None}
    batches = list(TASK.dataset(examples, VOCABULARY, info, CONFIG, training=False).as_numpy_iterator())
    x = {k: np.concatenate([b[0][k] for b in batches]) for k in batches[0][0]}
    y = {k: np.concatenate([b[1][k] for b in batches]) for k in batches[0][1]}
    assert sorted(x) == ["padding_mask", "segment_ids", "token_ids"]
    assert len(x["token_ids"]) > len(examples)  # the passages need several windows of 24
    labelled = np.flatnonzero(y["start_logits"] > 0)
    assert len(labelled) >= len(examples)
    for w in labelled:
        start, end = y["start_logits"][w], y["end_logits"][w]
        answer = [VOCABULARY.tokens[i] for i in x["token_ids"][w, start : end + 1]]
        assert len(answer) == 1 and x["segment_ids"][w, start] == 1
        assert any(answer[0] == e["answers"][0]["text"] for e in examples)


def test_training_batches_are_full_and_shuffled():
    examples = synthetic_squad(30, seed=4)
    info = TASK.prepare(examples, VOCABULARY, CONFIG)
    plain = [b[0]["token_ids"] for b in TASK.dataset(examples, VOCABULARY, info, CONFIG, False)]
    train = [b[0]["token_ids"].numpy() for b in TASK.dataset(examples, VOCABULARY, info, CONFIG, True)]
    windows = sum(len(b) for b in plain)
    assert all(len(b) == 4 for b in train) and len(train) == windows // 4
    assert not np.array_equal(np.concatenate(train), np.concatenate(plain)[: 4 * len(train)])


# ------------------------------------------------------------- SQuAD v2.0

V2 = finetune_config({"sequence_length": 40, "batch_size": 4, "options": {
    "version_2": True, "max_query_length": 12, "doc_stride": 8, "n_best_size": 40,
    "max_answer_length": 5}}, TASK)
FEATURES = QuestionAnswerFeatures(VOCABULARY, 40, doc_stride=8, max_query_length=12)


class TableModel:
    """Stands for the QA model: each window's logits, looked up by its token ids."""

    def __init__(self):
        self.rows = {}

    def predict(self, x, batch_size=None, verbose=0):
        found = [self.rows[row.tobytes()] for row in np.asarray(x["token_ids"])]
        return {"start_logits": np.stack([f[0] for f in found]),
                "end_logits": np.stack([f[1] for f in found])}


def unanswerable(example):
    return dict(example, answers=[], is_impossible=True)


def craft_logits(model, examples, plan, seed):
    """Logits for `examples`: plan[i] = (answer text or None for a wrong word, null - best).

    The span of the chosen word gets +8 on its start and end pieces (in the
    window where it has most context); every window's [CLS] is set so that
    the smallest null score over the example's windows is best + diff.
    Returns the windows and logits (what the oracle reads).
    """
    rng = np.random.default_rng(seed)
    out = {k: v.numpy() for k, v in FEATURES([e["question"] for e in examples],
                                             [e["context"] for e in examples]).items()}
    start = rng.normal(0, 1, out["token_ids"].shape).astype("float32")
    end = rng.normal(0, 1, out["token_ids"].shape).astype("float32")
    for e, (example, (text, diff)) in enumerate(zip(examples, plan)):
        context = example["context"]
        if text is None:  # a word that is not the answer: the first word of the passage
            text = context.split(" ")[0]
            golds = [a["text"] for a in example["answers"]]
            assert text not in golds
        first = context.index(text)
        rows = np.flatnonzero(out["example_index"] == e)
        w, i = next((w, i) for w in rows for i in range(40)
                    if out["char_start"][w, i] == first and out["max_context"][w, i])
        j = next(j for j in range(i, 40) if out["char_end"][w, j] == first + len(text))
        start[w, i] += 8
        end[w, j] += 8
        null = np.float32(start[w, i] + end[w, j] + np.float32(diff))
        for k, row in enumerate(rows):  # the first window holds the smallest null score
            start[row, 0] = end[row, 0] = null / 2 + (0 if k == 0 else rng.uniform(0.5, 2))
    for row, s, t in zip(out["token_ids"], start, end):
        model.rows[row.tobytes()] = (s, t)
    return out, start, end


def reference(examples, out, start, end):
    """The authors' predictions and score differences on the same logits."""
    return authors_predictions([e["context"] for e in examples], [e["id"] for e in examples],
                               out, start, end, n_best_size=40, max_answer_length=5)


def dataset_json(examples):
    return json.loads(squad_json(examples, version="2.0"))["data"]


def official_at_best(examples, preds, diffs):
    """The script's output at its own `best_f1_thresh` (our threshold is the same score in float32)."""
    threshold = evaluate(dataset_json(examples), preds, diffs)["best_f1_thresh"]
    return evaluate(dataset_json(examples), preds, diffs, threshold)


def assert_official(ours, theirs):
    """Our metrics (fractions) equal the official script's (x 100) on every key it prints."""
    for key, value in theirs.items():
        expected = value if key.endswith(("_thresh", "total")) else value / 100
        ours_key = "exact_match" if key == "exact" else key
        assert ours[ours_key] == pytest.approx(expected, rel=1e-5, abs=1e-6), key


def test_v2_five_questions_the_old_cut_at_zero_scored_0_40():
    examples = synthetic_squad(5, seed=11, prefix="r")
    examples[3], examples[4] = unanswerable(examples[3]), unanswerable(examples[4])
    plan = [(examples[0]["answers"][0]["text"], 1.0), (examples[1]["answers"][0]["text"], 2.0),
            (examples[2]["answers"][0]["text"], 3.0), (None, 5.0), (None, 6.0)]
    model = TableModel()
    out, start, end = craft_logits(model, examples, plan, seed=0)
    info = TASK.prepare(examples, VOCABULARY, V2)
    predictions = TASK.predict(model, examples, VOCABULARY, info, V2)
    metrics = TASK.score(predictions, examples, info)

    preds, diffs = reference(examples, out, start, end)
    official = official_at_best(examples, preds, diffs)
    assert official["best_f1"] == 100.0 and official["best_f1_thresh"] == pytest.approx(3.0, abs=1e-4)
    assert_official(metrics, official)
    assert metrics["best_f1"] == 1.0 and metrics["f1"] == 1.0
    assert dict(predictions) == answers_at_test_time(preds, diffs, official["best_f1_thresh"])
    # The old rule: cut at 0 first, then the threshold search (na = sigmoid(diff)).
    cut = {q: "" if diffs[q] > 0 else t for q, t in preds.items()}
    old = evaluate(dataset_json(examples), cut, {q: 1 / (1 + np.exp(-d)) for q, d in diffs.items()})
    assert old["best_f1"] == pytest.approx(40.0)


def v2_sets():
    """A dev set whose best threshold is positive, and a second file."""
    dev = synthetic_squad(24, seed=12, prefix="d")
    test = synthetic_squad(16, seed=13, prefix="t")
    plans = []
    for examples, seed in ((dev, 1), (test, 2)):
        rng = np.random.default_rng(seed)
        plan = []
        for i, example in enumerate(examples):
            kind = i % 3  # right answer / wrong answer / unanswerable
            if kind == 2:
                examples[i] = unanswerable(example)
            right = kind == 0
            low, high = (-3.0, 4.0) if right else (1.0, 8.0)
            plan.append((example["answers"][0]["text"] if right else None,
                         float(rng.uniform(low, high))))
        plans.append(plan)
    return dev, test, plans


def test_v2_dev_threshold_search_and_test_answers_are_the_authors():
    dev, test, (dev_plan, test_plan) = v2_sets()
    model = TableModel()
    dev_windows = craft_logits(model, dev, dev_plan, seed=3)
    test_windows = craft_logits(model, test, test_plan, seed=4)
    info = TASK.prepare(dev, VOCABULARY, V2)
    assert info["null_score_diff_threshold"] is None and TASK.metric_name(info, V2) == "best_f1"

    predictions = TASK.predict(model, dev, VOCABULARY, info, V2)
    metrics = TASK.score(predictions, dev, info)
    preds, diffs = reference(dev, *dev_windows)
    official = official_at_best(dev, preds, diffs)
    threshold = official["best_f1_thresh"]
    assert threshold > 0.5  # the crafted set: cutting at 0 would lose right answers
    assert official["best_f1"] > evaluate(dataset_json(dev), preds, diffs, 0.0)["f1"]
    assert_official(metrics, official)
    assert metrics["na_prob_thresh"] == pytest.approx(threshold, abs=1e-4)
    assert predictions.best_answers == preds
    assert predictions.na_probs == pytest.approx(diffs, abs=1e-4)
    assert dict(predictions) == answers_at_test_time(preds, diffs, threshold)

    calibrated = TASK.calibrate(info, metrics)
    assert calibrated["no_answer_threshold"] == metrics["best_f1_thresh"]
    assert calibrated == {**info, "no_answer_threshold": calibrated["no_answer_threshold"]}
    again = TASK.predict(model, dev, VOCABULARY, calibrated, V2)
    assert dict(again) == dict(predictions) and TASK.score(again, dev, calibrated) == metrics

    # A later file: the dev threshold applied, as the authors answer test questions.
    later = TASK.predict(model, test, VOCABULARY, calibrated, V2)
    test_preds, test_diffs = reference(test, *test_windows)
    assert min(abs(d - threshold) for d in test_diffs.values()) > 1e-3  # no float ties
    assert dict(later) == answers_at_test_time(test_preds, test_diffs, threshold)
    assert 0 < sum(1 for t in later.values() if t == "") < len(test)
    later_metrics = TASK.score(later, test, calibrated)
    assert_official(later_metrics, evaluate(dataset_json(test), test_preds, test_diffs, threshold))
    assert later_metrics["na_prob_thresh"] == calibrated["no_answer_threshold"]


def test_v2_files_give_the_official_scripts_figures(tmp_path):
    dev, _, (plan, _) = v2_sets()
    model = TableModel()
    craft_logits(model, dev, plan, seed=3)
    info = TASK.prepare(dev, VOCABULARY, V2)
    predictions = TASK.predict(model, dev, VOCABULARY, info, V2)
    metrics = TASK.score(predictions, dev, info)
    TASK.write_predictions(predictions, str(tmp_path / "predictions.json"))
    texts = json.loads((tmp_path / "predictions.json").read_text(encoding="utf-8"))
    na_probs = json.loads((tmp_path / "na_probs.json").read_text(encoding="utf-8"))
    assert texts == dict(predictions) and na_probs == predictions.na_probs
    assert min(na_probs.values()) < 0 < max(na_probs.values())  # raw differences
    # evaluate-v2.0.py DATA predictions.json --na-prob-file na_probs.json --na-prob-thresh T
    assert_official(metrics, official_at_best(dev, texts, na_probs))


def test_v2_a_fixed_threshold_is_kept_and_applied():
    dev, _, (plan, _) = v2_sets()
    model = TableModel()
    _, start, end = craft_logits(model, dev, plan, seed=3)
    config = finetune_config({**V2.to_dict(), "options": {
        **V2.options, "null_score_diff_threshold": 0.0}}, TASK)
    info = TASK.prepare(dev, VOCABULARY, config)
    predictions = TASK.predict(model, dev, VOCABULARY, info, config)
    metrics = TASK.score(predictions, dev, info)
    assert TASK.calibrate(info, metrics) == info and metrics["na_prob_thresh"] == 0.0
    assert dict(predictions) == {q: "" if predictions.na_probs[q] > 0 else t
                                 for q, t in predictions.best_answers.items()}
    with pytest.raises(ValueError, match="null_score_diff_threshold must be of type float or null"):
        TASK.options(finetune_config({"options": {"null_score_diff_threshold": "high"}}, TASK))


def test_v2_export_needs_a_threshold_and_v1_selects_on_f1(tmp_path):
    info = TASK.prepare(synthetic_squad(3), VOCABULARY, V2)
    with pytest.raises(ValueError, match="no no-answer threshold yet"):
        TASK.export(None, VOCABULARY, info, V2, str(tmp_path / "qa" / "1"))
    assert TASK.metric_name(TASK.prepare(synthetic_squad(3), VOCABULARY, CONFIG), CONFIG) == "f1"
    assert (TASK.metric_name({}, V2), TASK.metric_name({}, CONFIG)) == ("best_f1", "f1")
    assert TASK.calibrate({**info, "version_2": False}, {"f1": 0.5}) == {**info, "version_2": False}


def test_the_papers_qa_defaults():
    config = finetune_config(None, TASK)
    options = TASK.options(config)
    assert config.sequence_length == 512
    assert (options.doc_stride, options.max_query_length, options.n_best_size,
            options.max_answer_length) == (128, 64, 20, 30)


# ------------------------------------------------------------------- MRQA


def test_mrqa_trains_on_the_earliest_span_over_all_detected_answers(tmp_path):
    context = "The fox was red. Emma saw the red fox. The owl was grey."
    spans = {"red fox": [[30, 36]], "fox": [[34, 36], [4, 6]]}  # earliest: "fox" at 4
    line = {"context": context, "qas": [{
        "qid": "m1", "question": "Which animal was red?", "answers": ["red fox", "fox"],
        "detected_answers": [{"text": t, "char_spans": s} for t, s in spans.items()]}]}
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"header": {}}) + "\n" + json.dumps(line) + "\n", encoding="utf-8")
    examples, problems = TASK.read(str(path))
    assert problems == []
    earliest = min(tuple(s) for spans_ in spans.values() for s in spans_)  # as run_mrqa.py sorts
    config = finetune_config({"sequence_length": 24, "options": {"max_query_length": 8,
                                                                 "doc_stride": 4}}, TASK)
    info = TASK.prepare(examples, VOCABULARY, config)
    (x, y), = TASK.dataset(examples, VOCABULARY, info, config, training=False).as_numpy_iterator()
    windows = QuestionAnswerFeatures(VOCABULARY, 24, 4, 8)([examples[0]["question"]], [context])
    labelled = np.flatnonzero(y["start_logits"] > 0)
    assert len(labelled) >= 1
    for w in labelled:
        s, e = y["start_logits"][w], y["end_logits"][w]
        assert (int(windows["char_start"][w, s]), int(windows["char_end"][w, e]) - 1) == earliest
