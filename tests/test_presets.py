"""The built-in preset austen-tiny: loadable by name everywhere, and as good as its README says."""

import json
import os

import numpy as np
import pytest

from spanbert_keras.checkpoints import import_checkpoint
from spanbert_keras.checkpoints import load_encoder
from spanbert_keras.checkpoints import load_pretrained
from spanbert_keras.checkpoints.presets import evaluate_preset
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.models.span_bert_backbone import SpanBertBackbone
from spanbert_keras.models.span_bert_pretrainer import SpanBertPretrainer
from spanbert_keras.models.span_bert_text_classifier import SpanBertTextClassifier
from spanbert_keras.models.span_bert_token_tagger import SpanBertTokenTagger
from spanbert_keras.resources.presets import PRESETS_DIR
from spanbert_keras.resources.presets import preset_config
from spanbert_keras.resources.presets import preset_names
from spanbert_keras.resources.presets import resolve_preset

NAME = "austen-tiny"
FOLDER = os.path.join(PRESETS_DIR, NAME)


def recorded():
    with open(os.path.join(FOLDER, "evaluation.json"), encoding="utf-8") as f:
        return json.load(f)


def test_resolves_names_only_when_no_such_path_exists(tmp_path, monkeypatch):
    assert NAME in preset_names()
    assert resolve_preset(NAME) == FOLDER
    assert resolve_preset("no-such-preset") == "no-such-preset"
    monkeypatch.chdir(tmp_path)
    (tmp_path / NAME).mkdir()
    assert resolve_preset(NAME) == NAME  # a path that exists wins


def test_preset_is_small_and_packaged():
    sizes = {name: os.path.getsize(os.path.join(FOLDER, name)) for name in os.listdir(FOLDER)}
    assert {"config.json", "model.safetensors", "vocab.txt", "pretrain_config.yaml",
            "token_counts.txt", "history.json", "evaluation.json", "README.md"} <= set(sizes)
    assert sum(sizes.values()) < 6 * 2**20
    with open(os.path.join(os.path.dirname(PRESETS_DIR), "..", "..", "pyproject.toml"),
              encoding="utf-8") as f:
        assert '"resources/presets/*/*"' in f.read()


def test_loads_by_name_with_both_heads_and_scores_as_its_readme_says():
    model = load_pretrained(NAME, log=None)
    report = model.import_report
    assert report.from_file == ["encoder", "pooler", "mlm_head", "sbo_head"]
    assert report.vocabulary.size == model.backbone.vocabulary_size
    assert preset_config(NAME).model.num_layers == model.backbone.num_layers
    figures = recorded()["held_out"]
    with open(os.path.join(FOLDER, "README.md"), encoding="utf-8") as f:
        assert f"**{figures['mlm_accuracy']:.3f}**" in f.read()
    few = evaluate_preset(NAME, batches=4)  # a few of the batches the README's figure is on
    assert few["mlm_accuracy"] == pytest.approx(figures["mlm_accuracy"], abs=0.03)
    assert few["sbo_accuracy"] == pytest.approx(figures["sbo_accuracy"], abs=0.03)


def test_fine_tuning_and_import_take_the_name(tmp_path):
    backbone, vocabulary = load_encoder(NAME, log=lambda *_: None)
    assert backbone.vocabulary_size == vocabulary.size
    report = import_checkpoint(NAME, str(tmp_path / "run"), log=lambda *_: None)
    assert report.from_file[-1] == "sbo_head"
    assert (tmp_path / "run" / "imported.weights.h5").exists()


def same_weights(a, b):
    return len(a.weights) == len(b.weights) and all(
        np.array_equal(x.numpy(), y.numpy()) for x, y in zip(a.weights, b.weights))


def test_from_preset_takes_the_name_run_directories_and_checkpoints(tmp_path):
    reference = load_pretrained(NAME, log=None)
    backbone = SpanBertBackbone.from_preset(NAME)
    assert isinstance(backbone, SpanBertBackbone) and same_weights(backbone, reference.backbone)
    assert SpanBertBackbone.from_preset(FOLDER).count_params() == backbone.count_params()
    half = SpanBertBackbone.from_preset(NAME, dtype="mixed_bfloat16")
    assert half.dtype_policy.name == "mixed_bfloat16" and same_weights(half, backbone)
    assert SpanBertTokenizer.from_preset(NAME).tokenize(["Emma"]).to_list() == (
        SpanBertTokenizer(reference.import_report.vocabulary).tokenize(["Emma"]).to_list())
    pretrainer = SpanBertPretrainer.from_preset(NAME)
    assert same_weights(pretrainer, reference)

    run = str(tmp_path / "run")  # a pre-training run directory (imported, not yet trained)
    import_checkpoint(NAME, run, log=lambda *_: None)
    assert same_weights(SpanBertBackbone.from_preset(run), backbone)
    assert same_weights(SpanBertPretrainer.from_preset(run), reference)

    classifier = SpanBertTextClassifier.from_preset(run, num_classes=3)
    assert classifier.num_classes == 3 and same_weights(classifier.backbone, backbone)
    tuned = tmp_path / "tuned"  # a fine-tuning run directory: its model as it is
    tuned.mkdir()
    (tuned / "task.json").write_text("{}")
    classifier.save(str(tuned / "model.keras"))
    assert same_weights(SpanBertTextClassifier.from_preset(str(tuned)), classifier)
    with pytest.raises(ValueError, match="fine-tuned SpanBertTextClassifier, not a "
                                         "SpanBertTokenTagger"):
        SpanBertTokenTagger.from_preset(str(tuned))
    with pytest.raises(ValueError, match="its settings are its own"):
        SpanBertTextClassifier.from_preset(str(tuned), num_classes=2)
    with pytest.raises(ValueError, match="no pre-training heads"):
        SpanBertPretrainer.from_preset(str(tuned))
    with pytest.raises(ValueError, match="No spanbert-keras preset"):
        SpanBertPretrainer.from_preset("no-such-preset")
