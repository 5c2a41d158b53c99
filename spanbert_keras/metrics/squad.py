"""SQuAD scoring with the official scripts' semantics (v1.1 and v2.0).

Answers are normalised (lower-case, punctuation removed, the articles a / an
/ the removed, whitespace collapsed); exact match and token-overlap F1 are
taken against every gold answer and the best kept. v1.1 (`evaluate-v1.1.py`)
scores an empty prediction 0; v2.0 (`evaluate-v2.0.py`) treats an
unanswerable question's gold as the empty answer, so predicting "" scores 1
there, and reports HasAns / NoAns splits and, from a no-answer score per
question (its `--na-prob-file`), the threshold that maximises EM and F1
("best_exact", "best_f1", the script's `find_best_thresh`).

The figures are fractions in [0, 1] (the official scripts print them x 100);
`*_total` are counts and `*_thresh` values of the no-answer scores (for the
`squad` task: the authors' raw `null score - best span score`, any real
number, not a probability).
"""

import collections
import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text):
    """Lower-case, drop punctuation and articles, collapse whitespace (official rule).

    Example:

    >>> normalize_answer("The  Denver Broncos!")
    'denver broncos'
    """
    text = "".join(c for c in text.lower() if c not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction, gold):
    """1.0 if the normalised texts are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction, gold, empty_matches_empty=False):
    """Token-overlap F1 of the normalised texts.

    `empty_matches_empty=False` is v1.1's rule (no common token: 0);
    `True` is v2.0's (if either side is empty, 1 when both are, else 0).

    Example:

    >>> round(f1_score("the big red ball", "a red ball"), 4)
    0.8
    """
    predicted = normalize_answer(prediction).split()
    golden = normalize_answer(gold).split()
    if empty_matches_empty and (not predicted or not golden):
        return float(predicted == golden)
    common = collections.Counter(predicted) & collections.Counter(golden)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(golden)
    return 2 * precision * recall / (precision + recall)


def _gold_texts(example, version_2):
    texts = [a["text"] for a in example["answers"]]
    if version_2:  # v2.0: answers normalising to "" do not count; none = unanswerable.
        texts = [t for t in texts if normalize_answer(t)] or [""]
    return texts


def raw_scores(examples, predictions, version_2=False):
    """Per-question (exact, f1) dicts keyed by id, each the best over the gold answers.

    A question missing from `predictions` scores 0 (as the v1.1 script does;
    v2.0's skips it with a message, so give every id).
    """
    exact, f1 = {}, {}
    for example in examples:
        qid = example["id"]
        prediction = predictions.get(qid)
        if prediction is None:
            exact[qid] = f1[qid] = 0.0
            continue
        golds = _gold_texts(example, version_2)
        exact[qid] = max(exact_match(prediction, g) for g in golds)
        f1[qid] = max(f1_score(prediction, g, empty_matches_empty=version_2) for g in golds)
    return exact, f1


def _has_answer(example):
    return bool(example["answers"])  # the v2.0 script's rule: any gold answer at all


def _mean(values, ids):
    return sum(values[i] for i in ids) / len(ids) if ids else 0.0


def best_threshold(predictions, scores, na_probs, has_answer):
    """The no-answer threshold that maximises a score (the v2.0 script's `find_best_thresh`).

    Starting from "no answer for everything" (score = the share of
    unanswerable questions), questions are switched to their predicted answer
    in increasing order of no-answer score (ties in `na_probs`' order); the
    best total is kept. `predictions` are the un-thresholded answers.

    Returns:
        (best score as a fraction, the threshold: the no-answer score at
        which it is first reached; 0.0 if answering nothing is best, as the
        official script returns).
    """
    if not scores:
        return 0.0, 0.0
    current = best = sum(1 for qid in scores if not has_answer[qid])
    threshold = 0.0
    for qid in sorted(na_probs, key=lambda q: na_probs[q]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            change = scores[qid]
        else:
            change = -1 if predictions.get(qid) else 0
        current += change
        if current > best:
            best, threshold = current, na_probs[qid]
    return best / len(scores), threshold


def squad_scores(examples, predictions, na_probs=None, version_2=False, na_prob_threshold=1.0):
    """The official SQuAD metrics of `predictions` (id -> answer text).

    Args:
        examples: the reader's example dicts (gold answers).
        predictions: dict id -> predicted text ("" for no answer).
        na_probs: v2.0: dict id -> no-answer score (default: 0 for every
            question, as the v2.0 script does without a file).
        version_2: bool, v2.0 semantics and fields.
        na_prob_threshold: v2.0: a question whose no-answer score exceeds
            it counts as predicted unanswerable in `exact_match`, `f1` and
            the splits (the script's `--na-prob-thresh`, default 1.0); the
            `best_*` figures are over `predictions` as given.

    Returns:
        v1.1: `{"exact_match", "f1", "total"}`. v2.0 also `HasAns_exact`,
        `HasAns_f1`, `HasAns_total`, `NoAns_exact`, `NoAns_f1`,
        `NoAns_total` (when there are such questions), `best_exact`,
        `best_exact_thresh`, `best_f1`, `best_f1_thresh`.

    Example:

    >>> examples = [
    ...     {"id": "a", "answers": [{"text": "Denver Broncos"}, {"text": "Broncos"}]},
    ...     {"id": "b", "answers": []}]
    >>> scores = squad_scores(examples, {"a": "the Broncos", "b": ""},
    ...                       na_probs={"a": 0.2, "b": 0.9}, version_2=True)
    >>> scores["exact_match"], scores["HasAns_exact"], scores["NoAns_exact"], scores["best_f1"]
    (1.0, 1.0, 1.0, 1.0)
    """
    exact, f1 = raw_scores(examples, predictions, version_2)
    ids = [e["id"] for e in examples]
    if not version_2:
        return {"exact_match": _mean(exact, ids), "f1": _mean(f1, ids), "total": len(ids)}
    has_answer = {e["id"]: _has_answer(e) for e in examples}
    na_probs = dict(na_probs) if na_probs is not None else {qid: 0.0 for qid in ids}
    missing = [qid for qid in ids if qid not in na_probs]
    if missing:
        raise ValueError(f"No no-answer score for {len(missing)} question(s), e.g. {missing[0]!r}.")

    def thresholded(scores):
        return {
            qid: float(not has_answer[qid]) if na_probs[qid] > na_prob_threshold else s
            for qid, s in scores.items()
        }

    exact_t, f1_t = thresholded(exact), thresholded(f1)
    result = {"exact_match": _mean(exact_t, ids), "f1": _mean(f1_t, ids), "total": len(ids)}
    for name, subset in (("HasAns", [q for q in ids if has_answer[q]]),
                         ("NoAns", [q for q in ids if not has_answer[q]])):
        if subset:
            result.update({f"{name}_exact": _mean(exact_t, subset), f"{name}_f1": _mean(f1_t, subset),
                           f"{name}_total": len(subset)})
    result["best_exact"], result["best_exact_thresh"] = best_threshold(
        predictions, exact, na_probs, has_answer)
    result["best_f1"], result["best_f1_thresh"] = best_threshold(predictions, f1, na_probs, has_answer)
    return result
