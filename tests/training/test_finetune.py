"""The fine-tuning runner, in process, on a tiny encoder: run directory, resume, refusals, --init forms."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import yaml
from qa_data import squad_json
from qa_data import synthetic_squad
from test_case import tiny_model_config

from spanbert_keras.checkpoints import load_encoder
from spanbert_keras.config import FinetuneConfig
from spanbert_keras.data.vocabulary import build_vocabulary
from spanbert_keras.finetuning.runner import evaluate_finetuned
from spanbert_keras.finetuning.runner import finetune_optimizer
from spanbert_keras.finetuning.runner import finetuning_backbone
from spanbert_keras.finetuning.runner import run_finetuning
from spanbert_keras.models.backbone import build_backbone
from spanbert_keras.tasks.base import apply_finetune_overrides
from spanbert_keras.tasks.base import finetune_config
from spanbert_keras.tasks.base import load_finetune_config
from spanbert_keras.tasks.squad import TASK
from spanbert_keras.training.build import build_pretrainer

SETTINGS = {"sequence_length": 32, "batch_size": 8, "epochs": 1, "learning_rate": 1e-3,
            "jit_compile": False, "options": {"max_query_length": 8, "doc_stride": 8}}


def quiet(*_):
    pass


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    train, dev = synthetic_squad(40, seed=1, prefix="t"), synthetic_squad(12, seed=2, prefix="d")
    (root / "train.json").write_text(squad_json(train), encoding="utf-8")
    (root / "dev.json").write_text(squad_json(dev), encoding="utf-8")
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(e["question"] + "\n" + e["context"] for e in train + dev),
                      encoding="utf-8")
    vocabulary = build_vocabulary([corpus], vocab_size=150, min_frequency=1, show_progress=False)
    # A pretrain-like run directory: config.yaml, vocab.txt, encoder.keras.
    init = root / "pretrain"
    init.mkdir()
    vocabulary.save(init / "vocab.txt")
    (init / "config.yaml").write_text("model: {preset: tiny}\n", encoding="utf-8")
    keras.utils.set_random_seed(0)
    build_backbone(tiny_model_config(dropout=0.1), vocabulary.size).save(init / "encoder.keras")
    return {"root": root, "train": str(root / "train.json"), "dev": str(root / "dev.json"),
            "init": str(init), "vocabulary": vocabulary, "dev_examples": dev}


def history(run):
    with open(os.path.join(run, "history.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def first_run(data, tmp_path_factory):
    """A finished one-epoch run (copy it before changing it)."""
    run = str(tmp_path_factory.mktemp("first") / "run")
    config = finetune_config(SETTINGS, TASK)
    metrics = run_finetuning("squad", config, data["train"], data["dev"], data["init"], run,
                             log=quiet, verbose=0)
    return run, config, metrics


def metrics_of(run):
    with open(os.path.join(run, "metrics.json")) as f:
        return json.load(f)


def copy_of(run, tmp_path):
    target = str(tmp_path / "copy")
    shutil.copytree(run, target)
    return target


def test_a_run_writes_its_directory(data, first_run):
    run, config, metrics = first_run
    assert set(metrics) == {"exact_match", "f1", "total"} and metrics["total"] == 12
    for name in ("config.yaml", "task.json", "vocab.txt", "history.json", "model.keras",
                 "predictions.json", "metrics.json", "backup", "best", "logs"):
        assert os.path.exists(os.path.join(run, name)), name
    assert not os.path.exists(os.path.join(run, "lock"))
    assert not [n for n in os.listdir(run) if n.startswith(".")]  # no temporary file left
    with open(os.path.join(run, "config.yaml")) as f:
        assert yaml.safe_load(f)["task"] == "squad"
    assert load_finetune_config(os.path.join(run, "config.yaml"), TASK) == config
    with open(os.path.join(run, "predictions.json")) as f:
        predictions = json.load(f)
    assert sorted(predictions) == sorted(e["id"] for e in data["dev_examples"])
    assert all(isinstance(v, str) for v in predictions.values())
    with open(os.path.join(run, "metrics.json")) as f:
        assert json.load(f) == metrics
    assert len(history(run)["loss"]) == 1
    # The dev set was scored after the epoch: the kept weights are that evaluation's.
    assert history(run)["val_f1"] == [metrics["f1"]]
    assert history(run)["val_exact_match"] == [metrics["exact_match"]]


def test_the_same_command_again_only_rescores(data, first_run, tmp_path):
    run, config, metrics = first_run
    run = copy_of(run, tmp_path)
    logs = []
    again = run_finetuning("squad", config, data["train"], data["dev"], data["init"], run,
                           log=logs.append, verbose=0)
    assert again == metrics and any("already finished" in line for line in logs)
    assert len(history(run)["loss"]) == 1
    # `evaluate --dev`'s library call: the saved model re-scored, its files apart.
    assert evaluate_finetuned(run, data["dev"], log=quiet) == metrics
    assert os.path.isfile(os.path.join(run, "evaluation", "predictions.json"))


def test_more_epochs_resume_and_append_the_history(data, first_run, tmp_path):
    run, config, _ = first_run
    run = copy_of(run, tmp_path)
    logs = []
    run_finetuning("squad", apply_finetune_overrides(config, ["epochs=2"]), data["train"],
                   data["dev"], data["init"], run, log=logs.append, verbose=0)
    assert any("starting at epoch 1" in line for line in logs)
    assert len(history(run)["loss"]) == 2
    # The run ends with the better of its two evaluations (the first stays on a tie).
    scores = history(run)["val_f1"]
    assert len(scores) == 2 and metrics_of(run)["f1"] == max(scores)
    kept = 1 if scores[1] > scores[0] else 0
    assert any(f"Keeping the weights of the best dev evaluation, {kept + 1} of 2" in line
               for line in logs)


def test_resume_refuses_another_config_task_or_vocabulary(data, first_run, tmp_path):
    run, config, _ = first_run
    run = copy_of(run, tmp_path)
    other = apply_finetune_overrides(config, ["learning_rate=5e-4"])
    with pytest.raises(ValueError, match="learning_rate=0.001"):
        run_finetuning("squad", other, data["train"], data["dev"], data["init"], run, log=quiet)
    with pytest.raises(ValueError, match="'squad' run, not 'ner'"):
        run_finetuning("ner", None, data["train"], data["dev"], data["init"], run, log=quiet)
    with open(os.path.join(run, "vocab.txt"), "w") as f:
        f.write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nx\n")
    with pytest.raises(ValueError, match="another vocabulary"):
        run_finetuning("squad", config, data["train"], data["dev"], data["init"], run, log=quiet)


def test_init_forms(data, tmp_path):
    vocabulary = data["vocabulary"]
    with pytest.raises(FileNotFoundError, match="--init not found: .*nowhere"):
        load_encoder(str(tmp_path / "nowhere"))
    backbone, vocab = load_encoder(data["init"])
    assert vocab.tokens == vocabulary.tokens and backbone.vocabulary_size == vocabulary.size
    # A pretrainer .keras with its vocab.txt beside it: its encoder.
    folder = tmp_path / "keras"
    folder.mkdir()
    pretrainer = build_pretrainer(tiny_model_config(), vocabulary.size)
    pretrainer.save(folder / "model.keras")
    with pytest.raises(FileNotFoundError, match="vocab.txt beside it or pass --vocab"):
        load_encoder(str(folder / "model.keras"))
    encoder, _ = load_encoder(str(folder / "model.keras"), vocab=os.path.join(data["init"], "vocab.txt"))
    for a, b in zip(encoder.weights, pretrainer.backbone.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # A vocabulary of another size is refused.
    small = tmp_path / "small.txt"
    small.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
    with pytest.raises(ValueError, match="token embeddings but its vocabulary has 5"):
        load_encoder(data["init"], vocab=str(small))
    # A damaged .keras file is named.
    broken = folder / "broken.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="broken.keras: cannot be loaded"):
        load_encoder(str(broken), vocab=str(small))


def test_init_from_a_released_checkpoint_directory(data, tmp_path):
    checkpoints = pytest.importorskip("spanbert_keras.checkpoints")
    vocabulary = data["vocabulary"]
    pretrainer = build_pretrainer(tiny_model_config(), vocabulary.size)
    checkpoints.save_pretrained(pretrainer, str(tmp_path / "hf"), vocabulary)
    encoder, vocab = load_encoder(str(tmp_path / "hf"), log=quiet)
    assert vocab.tokens == vocabulary.tokens
    for a, b in zip(encoder.weights, pretrainer.backbone.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_finetuning_backbone_sets_dropout_and_policy_keeps_weights(data):
    backbone, _ = load_encoder(data["init"])
    config = FinetuneConfig(dropout=0.0, dtype_policy="mixed_bfloat16")
    tuned = finetuning_backbone(backbone, config)
    assert tuned.dropout == 0.0 and tuned.dtype_policy.name == "mixed_bfloat16"
    assert type(tuned) is type(backbone)
    for a, b in zip(tuned.weights, backbone.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_optimizer_is_the_fine_tuning_recipe():
    optimizer = finetune_optimizer(FinetuneConfig(learning_rate=3e-5, warmup_fraction=0.25), 40)
    schedule = optimizer._learning_rate
    assert (schedule.warmup_steps, schedule.total_steps, schedule.peak_learning_rate) == (10, 40, 3e-5)
    assert optimizer.no_decay_names == ("bias", "gamma", "beta")
    assert optimizer.weight_decay == 0.01 and optimizer.global_clipnorm == 1.0
    assert finetune_optimizer(FinetuneConfig(clip_norm=0), 40).global_clipnorm is None
    assert finetune_optimizer(FinetuneConfig(decay_norms_and_biases=True), 40).no_decay_names == ()


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="Unknown key 'epoch'"):
        apply_finetune_overrides(FinetuneConfig(), ["epoch=3"])
    with pytest.raises(ValueError, match="batch_size must be of type int"):
        apply_finetune_overrides(FinetuneConfig(), ["batch_size=many"])
    with pytest.raises(ValueError, match="Unknown option"):
        TASK.options(apply_finetune_overrides(FinetuneConfig(), ["options.stride=3"]))
    # The task's default, not FinetuneConfig's.
    assert finetune_config(None, TASK).sequence_length == TASK.config_defaults["sequence_length"]
    assert TASK.config_defaults["sequence_length"] != FinetuneConfig().sequence_length
    with pytest.raises(ValueError, match="steps_per_epoch must be positive"):
        apply_finetune_overrides(FinetuneConfig(), ["steps_per_epoch=0"])
    with pytest.raises(ValueError, match="warmup_fraction must be in"):
        apply_finetune_overrides(FinetuneConfig(), ["warmup_fraction=1.5"])


def test_v2_data_needs_version_2(data, tmp_path):
    examples = synthetic_squad(4, seed=5)
    examples[0] = dict(examples[0], answers=[], is_impossible=True)
    path = tmp_path / "v2.json"
    path.write_text(squad_json(examples, version="2.0"), encoding="utf-8")
    with pytest.raises(ValueError, match="pass --version-2"):
        run_finetuning("squad", finetune_config(SETTINGS, TASK), str(path), data["dev"],
                       data["init"], str(tmp_path / "run"), log=quiet)
