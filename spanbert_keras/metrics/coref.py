"""CoNLL-2012 coreference scores: MUC, B-cubed, CEAF-e and their mean, the CoNLL F1.

The definitions of the reference scorer, v8.01 (`scorer.pl` of
conll/reference-coreference-scorers, Pradhan et al. 2014), the scores of the
CoNLL-2012 shared task on OntoNotes. A document has a key (gold) and a
response (predicted) clustering: each cluster (entity) a collection of
mentions, a mention identified by its span, in practice a `(start, end)`
tuple (a 2-item list is read as the tuple; any hashable works). Mentions match
only exactly: `(3, 6)` and `(3, 5)` are different mentions. With `K` the key
clusters, `R` the response clusters and `|k & r|` the mentions two clusters
share:

- MUC (Vilain et al. 1995), links: recall = sum over k of (|k| - p(k)) /
  sum over k of (|k| - 1), where p(k) is the number of parts the response
  cuts k into (a key mention the response lacks is a part of its own);
  precision is the same with the roles swapped. Both numerators equal the
  sum over pairs (k, r) of max(|k & r| - 1, 0); singletons have no link;
- B-cubed (Bagga and Baldwin 1998), mentions: recall = sum over (k, r) of
  |k & r|^2 / |k|, over the number of key mentions; precision = sum of
  |k & r|^2 / |r|, over the number of response mentions;
- CEAF-e (Luo 2005), entities: phi4(k, r) = 2 |k & r| / (|k| + |r|); the
  one-to-one alignment of key and response clusters with the largest sum of
  phi4 (an optimal assignment, scipy's `linear_sum_assignment`; the scorer
  uses the Munkres algorithm); recall = that sum / |K|, precision = that
  sum / |R|;
- the CoNLL F1 is the mean of the three F1s.

Singletons count as given, in the key and in the response. Mentions in one
side only (twinless) need no special rule (v8.01 scores B-cubed and CEAF-e on
the clusterings as given): they count in their own side's denominators and
score nothing; in MUC a twinless response mention adds a link to the precision
denominator when its cluster has other mentions.

A corpus is scored as the scorer does: each metric's recall numerator and
denominator and precision numerator and denominator are summed over the
documents, then recall = numerator / denominator (0.0 when the denominator is
0), the same for precision, and F1 = 2PR / (P + R) (0.0 when P + R = 0). All
scores are fractions in [0, 1], not percentages.

Repeated mentions: a mention listed twice in one cluster counts once; a
mention in two clusters of the same side raises `ValueError`. The scorer does
not score that either: it drops the later copies of a repeated response
mention (and refuses to score a run with more than 10 repeats), and only
prints a warning for a repeated key mention, whose copies it then numbers
inconsistently. Empty clusters are ignored, as the scorer ignores them.
"""

import collections
import dataclasses
import math

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclasses.dataclass(frozen=True)
class Counts:
    """The four counts of one metric, summed over documents with `+` (or `sum`).

    Attributes:
        recall_numerator: float (MUC: the common links; B-cubed and CEAF-e:
            a sum of fractions).
        recall_denominator: int, the key's links (MUC), mentions (B-cubed) or
            clusters (CEAF-e).
        precision_numerator: float.
        precision_denominator: int, the same of the response.

    Example:

    >>> from spanbert_keras.metrics.coref import Counts
    >>> total = Counts(1, 2, 1, 1) + Counts(2, 2, 2, 4)
    >>> total
    Counts(recall_numerator=3, recall_denominator=4, precision_numerator=3, precision_denominator=5)
    >>> total.recall, total.precision, round(total.f1, 4)
    (0.75, 0.6, 0.6667)
    >>> Counts().f1
    0.0
    """

    recall_numerator: float = 0
    recall_denominator: int = 0
    precision_numerator: float = 0
    precision_denominator: int = 0

    def __add__(self, other):
        if not isinstance(other, Counts):
            return NotImplemented
        return Counts(
            self.recall_numerator + other.recall_numerator,
            self.recall_denominator + other.recall_denominator,
            self.precision_numerator + other.precision_numerator,
            self.precision_denominator + other.precision_denominator,
        )

    def __radd__(self, other):
        # `sum(counts)` starts from 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    @property
    def recall(self):
        """recall_numerator / recall_denominator, 0.0 when the denominator is 0."""
        if not self.recall_denominator:
            return 0.0
        return float(self.recall_numerator / self.recall_denominator)

    @property
    def precision(self):
        """precision_numerator / precision_denominator, 0.0 when the denominator is 0."""
        if not self.precision_denominator:
            return 0.0
        return float(self.precision_numerator / self.precision_denominator)

    @property
    def f1(self):
        """2PR / (P + R), 0.0 when P + R = 0."""
        recall, precision = self.recall, self.precision
        if recall + precision == 0:
            return 0.0
        return 2 * precision * recall / (precision + recall)


def muc(key, response):
    """The MUC counts of one document: common links over the key's and the response's links.

    Args:
        key: the gold clusters, an iterable of clusters, each an iterable of
            mentions (`(start, end)` tuples or 2-item lists, or any hashable).
        response: the predicted clusters, the same way.

    Returns:
        `Counts`.

    Raises:
        ValueError: a mention in two clusters of the key or of the response.

    Example:

    >>> from spanbert_keras.metrics.coref import muc
    >>> key = [[(0, 1), (3, 6), (9, 9)], [(11, 12), (14, 14)]]
    >>> response = [[(0, 1), (3, 6)], [(9, 9), (11, 12), (14, 14)], [(20, 21)]]
    >>> counts = muc(key, response)
    >>> counts
    Counts(recall_numerator=2, recall_denominator=3, precision_numerator=2, precision_denominator=3)
    >>> round(counts.f1, 4)
    0.6667
    """
    key, response = _clusters(key, "key"), _clusters(response, "response")
    common = sum(shared - 1 for shared in _overlaps(key, response).values())
    return Counts(
        common,
        sum(len(cluster) - 1 for cluster in key),
        common,
        sum(len(cluster) - 1 for cluster in response),
    )


def b_cubed(key, response):
    """The B-cubed counts of one document, summed over mentions.

    Args:
        key: the gold clusters (see `muc`).
        response: the predicted clusters.

    Returns:
        `Counts`: recall numerator sum |k & r|^2 / |k| over the number of key
        mentions, precision numerator sum |k & r|^2 / |r| over the number of
        response mentions.

    Raises:
        ValueError: a mention in two clusters of the key or of the response.

    Example:

    >>> from spanbert_keras.metrics.coref import b_cubed
    >>> key = [[(0, 1), (3, 6), (9, 9)], [(11, 12), (14, 14)]]
    >>> response = [[(0, 1), (3, 6)], [(9, 9), (11, 12), (14, 14)], [(20, 21)]]
    >>> counts = b_cubed(key, response)
    >>> round(counts.recall, 4), round(counts.precision, 4)
    (0.7333, 0.6111)
    """
    key, response = _clusters(key, "key"), _clusters(response, "response")
    overlaps = _overlaps(key, response)
    return Counts(
        math.fsum(shared**2 / len(key[k]) for (k, _), shared in overlaps.items()),
        sum(len(cluster) for cluster in key),
        math.fsum(shared**2 / len(response[r]) for (_, r), shared in overlaps.items()),
        sum(len(cluster) for cluster in response),
    )


def ceaf_e(key, response):
    """The entity-based CEAF counts of one document (phi4 similarity, optimal alignment).

    Args:
        key: the gold clusters (see `muc`).
        response: the predicted clusters.

    Returns:
        `Counts`: both numerators the largest sum of phi4(k, r) =
        2 |k & r| / (|k| + |r|) over one-to-one alignments of key and
        response clusters; denominators the numbers of key and of response
        clusters.

    Raises:
        ValueError: a mention in two clusters of the key or of the response.

    Example:

    >>> from spanbert_keras.metrics.coref import ceaf_e
    >>> key = [[(0, 1), (3, 6), (9, 9)], [(11, 12), (14, 14)]]
    >>> response = [[(0, 1), (3, 6)], [(9, 9), (11, 12), (14, 14)], [(20, 21)]]
    >>> counts = ceaf_e(key, response)
    >>> round(counts.recall_numerator, 4), counts.recall_denominator, counts.precision_denominator
    (1.6, 2, 3)
    """
    key, response = _clusters(key, "key"), _clusters(response, "response")
    overlaps = _overlaps(key, response)
    aligned = 0.0
    if overlaps:
        # Clusters sharing no mention with the other side score 0 whatever they are aligned
        # to: the alignment is searched among the others only.
        rows = sorted({k for k, _ in overlaps})
        columns = sorted({r for _, r in overlaps})
        row_of = {k: i for i, k in enumerate(rows)}
        column_of = {r: j for j, r in enumerate(columns)}
        similarity = np.zeros((len(rows), len(columns)))
        for (k, r), shared in overlaps.items():
            similarity[row_of[k], column_of[r]] = 2 * shared / (len(key[k]) + len(response[r]))
        chosen_rows, chosen_columns = linear_sum_assignment(similarity, maximize=True)
        aligned = math.fsum(similarity[chosen_rows, chosen_columns].tolist())
    return Counts(aligned, len(key), aligned, len(response))


def coref_scores(documents):
    """MUC, B-cubed and CEAF-e recall / precision / F1 and the CoNLL F1 of a corpus.

    Args:
        documents: iterable of `(key_clusters, response_clusters)`, one pair
            per document (clusters as in `muc`; mentions of different
            documents never match).

    Returns:
        A dict of floats in [0, 1]: `muc_recall`, `muc_precision`, `muc_f1`,
        `b_cubed_recall`, `b_cubed_precision`, `b_cubed_f1`,
        `ceaf_e_recall`, `ceaf_e_precision`, `ceaf_e_f1` and `conll_f1`
        (the mean of the three F1s), each metric's counts summed over the
        documents first.

    Raises:
        ValueError: a mention in two clusters of the key or of the response
            of one document, or a document that is not a (key, response) pair.

    Example:

    >>> from spanbert_keras.metrics.coref import coref_scores
    >>> key = [[(0, 1), (3, 6), (9, 9)], [(11, 12), (14, 14)]]
    >>> response = [[(0, 1), (3, 6)], [(9, 9), (11, 12), (14, 14)], [(20, 21)]]
    >>> scores = coref_scores([(key, response), ([[[2, 2], [5, 7]]], [[[2, 2], [5, 7]]])])
    >>> scores["muc_recall"], scores["muc_precision"]
    (0.75, 0.75)
    >>> round(scores["conll_f1"], 4)
    0.7495
    """
    totals = {"muc": Counts(), "b_cubed": Counts(), "ceaf_e": Counts()}
    for index, document in enumerate(documents):
        try:
            key, response = document
        except (TypeError, ValueError):
            raise ValueError(
                f"Document {index} is not a (key_clusters, response_clusters) pair."
            ) from None
        key, response = _clusters(key, "key"), _clusters(response, "response")
        totals["muc"] += muc(key, response)
        totals["b_cubed"] += b_cubed(key, response)
        totals["ceaf_e"] += ceaf_e(key, response)
    scores = {}
    for name, counts in totals.items():
        scores[f"{name}_recall"] = counts.recall
        scores[f"{name}_precision"] = counts.precision
        scores[f"{name}_f1"] = counts.f1
    scores["conll_f1"] = (scores["muc_f1"] + scores["b_cubed_f1"] + scores["ceaf_e_f1"]) / 3
    return scores


def _clusters(clusters, side):
    """The clusters as a list of non-empty sets of mentions, lists read as tuples."""
    owner = {}
    result = []
    for index, cluster in enumerate(clusters):
        mentions = set()
        for mention in cluster:
            if isinstance(mention, list):
                mention = tuple(mention)
            first = owner.setdefault(mention, index)
            if first != index:
                raise ValueError(
                    f"Mention {mention!r} is in {side} clusters {first} and {index}: a mention "
                    f"belongs to one entity. The CoNLL reference scorer does not score this "
                    f"either ({_REPEATS[side]}); remove the repeat before scoring."
                )
            mentions.add(mention)
        if mentions:
            result.append(mentions)
    return result


_REPEATS = {
    "key": "it warns of a repeated key mention, then numbers its copies inconsistently",
    "response": "it drops the later copies of a repeated response mention and refuses to "
    "score a run with more than 10 repeats",
}


def _overlaps(key, response):
    """{(key cluster index, response cluster index): number of shared mentions}, non-zero only."""
    cluster_of = {mention: k for k, cluster in enumerate(key) for mention in cluster}
    overlaps = collections.Counter()
    for r, cluster in enumerate(response):
        for mention in cluster:
            k = cluster_of.get(mention)
            if k is not None:
                overlaps[k, r] += 1
    return overlaps
