"""CoNLL-2012 coreference scores against the reference scorer's own test cases and scorch.

1. The test cases of the reference scorer (conll/reference-coreference-scorers,
   `test/CorefMetricTestConfig.pm`, cases A1 to N6, with the clusterings of
   `test/TestCases.README`): every MUC, B-cubed and CEAF-e expectation the
   file gives. The key of the A cases has the spans of `TC-A.key` (the
   "LuoTestCase" document, tokens counted over the whole document as the
   scorer counts them). The response files and the other keys were not at
   hand, so their mentions are the README's letters, each given a span here
   (the A responses' extra mentions on TC-A's junk tokens); the scores depend
   only on which mentions are equal, which the letters fix.
2. scorch 0.2.0 (an independent implementation of the same definitions) on
   random documents, one by one and merged into corpora.
"""

import statistics

import numpy as np
import pytest
from scorch import scores as scorch_scores

from spanbert_keras.metrics.coref import Counts
from spanbert_keras.metrics.coref import b_cubed
from spanbert_keras.metrics.coref import ceaf_e
from spanbert_keras.metrics.coref import coref_scores
from spanbert_keras.metrics.coref import muc

METRICS = {"muc": muc, "bcub": b_cubed, "ceafe": ceaf_e}

# TC-A.key: "a1 a2 junk b1 b2 b3 b4 jnk ." then "c jnk d1 d2 jnk e jnk f1 f2 f3 .", the
# scorer numbering tokens over the document. x, y, z (false alarms) are junk tokens; B
# overlaps b (A5, A6), while in A7 to A9 the response repeats b's own span.
TC_A_SPANS = {
    "a": (0, 1), "b": (3, 6), "c": (9, 9), "d": (11, 12), "e": (14, 14), "f": (16, 18),
    "x": (2, 2), "y": (7, 7), "z": (13, 13), "B": (3, 5),
}
TC_A_KEY = "{a} {bc} {def}"


def one_token_spans(letters):
    return {letter: (index, index) for index, letter in enumerate(letters)}


BCDE_SPANS = one_token_spans("123456789ABC")
LETTER_SPANS = one_token_spans("ABCDEFGHIJ")
MN_SPANS = one_token_spans("abcdefxyz")


def clusters(notation, spans):
    """`"{a} {bc}"` -> `[[spans["a"]], [spans["b"], spans["c"]]]`."""
    return [[spans[letter] for letter in group.strip("{}")] for group in notation.split()]


def given(value):
    """A decimal as the file writes it (5 decimals at most): matched at 5 decimals."""
    return ("decimal", value)


# id: (key, response, letter spans, {metric: (recall, precision, F1)}), the values as the
# file gives them: fractions as its expressions (matched to 1e-12), decimals with given().
# The file has no MUC, B-cubed or CEAF-e expectation for B1, C1, M3, M4, M6, N3, N5, N6
# (BLANC only), nor CEAF-e for A10 to A13; N1's B-cubed and CEAF-e of 1 are from the README
# (commented out in the file).
A4_BCUB = ((3 + 1 / 3) / 6, (1 + 4 / 3 + 1 / 2) / 7,
           2 * (5 / 9) * (17 / 42) / ((5 / 9) + (17 / 42)))
A7_BCUB = ((10 / 3) / 6, (1 + 4 / 3 + 1 / 2) / 7,
           2 * (5 / 9) * (17 / 42) / ((5 / 9) + (17 / 42)))
A7_CEAFE = (given(0.73333), given(0.55), given(0.62857))
CASES = {
    "A1": (TC_A_KEY, "{a} {bc} {def}", TC_A_SPANS, {
        "muc": (1, 1, 1), "bcub": (6 / 6, 6 / 6, 1), "ceafe": (1, 1, 1)}),
    "A2": (TC_A_KEY, "{a} {de}", TC_A_SPANS, {
        "muc": (1 / 3, 1 / 1, given(0.5)),
        "bcub": ((7 / 3) / 6, 3 / 3, 14 / 25),
        "ceafe": (given(0.6), given(0.9), given(0.72))}),
    "A3": (TC_A_KEY, "{a} {bcx} {defy} {z}", TC_A_SPANS, {
        "muc": (3 / 3, 3 / 5, given(0.75)),
        "bcub": (6 / 6, (4 + 7 / 12) / 9, 110 / 163),
        "ceafe": (given(0.88571), given(0.66429), given(0.75918))}),
    "A4": (TC_A_KEY, "{a} {bcx} {dy} {z}", TC_A_SPANS, {
        "muc": (1 / 3, 1 / 3, 1 / 3),
        "bcub": A4_BCUB,
        "ceafe": (given(0.73333), given(0.55), given(0.62857))}),
    "A5": (TC_A_KEY, "{a} {bcxB} {dy} {z}", TC_A_SPANS, {
        "muc": (1 / 3, 1 / 4, 2 / 7),
        "bcub": ((3 + 1 / 3) / 6, 2.5 / 8, 2 * (5 / 9) * (5 / 16) / ((5 / 9) + (5 / 16))),
        "ceafe": (given(0.68889), given(0.51667), given(0.59048))}),
    "A6": (TC_A_KEY, "{a} {bcx} {dy} {Bz}", TC_A_SPANS, {
        "muc": (1 / 3, 1 / 4, 2 / 7),
        "bcub": ((10 / 3) / 6, (1 + 4 / 3 + 1 / 2) / 8,
                 2 * (5 / 9) * (17 / 48) / ((5 / 9) + (17 / 48))),
        "ceafe": (given(0.73333), given(0.55), given(0.62857))}),
    # b twice in one cluster: counted once.
    "A7": (TC_A_KEY, "{a} {bcxb} {dy} {z}", TC_A_SPANS, {
        "muc": (1 / 3, 1 / 3, 1 / 3), "bcub": A7_BCUB, "ceafe": A7_CEAFE}),
    # b again in another cluster (A8 once, A9 ten times): we refuse; the scorer drops the
    # later copies, which is what these numbers score (test_repeats_across_clusters_...).
    "A8": (TC_A_KEY, "{a} {bcx} {dy} {bz}", TC_A_SPANS, {
        "muc": (1 / 3, 1 / 3, 1 / 3), "bcub": A7_BCUB, "ceafe": A7_CEAFE}),
    "A9": (TC_A_KEY, "{a} {bcx} {dy} {bbbbbbbbbbz}", TC_A_SPANS, {
        "muc": (1 / 3, 1 / 3, 1 / 3), "bcub": A7_BCUB, "ceafe": A7_CEAFE}),
    "A10": (TC_A_KEY, "{a} {b} {c} {d} {e} {f}", TC_A_SPANS, {
        "muc": (0, 0, 0), "bcub": (3 / 6, 6 / 6, 2 / 3)}),
    "A11": (TC_A_KEY, "{abcdef}", TC_A_SPANS, {
        "muc": (3 / 3, 3 / 5, 6 / 8),
        "bcub": (6 / 6, (1 / 6 + 2 * 2 / 6 + 3 * 3 / 6) / 6, 14 / 25)}),
    "A12": (TC_A_KEY, "{a} {x} {y} {c} {d} {e} {z}", TC_A_SPANS, {
        "muc": (0, 0, 0),
        "bcub": ((1 + 1 / 2 + 2 / 3) / 6, 4 / 7,
                 2 * (13 / 36) * (4 / 7) / ((13 / 36) + (4 / 7)))}),
    "A13": (TC_A_KEY, "{axycdez}", TC_A_SPANS, {
        "muc": (1 / 3, 1 / 6, 2 / 9),
        "bcub": ((1 + 1 / 2 + 2 * 2 / 3) / 6, (1 / 7 + 1 / 7 + 2 * 2 / 7) / 7,
                 2 * (17 / 36) * (6 / 49) / ((17 / 36) + (6 / 49)))}),
    "D1": ("{12345} {67} {89ABC}", "{12345} {6789ABC}", BCDE_SPANS, {
        "muc": (9 / 9, 9 / 10, 2 * (9 / 9) * (9 / 10) / (9 / 9 + 9 / 10)),
        "bcub": (12 / 12, 16 / 21, 2 * (12 / 12) * (16 / 21) / (12 / 12 + 16 / 21))}),
    "E1": ("{12345} {67} {89ABC}", "{1234589ABC} {67}", BCDE_SPANS, {
        "muc": (9 / 9, 9 / 10, 2 * (9 / 9) * (9 / 10) / (9 / 9 + 9 / 10)),
        "bcub": (1, 7 / 12, 2 * 1 * (7 / 12) / (1 + 7 / 12))}),
    "F1": ("{ABCD}", "{AB} {CD}", LETTER_SPANS, {
        "muc": (2 / 3, 2 / 2, 2 * (2 / 3) * (2 / 2) / (2 / 3 + 2 / 2))}),
    "G1": ("{AB} {CD}", "{ABCD}", LETTER_SPANS, {
        "muc": (2 / 2, 2 / 3, 2 * (2 / 2) * (2 / 3) / (2 / 2 + 2 / 3))}),
    "H1": ("{ABCD}", "{ABCD}", LETTER_SPANS, {"muc": (1, 1, 1)}),
    "I1": ("{ABCD}", "{AB} {CD}", LETTER_SPANS, {
        "muc": (2 / 3, 2 / 2, 2 * (2 / 3) * (2 / 2) / (2 / 3 + 2 / 2))}),
    "J1": ("{ABC}", "{AC}", LETTER_SPANS, {
        "muc": (1 / 2, 1 / 1, 2 * (1 / 2) * (1 / 1) / (1 / 2 + 1 / 1))}),
    "K1": ("{BCDEGHJ}", "{ABC} {DEF} {GHI}", LETTER_SPANS, {"muc": (3 / 6, 3 / 6, 3 / 6)}),
    "L1": ("{ABC} {DEFG}", "{AB} {CD} {FGH}", LETTER_SPANS, {
        "muc": (2 / 5, 2 / 4, 2 * (2 / 5) * (2 / 4) / (2 / 5 + 2 / 4))}),
    "M1": ("{abcdef}", "{abcdef}", MN_SPANS, {
        "muc": (1, 1, 1), "bcub": (1, 1, 1), "ceafe": (1, 1, 1)}),
    "M2": ("{abcdef}", "{a} {b} {c} {d} {e} {f}", MN_SPANS, {"muc": (0, 0, 0)}),
    "M5": ("{abcdef}", "{a} {b} {c} {x} {y} {z}", MN_SPANS, {"muc": (0, 0, 0)}),
    "N1": ("{a} {b} {c} {d} {e} {f}", "{a} {b} {c} {d} {e} {f}", MN_SPANS, {
        "muc": (0, 0, 0), "bcub": (1, 1, 1), "ceafe": (1, 1, 1)}),
    "N2": ("{a} {b} {c} {d} {e} {f}", "{abcdef}", MN_SPANS, {"muc": (0, 0, 0)}),
    "N4": ("{a} {b} {c} {d} {e} {f}", "{a} {b} {c} {x} {y} {z}", MN_SPANS, {"muc": (0, 0, 0)}),
}
REPEATED_ACROSS_CLUSTERS = {"A8", "A9"}


def assert_as_given(actual, expected, where):
    for name, value, wanted in zip(("recall", "precision", "F1"), actual, expected):
        if isinstance(wanted, tuple):
            assert round(value, 5) == wanted[1], (where, name, value, wanted[1])
        else:
            assert value == pytest.approx(wanted, rel=0, abs=1e-12), (where, name, value, wanted)


def drop_later_copies(clustering):
    """The response as the reference scorer reads it: a repeated mention's first copy kept."""
    seen, kept = set(), []
    for cluster in clustering:
        cluster = [m for m in cluster if not (m in seen or seen.add(m))]
        if cluster:
            kept.append(cluster)
    return kept


@pytest.mark.parametrize("case", list(CASES))
def test_reference_scorer_test_cases(case):
    key_notation, response_notation, spans, expected = CASES[case]
    key, response = clusters(key_notation, spans), clusters(response_notation, spans)
    if case in REPEATED_ACROSS_CLUSTERS:
        response = drop_later_copies(response)
    for metric, values in expected.items():
        counts = METRICS[metric](key, response)
        assert_as_given((counts.recall, counts.precision, counts.f1), values, (case, metric))


@pytest.mark.parametrize("case", sorted(REPEATED_ACROSS_CLUSTERS))
def test_repeats_across_clusters_are_refused(case):
    key_notation, response_notation, spans, _ = CASES[case]
    key, response = clusters(key_notation, spans), clusters(response_notation, spans)
    for metric in (muc, b_cubed, ceaf_e):
        with pytest.raises(ValueError, match=r"Mention \(3, 6\) is in response clusters 1 and 3"):
            metric(key, response)
    with pytest.raises(ValueError, match="refuses to score a run with more than 10 repeats"):
        coref_scores([(key, response)])


def test_a_mention_in_two_key_clusters_is_refused():
    key = [[(0, 1), (3, 6)], [(9, 9), [3, 6]]]
    with pytest.raises(ValueError, match=r"Mention \(3, 6\) is in key clusters 0 and 1: a "
                                         r"mention belongs to one entity.*warns"):
        muc(key, [[(0, 1)]])
    with pytest.raises(ValueError, match="key clusters 0 and 1"):
        coref_scores([([[(5, 5)]], [[(5, 5)]]), (key, [])])


def test_a_repeat_within_one_cluster_counts_once():
    key = [[(0, 1), (3, 6), (9, 9)]]
    once = [[(0, 1), (3, 6)], [(20, 20)]]
    twice = [[(0, 1), (3, 6), (0, 1)], [(20, 20), (20, 20)]]
    for metric in (muc, b_cubed, ceaf_e):
        assert metric(key, twice) == metric(key, once)
        assert metric(once + [[(9, 9), (9, 9)]], key) == metric(once + [[(9, 9)]], key)


def test_empty_key_and_response_score_zero():
    # The scorer: a zero denominator gives 0, and F1 is 0 when R + P = 0.
    zeros = dict.fromkeys(
        [f"{m}_{s}" for m in ("muc", "b_cubed", "ceaf_e") for s in ("recall", "precision", "f1")]
        + ["conll_f1"], 0.0)
    assert coref_scores([([], [])]) == zeros
    assert coref_scores([]) == zeros
    assert coref_scores([([[(0, 0), (1, 1)]], []), ([], [[(0, 0)]])]) == zeros
    for metric in (muc, b_cubed, ceaf_e):
        assert metric([], []) == Counts(0, 0, 0, 0)


def test_empty_clusters_are_ignored_and_lists_are_spans():
    key = [[(0, 1), (3, 6)], [(9, 9)]]
    response = [[(0, 1), (9, 9)], [(3, 6)]]
    as_lists = [[[0, 1], [3, 6]], [], [[9, 9]]]
    for metric in (muc, b_cubed, ceaf_e):
        assert metric(as_lists, response + [[]]) == metric(key, response)
    assert ceaf_e(key, response + [[]]).precision_denominator == 2


def test_corpus_scores_sum_counts_not_scores():
    perfect = ([[(0, 0), (1, 1)]], [[(0, 0), (1, 1)]])
    half = ([[(0, 0), (1, 1), (2, 2)], [(5, 5), (6, 6)]], [[(0, 0), (1, 1)]])
    scores = coref_scores([perfect, half])
    total = muc(*perfect) + muc(*half)
    assert total == Counts(2, 4, 2, 2)
    assert sum([muc(*perfect), muc(*half)]) == total
    assert scores["muc_recall"] == 0.5  # 2 / 4, not the mean of 1 and 1 / 3
    assert scores["muc_precision"] == 1.0
    assert scores["muc_f1"] == pytest.approx(2 / 3)
    b3 = b_cubed(*perfect) + b_cubed(*half)
    assert scores["b_cubed_recall"] == pytest.approx((2 + 4 / 3) / 7)
    assert (scores["b_cubed_recall"], scores["b_cubed_precision"]) == (b3.recall, b3.precision)
    ceaf = ceaf_e(*perfect) + ceaf_e(*half)
    assert ceaf == Counts(1 + 4 / 5, 3, 1 + 4 / 5, 2)
    assert scores["conll_f1"] == pytest.approx(
        (scores["muc_f1"] + scores["b_cubed_f1"] + scores["ceaf_e_f1"]) / 3, abs=1e-15)


def test_a_document_that_is_not_a_pair_is_refused():
    with pytest.raises(ValueError, match="Document 1 is not a"):
        coref_scores([([], []), ([[(0, 0)]],)])


# -- scorch ------------------------------------------------------------------------------


def random_document(rng):
    """Key and response clusterings with nested and overlapping spans, singletons, twinless
    mentions on both sides, and now and then an empty side."""
    n_tokens = int(rng.integers(1, 30))
    spans = set()
    for _ in range(int(rng.integers(0, 30))):
        start = int(rng.integers(0, n_tokens))
        spans.add((start, min(n_tokens - 1, start + int(rng.integers(0, 5)))))
    spans = sorted(spans)
    order = rng.permutation(len(spans))
    side = rng.choice(3, size=len(spans), p=rng.dirichlet([2.0, 1.0, 1.0]))  # both/key/response
    key_mentions = [spans[i] for i in order if side[i] in (0, 1)]
    response_mentions = [spans[i] for i in order if side[i] in (0, 2)]
    if rng.random() < 0.08:
        key_mentions = []
    if rng.random() < 0.1:
        response_mentions = []
    key_label = {m: int(rng.integers(0, max(1, len(key_mentions) // 2 + 1))) for m in key_mentions}
    agreement = rng.random()  # how often the response keeps a shared mention's key entity
    response_label = {}
    for m in response_mentions:
        if m in key_label and rng.random() < agreement:
            response_label[m] = ("key", key_label[m])
        else:
            response_label[m] = ("own", int(rng.integers(0, max(1, len(response_mentions)))))
    return group(key_label), group(response_label)


def group(labels):
    found = {}
    for mention, label in labels.items():
        found.setdefault(label, []).append(mention)
    return list(found.values())


@pytest.fixture
def scorch_f1_of_numpy_zeros(monkeypatch):
    """scorch 0.2.0's F1 is `statistics.harmonic_mean((R, P))`, which raises instead of giving
    0 when CEAF-e's R and P are NumPy zeros (no mention in common): given floats."""
    monkeypatch.setattr(scorch_scores, "harmonic_mean",
                        lambda data: statistics.harmonic_mean([float(x) for x in data]))


def scorch_rpf(key, response):
    key, response = [set(c) for c in key], [set(c) for c in response]
    return {
        "muc": scorch_scores.muc(key, response),
        "b_cubed": scorch_scores.b_cubed(key, response),
        "ceaf_e": scorch_scores.ceaf_e(key, response),
        "conll_f1": scorch_scores.conll2012(key, response),
    }


def test_documents_equal_scorch(scorch_f1_of_numpy_zeros):
    rng = np.random.default_rng(2012)
    kinds = {"twinless key": 0, "twinless response": 0, "empty response": 0, "singleton": 0}
    for trial in range(300):
        key, response = random_document(rng)
        key_mentions = {m for c in key for m in c}
        response_mentions = {m for c in response for m in c}
        kinds["twinless key"] += bool(key_mentions - response_mentions)
        kinds["twinless response"] += bool(response_mentions - key_mentions)
        kinds["empty response"] += not response
        kinds["singleton"] += any(len(c) == 1 for c in key + response)
        expected = scorch_rpf(key, response)
        f1s = []
        for name, metric in (("muc", muc), ("b_cubed", b_cubed), ("ceaf_e", ceaf_e)):
            counts = metric(key, response)
            np.testing.assert_allclose(
                (counts.recall, counts.precision, counts.f1), expected[name],
                rtol=0, atol=1e-6, err_msg=f"{name}, trial {trial}: {key} / {response}")
            f1s.append(counts.f1)
        scores = coref_scores([(key, response)])
        assert scores["conll_f1"] == pytest.approx(expected["conll_f1"], rel=0, abs=1e-6)
        assert scores["conll_f1"] == pytest.approx(sum(f1s) / 3, rel=0, abs=1e-12)
    assert min(kinds.values()) >= 20, kinds  # the cases asked for do occur


def test_corpora_equal_scorch_on_the_merged_documents(scorch_f1_of_numpy_zeros):
    # scorch scores one document at a time (its command line averages per-document scores,
    # weighted by mention counts: not the scorer's sums). Its score of the documents merged
    # into one, each mention tagged with its document, is the scorer's corpus score: no
    # cluster spans two documents, so every count, CEAF-e's best alignment included, is the
    # sum of the documents' counts.
    rng = np.random.default_rng(2014)
    for trial in range(60):
        documents = [random_document(rng) for _ in range(int(rng.integers(2, 8)))]
        merged_key, merged_response = [], []
        for index, (key, response) in enumerate(documents):
            merged_key += [[(index,) + m for m in c] for c in key]
            merged_response += [[(index,) + m for m in c] for c in response]
        expected = scorch_rpf(merged_key, merged_response)
        scores = coref_scores(documents)
        for name in ("muc", "b_cubed", "ceaf_e"):
            np.testing.assert_allclose(
                [scores[f"{name}_{s}"] for s in ("recall", "precision", "f1")], expected[name],
                rtol=0, atol=1e-6, err_msg=f"{name}, corpus {trial}")
        assert scores["conll_f1"] == pytest.approx(expected["conll_f1"], rel=0, abs=1e-6)
