"""Dev evaluation during fine-tuning: every evaluation recorded, the best weights kept, across a crash.

The runner is given a task of the test's own: NER on tiny synthetic
sentences whose dev score is scripted. Each new set of weights it is asked
to score gets the script's next value, and the same weights scored again
get the same value, so the test knows which evaluation is the best and
which weights it had.
"""

import glob
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from task_data import ner_run_files

from spanbert_keras.config import FinetuneConfig
from spanbert_keras.finetuning.runner import dev_metric_name
from spanbert_keras.finetuning.runner import finished_metrics
from spanbert_keras.finetuning.runner import run_finetuning
from spanbert_keras.finetuning.runner import saved_config
from spanbert_keras.tasks.base import apply_finetune_overrides
from spanbert_keras.tasks.base import finetune_config
from spanbert_keras.tasks.ner import NerTask
from spanbert_keras.training.callbacks import DevEvaluation
from spanbert_keras.training.checkpointing import EpochProgbar
from spanbert_keras.training.checkpointing import fit_progress
from spanbert_keras.training.checkpointing import latest_best
from spanbert_keras.training.checkpointing import restore_best
from spanbert_keras.training.checkpointing import save_best
from spanbert_keras.training.distribute import weights_checksum

# 48 sentences in batches of 8: 6 steps an epoch, scored twice an epoch (every 3 steps).
SETTINGS = {"sequence_length": 32, "batch_size": 8, "epochs": 3, "eval_per_epoch": 2,
            "learning_rate": 1e-3, "dropout": 0.1, "jit_compile": False}
# Evaluation 2 is the best; later ones are worse, the last one (0.65) included.
SCRIPT = [0.3, 0.7, 0.5, 0.6, 0.4, 0.65]


class Crash(Exception):
    """What a kill does to the run, raised instead."""


class ScriptedNer(NerTask):
    """NER whose dev score is scripted by the weights scored (see the module docstring)."""

    def __init__(self, script, crash_at=None, scores=None):
        self.script = script
        self.crash_at = crash_at  # the 1-based predict call that "kills" the run
        self.scores = {} if scores is None else scores  # weights checksum -> score
        self.evaluated = []  # the weights of every predict call, in order

    def metric_name(self, task_info, config):  # a method: the runner asks with the run's values
        assert task_info["labels"][0] == "O" and isinstance(config, FinetuneConfig)
        return "scripted"

    def predict(self, model, examples, vocabulary, task_info, config):
        self.evaluated.append([v.numpy().copy() for v in model.weights])
        if len(self.evaluated) == self.crash_at:
            raise Crash(f"killed at evaluation {self.crash_at}")
        return {"checksum": weights_checksum(model.weights)}

    def score(self, predictions, examples, task_info):
        key = predictions["checksum"]
        if key not in self.scores:
            self.scores[key] = self.script[len(self.scores)]
        return {"scripted": self.scores[key], "other": 1.0 - self.scores[key]}


def quiet(*_):
    pass


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return ner_run_files(str(tmp_path_factory.mktemp("best")), train=48, dev=8)


def finetune(task, data, run, config=SETTINGS, log=quiet):
    return run_finetuning(task, finetune_config(config, task), data["train"], data["dev"],
                          data["init"], str(run), log=log, verbose=None)


def final_weights(run):
    model = keras.saving.load_model(os.path.join(run, "model.keras"), compile=False)
    return [v.numpy() for v in model.weights]


def assert_weights_equal(ours, reference, atol=0.0):
    assert len(ours) == len(reference)
    for a, b in zip(ours, reference):
        np.testing.assert_allclose(a, b, atol=atol, rtol=0)


def read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def tensorboard_scalars(folder, tag):
    """`{step: value}` of a scalar in the event files of `folder`."""
    values = {}
    for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    task = ScriptedNer(SCRIPT)
    lines = []
    metrics = finetune(task, data, run, log=lines.append)
    return {"run": str(run), "task": task, "metrics": metrics, "lines": lines}


def test_the_best_evaluation_is_kept_not_the_later_worse_ones(uninterrupted):
    run, task, metrics = uninterrupted["run"], uninterrupted["task"], uninterrupted["metrics"]
    # 6 evaluations during training, then the kept weights scored once more.
    assert len(task.evaluated) == 7
    best = SCRIPT.index(max(SCRIPT))
    assert_weights_equal(final_weights(run), task.evaluated[best])
    assert_weights_equal(task.evaluated[-1], task.evaluated[best])
    last = task.evaluated[len(SCRIPT) - 1]
    assert max(float(np.abs(a - b).max()) for a, b in zip(final_weights(run), last)) > 1e-4
    # metrics.json and the returned scores are the best weights'.
    assert metrics == {"scripted": 0.7, "other": pytest.approx(0.3)}
    assert read(os.path.join(run, "metrics.json")) == metrics
    kept = latest_best(run, log=quiet)
    assert (kept.evaluation, kept.metric, kept.score) == (2, "scripted", 0.7)
    assert kept.info["epoch"] == 1.0 and kept.info["metrics"]["other"] == pytest.approx(0.3)
    assert any("Keeping the weights of the best dev evaluation, 2 of 6 (epoch 1/3, part 2/2)"
               in line
               for line in uninterrupted["lines"])


def test_every_evaluation_is_in_the_history_tensorboard_and_the_printed_lines(uninterrupted):
    run, lines = uninterrupted["run"], uninterrupted["lines"]
    history = read(os.path.join(run, "history.json"))
    assert history["val_scripted"] == SCRIPT
    assert history["val_other"] == pytest.approx([1 - s for s in SCRIPT])
    assert len(history["loss"]) == len(SCRIPT)
    assert tensorboard_scalars(os.path.join(run, "logs", "validation"), "epoch_scripted") == {
        step: pytest.approx(value) for step, value in enumerate(SCRIPT)}
    # Fit's 6 epochs are printed as the 3 real ones, in halves of 3 steps.
    epochs = [line.split(":")[0] for line in lines if line.startswith("epoch ")]
    assert epochs == [f"epoch {e}/3, part {p}/2" for e in (1, 2, 3) for p in (1, 2)]
    assert all(" 3 steps in " in line for line in lines if line.startswith("epoch "))
    dev = [line for line in lines if line.startswith("dev after ")]
    assert dev[0].startswith("dev after epoch 1/3, part 1/2: scripted 0.3 (new best")
    assert dev[2].startswith("dev after epoch 2/3, part 1/2: scripted 0.5 (best 0.7 at "
                             "evaluation 2")
    assert any("18 steps = 3 epochs x 6; dev scored 2 time(s) an epoch (every 3 steps)" in line
               for line in lines)


def test_a_crash_between_evaluations_resumes_with_the_same_best(data, uninterrupted, tmp_path):
    run = tmp_path / "run"
    scores = {}
    # Evaluations 1-3 done (checkpoint 3 written), killed during the 4th.
    with pytest.raises(Crash):
        finetune(ScriptedNer(SCRIPT, crash_at=4, scores=scores), data, run)
    assert sorted(os.listdir(run / "backup")) == ["epoch-000002", "epoch-000003"]
    assert read(run / "history.json")["val_scripted"] == SCRIPT[:3]
    assert latest_best(str(run), log=quiet).evaluation == 2
    assert not (run / "model.keras").exists() and not (run / "metrics.json").exists()
    resumed = ScriptedNer(SCRIPT, scores=scores)
    lines = []
    metrics = finetune(resumed, data, run, log=lines.append)
    assert any("starting at epoch 1.5" in line for line in lines)
    assert len(resumed.evaluated) == 4  # evaluations 4, 5, 6 and the kept weights
    assert metrics == uninterrupted["metrics"]
    assert read(run / "history.json")["val_scripted"] == SCRIPT
    # The best weights survived the crash: the resumed run ends with evaluation 2's.
    assert_weights_equal(final_weights(str(run)), uninterrupted["task"].evaluated[1])
    # The resumed run trained on the batches the uninterrupted one did.
    assert_weights_equal(resumed.evaluated[2], uninterrupted["task"].evaluated[5], atol=1e-6)
    history, reference = read(run / "history.json"), read(
        os.path.join(uninterrupted["run"], "history.json"))
    np.testing.assert_allclose(history["loss"], reference["loss"], atol=1e-6, rtol=0)


def test_a_finished_run_is_recognised_and_rescored_as_its_best(data, uninterrupted):
    run = uninterrupted["run"]
    task = ScriptedNer(SCRIPT, scores=dict(uninterrupted["task"].scores))
    config = finetune_config(SETTINGS, task)
    assert finished_metrics(run, task, config) == uninterrupted["metrics"]
    assert finished_metrics(run, task, apply_finetune_overrides(config, ["epochs=4"])) is None
    assert finished_metrics(run, task, apply_finetune_overrides(config, ["seed=1"])) is None


def test_no_evaluation_during_training_keeps_the_last_weights(data, tmp_path):
    task = ScriptedNer(SCRIPT)
    run = tmp_path / "run"
    finetune(task, data, run, config={**SETTINGS, "epochs": 1, "eval_per_epoch": 0})
    assert len(task.evaluated) == 1  # only at the end
    assert not (run / "best").exists()
    assert sorted(read(run / "history.json")) == ["loss"]
    assert sorted(os.listdir(run / "backup")) == ["epoch-000001"]


def test_more_evaluations_than_steps_are_refused(data, tmp_path):
    with pytest.raises(ValueError, match="eval_per_epoch=7 exceeds the 6 steps of an epoch"):
        finetune(ScriptedNer(SCRIPT), data, tmp_path / "run",
                 config={**SETTINGS, "eval_per_epoch": 7})


def test_eval_per_epoch_is_a_config_field_a_task_may_default():
    class Mrqa(NerTask):
        config_defaults = {"eval_per_epoch": 5}

    assert FinetuneConfig().eval_per_epoch == 1
    assert finetune_config(None, Mrqa()).eval_per_epoch == 5
    assert apply_finetune_overrides(finetune_config(None, Mrqa()),
                                    ["eval_per_epoch=2"]).eval_per_epoch == 2
    for bad in ("-1", "true"):
        with pytest.raises(ValueError, match="eval_per_epoch must be"):
            apply_finetune_overrides(FinetuneConfig(), [f"eval_per_epoch={bad}"])


def test_a_run_written_before_eval_per_epoch_reads_as_one_evaluation_an_epoch(tmp_path):
    class Mrqa(NerTask):
        config_defaults = {"eval_per_epoch": 5}

    path = tmp_path / "config.yaml"
    values = {"task": "ner", **FinetuneConfig().to_dict()}
    del values["eval_per_epoch"]
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    assert saved_config(str(path), Mrqa()).eval_per_epoch == 1


def test_the_metric_is_a_name_or_a_method_of_the_run():
    config = FinetuneConfig()

    class Named(NerTask):
        metric_name = "accuracy"

    class ByRun(NerTask):
        def metric_name(self, task_info, config):
            return "best_f1" if task_info["version_2"] else "f1"

    class Unnamed(NerTask):
        metric_name = None

    assert dev_metric_name(Named(), {}, config) == "accuracy"
    assert dev_metric_name(ByRun(), {"version_2": True}, config) == "best_f1"
    assert dev_metric_name(ByRun(), {"version_2": False}, config) == "f1"
    with pytest.raises(ValueError, match="names no metric_name"):
        dev_metric_name(Unnamed(), {}, config)


def tiny_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def evaluations(tmp_path, scores, run="run"):
    """The `DevEvaluation` callback alone, fed `scores`; returns it, the logs and the weights."""
    model = tiny_model()
    script = iter(scores)
    callback = DevEvaluation(lambda m: {"f1": next(script)}, "f1", str(tmp_path / run), log=quiet)
    callback.set_model(model)
    callback.on_train_begin()
    logs, weights = [], []
    for epoch in range(len(scores)):
        model.layers[0].kernel.assign(np.full((2, 1), float(epoch), "float32"))
        weights.append(model.layers[0].kernel.numpy().copy())
        logs.append({"loss": 1.0})
        callback.on_epoch_end(epoch, logs[-1])
    return callback, logs, weights


def test_the_first_of_equal_scores_stays_and_a_nan_never_wins(tmp_path):
    callback, logs, weights = evaluations(tmp_path, [float("nan"), 0.4, 0.4, float("nan"), 0.3])
    assert callback.best.evaluation == 2 and callback.best.score == 0.4
    assert [log_["val_f1"] for log_ in logs][1:3] == [0.4, 0.4]
    model = tiny_model()
    restore_best(model, latest_best(str(tmp_path / "run"), log=quiet))
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), weights[1])
    # A resumed callback starts from the kept best: a lower score does not replace it.
    again, _, _ = evaluations(tmp_path, [0.35])
    assert again.best.evaluation == 2


def test_a_missing_metric_is_named_with_the_scores_there_are(tmp_path):
    model = tiny_model()
    callback = DevEvaluation(lambda m: {"accuracy": 1.0, "f1": 0.5}, "spearman",
                             str(tmp_path / "run"), log=quiet)
    callback.set_model(model)
    callback.on_train_begin()
    with pytest.raises(ValueError, match=r"no 'spearman' .* they have \['accuracy', 'f1'\]"):
        callback.on_epoch_end(0, {})


def test_damaged_best_weights_fall_back_to_the_previous_ones(tmp_path):
    model = tiny_model()
    run = str(tmp_path / "run")
    for evaluation in (1, 2, 3):
        model.layers[0].kernel.assign(np.full((2, 1), float(evaluation), "float32"))
        save_best(model, run, evaluation, {"metric": "f1", "score": evaluation / 10})
    assert sorted(os.listdir(os.path.join(run, "best"))) == ["eval-000002", "eval-000003"]
    newest = os.path.join(run, "best", "eval-000003", "weights.npz")
    with open(newest, "r+b") as f:
        f.truncate(os.path.getsize(newest) // 2)
    warnings = []
    best = latest_best(run, log=warnings.append)
    assert best.evaluation == 2 and "evaluation 3 are damaged" in warnings[0]
    os.remove(os.path.join(run, "best", "eval-000002", "best.json"))
    with pytest.raises(ValueError, match="holds no intact best weights"):
        latest_best(run, log=quiet)
    # Weights of another model are refused with the file named.
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    save_best(other, str(tmp_path / "other"), 1, {"metric": "f1", "score": 0.0})
    with pytest.raises(ValueError, match=r"weights.npz cannot be loaded into this run's model"):
        restore_best(model, latest_best(str(tmp_path / "other"), log=quiet))


def test_the_progress_bar_names_the_real_epoch_and_part(capsys):
    verbose, callbacks = fit_progress(1, parts=2)
    assert verbose == 1 and [type(c) for c in callbacks] == [EpochProgbar]
    assert fit_progress(1, parts=1) == (1, []) and fit_progress(0, parts=2) == (0, [])
    model = tiny_model()
    data = tf.data.Dataset.from_tensors((np.ones((4, 2), "float32"), np.ones((4, 1), "float32")))
    model.fit(data.repeat(), epochs=4, steps_per_epoch=1, verbose=verbose, callbacks=callbacks,
              shuffle=False)
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("Epoch ")] == [
        "Epoch 1/2, part 1/2", "Epoch 1/2, part 2/2", "Epoch 2/2, part 1/2", "Epoch 2/2, part 2/2"]
