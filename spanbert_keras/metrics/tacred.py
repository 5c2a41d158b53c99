"""The TACRED scorer: micro precision, recall and F1 over every relation but `no_relation`.

The definition of the official scorer (`score.py` of the TACRED release,
Zhang et al. 2017), which SpanBERT reports: for each example,

- gold and prediction both `no_relation`: nothing is counted;
- gold `no_relation`, a relation predicted: one guess (a false positive);
- a gold relation, `no_relation` predicted: one gold (a false negative);
- both relations: one guess and one gold, and one correct if they are equal.

precision = correct / guessed (1.0 when nothing was guessed), recall =
correct / gold (0.0 without gold relations), F1 their harmonic mean (0.0 when
both are 0).
"""

NO_RELATION = "no_relation"


def score_tacred(gold, predicted, negative_label=NO_RELATION):
    """Micro precision / recall / F1 of relation labels, the negative label excluded.

    Args:
        gold: sequence of str, the gold relation of each example.
        predicted: sequence of str, the predicted relation of each example
            (same order and length).
        negative_label: str, the "no relation" label (`no_relation`).

    Returns:
        A dict of floats: `precision`, `recall`, `micro_f1` (fractions in
        [0, 1]), and the counts `correct`, `guessed`, `gold`.

    Example:

    >>> from spanbert_keras.metrics.tacred import score_tacred
    >>> scores = score_tacred(["per:title", "no_relation", "org:founded"],
    ...                       ["per:title", "per:age", "no_relation"])
    >>> scores["precision"], scores["recall"], scores["micro_f1"]
    (0.5, 0.5, 0.5)
    """
    gold, predicted = list(gold), list(predicted)
    if len(gold) != len(predicted):
        raise ValueError(
            f"`gold` and `predicted` must have the same length. Received: "
            f"{len(gold)} gold labels and {len(predicted)} predictions."
        )
    correct = guessed = relations = 0
    for gold_label, guess in zip(gold, predicted):
        if guess != negative_label:
            guessed += 1
        if gold_label != negative_label:
            relations += 1
            if guess == gold_label:
                correct += 1
    precision = correct / guessed if guessed else 1.0
    recall = correct / relations if relations else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "micro_f1": f1,
        "correct": float(correct),
        "guessed": float(guessed),
        "gold": float(relations),
    }
