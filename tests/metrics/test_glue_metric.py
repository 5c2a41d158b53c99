"""GLUE metrics against scikit-learn and SciPy (the functions GLUE's scorer calls)."""

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics

from spanbert_keras.metrics.glue import accuracy
from spanbert_keras.metrics.glue import classification_metrics
from spanbert_keras.metrics.glue import f1_score
from spanbert_keras.metrics.glue import matthews_corrcoef
from spanbert_keras.metrics.glue import pearson
from spanbert_keras.metrics.glue import regression_metrics
from spanbert_keras.metrics.glue import spearman


def test_hand_computed_values():
    gold, predicted = ["1", "1", "0", "0", "1"], ["1", "0", "0", "0", "1"]
    assert accuracy(gold, predicted) == 0.8
    assert f1_score(gold, predicted, "1") == 0.8  # TP 2, gold 3, predicted 2
    assert matthews_corrcoef(gold, predicted) == pytest.approx(2 / 3, abs=1e-12)
    assert pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0, abs=1e-12)
    assert spearman([1, 2, 3, 4], [1, 4, 9, 16]) == 1.0
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0


def test_against_sklearn_and_scipy_on_random_labels():
    rng = np.random.default_rng(0)
    for trial in range(30):
        n = int(rng.integers(2, 60))
        classes = int(rng.integers(2, 4))
        gold = rng.integers(0, classes, n)
        predicted = np.where(rng.random(n) < 0.6, gold, rng.integers(0, classes, n))
        scores = classification_metrics(gold, predicted, positive_label=1)
        np.testing.assert_allclose(scores["accuracy"], metrics.accuracy_score(gold, predicted))
        np.testing.assert_allclose(
            scores["matthews_corrcoef"], metrics.matthews_corrcoef(gold, predicted), atol=1e-12
        )
        expected_f1 = metrics.f1_score(gold, predicted, labels=[1], average="micro", zero_division=0)
        np.testing.assert_allclose(scores["f1"], expected_f1, atol=1e-12, err_msg=str(trial))
        # The authors' acc_and_f1 (run_glue.py): the mean of scikit-learn's two.
        np.testing.assert_allclose(
            scores["accuracy_f1"],
            (metrics.accuracy_score(gold, predicted) + expected_f1) / 2, atol=1e-12)
        x = rng.normal(size=n).round(1)  # rounding makes ties
        y = x + rng.normal(size=n).round(1)
        scores = regression_metrics(x, y)
        np.testing.assert_allclose(scores["pearson"], stats.pearsonr(x, y)[0], atol=1e-12)
        np.testing.assert_allclose(scores["spearman"], stats.spearmanr(x, y)[0], atol=1e-12)
        assert scores["pearson_spearman"] == (scores["pearson"] + scores["spearman"]) / 2


def test_undefined_correlations_are_zero_and_lengths_checked():
    assert pearson([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]) == 0.0
    assert matthews_corrcoef([1, 1], [1, 1]) == 0.0
    assert f1_score(["0"], ["0"], "1") == 0.0
    with pytest.raises(ValueError, match="same length"):
        accuracy([1, 2], [1])
