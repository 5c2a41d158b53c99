"""Entity-level precision, recall and F1 of tag sequences, as `seqeval` computes them.

`seqeval`'s default mode (the CoNLL `conlleval` semantics, what
`seqeval.metrics.f1_score(y_true, y_pred)` returns), reproduced rule for
rule and tested against `seqeval` 1.2.2 itself:

- a tag is `PREFIX-TYPE` with PREFIX one of B, I, E, S (BIO / IOB2 use B and
  I), or `O`;
- an entity ends where the previous tag was E or S, where B or I is followed
  by B, S or O, or where the type changes; one starts at B or S, at an I or
  E after O, E or S, or where the type changes. So an `I-X` that follows `O`
  or another type starts an entity (lenient, as conlleval), and `B-X I-Y` is
  two entities;
- an entity is (sentence, type, first token, last token); an entity at the
  end of a sentence ends there;
- micro averages over all types: precision = |gold & predicted| /
  |predicted|, recall = |gold & predicted| / |gold|, F1 = 2PR / (P + R),
  each 0.0 where its denominator is 0 (seqeval's "zero_division" default).
"""

PREFIXES = ("B", "I", "E", "S")


def entities(tags):
    """The entities of one sentence's tags: a list of `(type, start, end)`, end inclusive.

    Args:
        tags: sequence of str (`"O"`, `"B-PER"`, `"I-PER"`, ...).

    Raises:
        ValueError: a tag that is neither `O` nor `PREFIX-TYPE`.

    Example:

    >>> from spanbert_keras.metrics.ner import entities
    >>> entities(["B-PER", "I-PER", "O", "I-LOC", "B-ORG", "I-LOC"])
    [('PER', 0, 1), ('LOC', 3, 3), ('ORG', 4, 4), ('LOC', 5, 5)]
    """
    found = []
    previous_prefix, previous_type, begin = "O", "", 0
    for index, tag in enumerate(list(tags) + ["O"]):
        prefix, type_ = split_tag(tag)
        if _ends(previous_prefix, prefix, previous_type, type_):
            found.append((previous_type, begin, index - 1))
        if _starts(previous_prefix, prefix, previous_type, type_):
            begin = index
        previous_prefix, previous_type = prefix, type_
    return found


def split_tag(tag):
    """`("B", "PER")` for `"B-PER"`, `("O", "_")` for `"O"` (seqeval's split).

    >>> from spanbert_keras.metrics.ner import split_tag
    >>> split_tag("I-MISC"), split_tag("O")
    (('I', 'MISC'), ('O', '_'))
    """
    if not isinstance(tag, str) or not (
        tag == "O" or (tag[:1] in PREFIXES and tag[1:2] == "-" and len(tag) > 2)
    ):
        raise ValueError(
            f"{tag!r} is not an entity tag: expected 'O' or PREFIX-TYPE with PREFIX in "
            f"{PREFIXES} (e.g. 'B-PER', 'I-PER')."
        )
    return tag[0], tag[2:] if tag != "O" else "_"


def _ends(previous_prefix, prefix, previous_type, type_):
    if previous_prefix in ("E", "S"):
        return True
    if previous_prefix in ("B", "I") and prefix in ("B", "S", "O"):
        return True
    return previous_prefix != "O" and previous_type != type_


def _starts(previous_prefix, prefix, previous_type, type_):
    if prefix in ("B", "S"):
        return True
    if previous_prefix in ("E", "S", "O") and prefix in ("I", "E"):
        return True
    return prefix != "O" and previous_type != type_


def score_entities(gold, predicted):
    """Entity-level micro precision / recall / F1 of tag sequences (seqeval's default).

    Args:
        gold: list of sentences, each a list of tags.
        predicted: the predicted tags, same sentences and lengths.

    Returns:
        A dict of floats: `precision`, `recall`, `f1`, and the counts
        `correct`, `predicted`, `gold` (entities).

    Raises:
        ValueError: different numbers of sentences, a sentence whose
            predicted tags differ in length from its gold tags, or a tag that
            is not an entity tag.

    Example:

    >>> from spanbert_keras.metrics.ner import score_entities
    >>> scores = score_entities([["B-PER", "I-PER", "O", "B-LOC"]],
    ...                         [["B-PER", "I-PER", "O", "B-ORG"]])
    >>> scores["precision"], scores["recall"], scores["f1"]
    (0.5, 0.5, 0.5)
    """
    gold, predicted = list(gold), list(predicted)
    if len(gold) != len(predicted):
        raise ValueError(
            f"`gold` has {len(gold)} sentences but `predicted` has {len(predicted)}."
        )
    gold_entities, predicted_entities = set(), set()
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted)):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(
                f"Sentence {index} has {len(gold_tags)} gold tags but "
                f"{len(predicted_tags)} predicted tags."
            )
        gold_entities.update((index,) + e for e in entities(gold_tags))
        predicted_entities.update((index,) + e for e in entities(predicted_tags))
    correct = len(gold_entities & predicted_entities)
    precision = correct / len(predicted_entities) if predicted_entities else 0.0
    recall = correct / len(gold_entities) if gold_entities else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "correct": float(correct),
        "predicted": float(len(predicted_entities)),
        "gold": float(len(gold_entities)),
    }

