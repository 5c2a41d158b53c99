"""`RunDirectory` is the one owner of a run directory's layout.

No other module of the package names a run directory's file on its own (the
source is scanned), and the files a real pre-training and a real fine-tuning
run write are exactly at the paths `RunDirectory` names.
"""

import ast
import json
import os
import pathlib

import pytest
from task_data import ner_run_files

from spanbert_keras.config import PretrainConfig
from spanbert_keras.config import apply_overrides
from spanbert_keras.config import load_config
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.files import zip_problem
from spanbert_keras.finetuning.runner import run_finetuning
from spanbert_keras.run_layout import RunDirectory
from spanbert_keras.tasks import get_task
from spanbert_keras.tasks.base import finetune_config
from spanbert_keras.training.checkpointing import latest_best
from spanbert_keras.training.checkpointing import latest_checkpoint
from spanbert_keras.training.checkpointing import run_vocabulary
from spanbert_keras.training.pretrain import run_pretraining

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = REPO / "spanbert_keras"
TINY = REPO / "pipelines" / "configs" / "tiny.yaml"

# `*_FILE` / `*_DIR` constants of other formats that share a name with a run's file.
OTHER_FORMATS = {
    ("checkpoints/vocabulary.py", "VOCAB_FILE"): "a released checkpoint's vocabulary",
}


def quiet(*_):
    pass


def module_constants(path):
    """`(name, value)` of the module-level `NAME_FILE` / `NAME_DIR = "..."` of a source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        value = getattr(node, "value", None)
        for target in targets:
            if (isinstance(target, ast.Name) and target.id.endswith(("_FILE", "_DIR"))
                    and isinstance(value, ast.Constant) and isinstance(value.value, str)):
                yield target.id, value.value


def test_no_other_module_names_a_run_directory_file():
    names = set(RunDirectory.names().values())
    found, scanned = [], 0
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "run_layout.py":
            continue
        scanned += 1
        for name, value in module_constants(path):
            if value in names and (relative, name) not in OTHER_FORMATS:
                found.append(f"spanbert_keras/{relative}: {name} = {value!r}")
    assert scanned > 50  # the scan sees the package
    assert found == [], "use RunDirectory instead:\n" + "\n".join(found)


def test_the_scan_sees_a_constant():
    source = PACKAGE / "checkpoints" / "vocabulary.py"
    assert ("VOCAB_FILE", "vocab.txt") in set(module_constants(source))


def test_the_names_and_paths():
    run = RunDirectory(pathlib.Path("runs") / "tiny")
    assert run.path == os.path.join("runs", "tiny") and os.fspath(run) == run.path
    assert run == RunDirectory(os.path.join("runs", "tiny"))
    names = RunDirectory.names()
    assert len(set(names.values())) == len(names)  # no two entries share a name
    properties = {"CONFIG_FILE": "config", "VOCAB_FILE": "vocab",
                  "VOCAB_FINGERPRINT_FILE": "vocab_fingerprint", "LOCK_FILE": "lock",
                  "BACKUP_DIR": "backup", "BEST_DIR": "best", "LOG_DIR": "logs",
                  "HISTORY_FILE": "history", "MODEL_FILE": "model", "ENCODER_FILE": "encoder",
                  "TOKEN_COUNTS_FILE": "token_counts",
                  "IMPORTED_WEIGHTS_FILE": "imported_weights",
                  "IMPORT_REPORT_FILE": "import_report", "TASK_FILE": "task_info",
                  "PREDICTIONS_FILE": "predictions", "METRICS_FILE": "metrics",
                  "EVALUATION_DIR": "evaluation", "EXPORT_DIR": "export",
                  "OUTPUT_MARKER_FILE": "output_marker"}
    inside = {"CHECKPOINT_WEIGHTS_FILE", "CHECKPOINT_SEEDS_FILE", "CHECKPOINT_INFO_FILE",
              "BEST_WEIGHTS_FILE", "BEST_INFO_FILE"}  # in a checkpoint's / best's folder
    assert set(names) == set(properties) | inside
    for key, attribute in properties.items():
        assert getattr(run, attribute) == os.path.join(run.path, names[key]), key
    assert run.checkpoint(12) == os.path.join(run.backup, "epoch-000012")
    assert RunDirectory.checkpoint_epoch("epoch-000012") == 12
    assert run.best_weights(3) == os.path.join(run.best, "eval-000003")
    assert RunDirectory.best_evaluation("eval-000003") == 3
    assert RunDirectory.checkpoint_epoch("eval-000003") is None
    assert RunDirectory.best_evaluation("epoch-000003.tmp") is None


# ------------------------------------------------------------------ real runs


def listing(folder):
    return sorted(os.listdir(folder))


@pytest.fixture(scope="module")
def pretraining(demo_excerpt, tmp_path_factory):
    """A tiny pre-training run of 2 epochs of one step (the demo's first 6 documents)."""
    config = apply_overrides(load_config(str(TINY)), [
        "model.num_layers=1", "model.hidden_dim=32", "model.num_heads=2",
        "model.intermediate_dim=64", "model.max_sequence_length=32",
        "data.vocabulary_size=400", "data.sequence_length=32", "data.batch_size=4",
        "data.validation_fraction=0.3", "training.steps_per_epoch=1", "training.eval_steps=1",
        "training.warmup_steps=1", "training.jit_compile=false",
    ])
    run = RunDirectory(tmp_path_factory.mktemp("layout") / "run")
    run_pretraining(config, run.path, corpus=[demo_excerpt(6)], steps=2, log=quiet, verbose=0)
    return run


def test_a_pretraining_run_writes_exactly_where_run_directory_says(pretraining):
    run = pretraining
    assert listing(run.path) == sorted([
        RunDirectory.CONFIG_FILE, RunDirectory.VOCAB_FILE, RunDirectory.VOCAB_FINGERPRINT_FILE,
        RunDirectory.TOKEN_COUNTS_FILE, RunDirectory.BACKUP_DIR, RunDirectory.LOG_DIR,
        RunDirectory.HISTORY_FILE, RunDirectory.MODEL_FILE, RunDirectory.ENCODER_FILE])
    assert not os.path.exists(run.lock)  # released at the end
    assert isinstance(load_config(run.config), PretrainConfig)
    vocabulary = run_vocabulary(run)  # checked against vocab.sha256
    with open(run.vocab_fingerprint, encoding="utf-8") as f:
        assert f.read() == f"{vocabulary.fingerprint}  {RunDirectory.VOCAB_FILE}\n"
    with open(run.token_counts, encoding="utf-8") as f:
        assert f.readline().split()[-1] == vocabulary.fingerprint
    with open(run.history, encoding="utf-8") as f:
        assert len(json.load(f)["loss"]) == 2  # one entry an epoch
    assert zip_problem(run.model) is None and zip_problem(run.encoder) is None
    assert os.path.isdir(run.logs) and listing(run.logs)
    # One checkpoint an epoch, each a folder of the three files it lists.
    assert listing(run.backup) == [os.path.basename(run.checkpoint(e)) for e in (1, 2)]
    for epoch in (1, 2):
        assert listing(run.checkpoint(epoch)) == sorted([
            RunDirectory.CHECKPOINT_WEIGHTS_FILE, RunDirectory.CHECKPOINT_SEEDS_FILE,
            RunDirectory.CHECKPOINT_INFO_FILE])
    checkpoint = latest_checkpoint(run.path, log=quiet)
    assert checkpoint.weights == os.path.join(run.checkpoint(2),
                                              RunDirectory.CHECKPOINT_WEIGHTS_FILE)
    assert checkpoint.seeds == os.path.join(run.checkpoint(2), RunDirectory.CHECKPOINT_SEEDS_FILE)


@pytest.fixture(scope="module")
def finetuning(tmp_path_factory):
    """A tiny NER fine-tuning run: one epoch, the dev set scored twice."""
    data = ner_run_files(str(tmp_path_factory.mktemp("layout-ner")), train=16, dev=4)
    config = finetune_config({"sequence_length": 32, "batch_size": 8, "epochs": 1,
                              "eval_per_epoch": 2, "jit_compile": False}, get_task("ner"))
    run = RunDirectory(tmp_path_factory.mktemp("layout-ner-run") / "run")
    metrics = run_finetuning("ner", config, data["train"], data["dev"], data["init"], run.path,
                             log=quiet, verbose=0)
    return run, metrics


def test_a_finetuning_run_writes_exactly_where_run_directory_says(finetuning):
    run, metrics = finetuning
    assert listing(run.path) == sorted([
        RunDirectory.CONFIG_FILE, RunDirectory.TASK_FILE, RunDirectory.VOCAB_FILE,
        RunDirectory.VOCAB_FINGERPRINT_FILE, RunDirectory.BACKUP_DIR, RunDirectory.BEST_DIR,
        RunDirectory.LOG_DIR, RunDirectory.HISTORY_FILE, RunDirectory.MODEL_FILE,
        RunDirectory.PREDICTIONS_FILE, RunDirectory.METRICS_FILE])
    with open(run.metrics, encoding="utf-8") as f:
        assert json.load(f) == metrics
    with open(run.task_info, encoding="utf-8") as f:
        assert json.load(f)["labels"]
    with open(run.history, encoding="utf-8") as f:
        assert len(json.load(f)["loss"]) == 2  # one entry a dev evaluation
    assert os.path.isfile(run.predictions) and zip_problem(run.model) is None
    assert isinstance(Vocabulary.load(run.vocab), Vocabulary)
    assert listing(run.backup) == [os.path.basename(run.checkpoint(e)) for e in (1, 2)]
    best = latest_best(run.path, log=quiet)
    assert os.path.dirname(best.weights) == run.best_weights(best.evaluation)
    assert listing(run.best_weights(best.evaluation)) == sorted([
        RunDirectory.BEST_WEIGHTS_FILE, RunDirectory.BEST_INFO_FILE])
