"""`export_bundle` is one unit: the two SavedModels and the TFLite file all appear, or none."""

import os

import pytest
from test_case import tiny_model_config

from spanbert_keras.data.vocabulary import SPECIAL_TOKENS
from spanbert_keras.export import bundle
from spanbert_keras.export.bundle import export_bundle
from spanbert_keras.training.build import build_pretrainer

VOCABULARY = list(SPECIAL_TOKENS) + [f"w{i}" for i in range(38)]


def test_a_failing_tflite_conversion_leaves_no_export(tmp_path, monkeypatch):
    model = build_pretrainer(tiny_model_config(), len(VOCABULARY))
    root = tmp_path / "saved_models"
    (root / "keep").mkdir(parents=True)  # another model's, untouched

    def fails(*args, **kwargs):
        raise RuntimeError("the converter needs a Flex op")

    monkeypatch.setattr(bundle, "export_tflite", fails)
    with pytest.raises(RuntimeError, match="Flex"):
        export_bundle(model, VOCABULARY, str(root / "m" / "1"), tflite=True, log=lambda _: None)
    assert sorted(os.listdir(root)) == ["keep"]  # no version, no staging directory, no .tflite
