"""The end-to-end job (`make demo`'s pipeline) on a small corpus, twice."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_pipeline(tmp_path, corpus):
    command = [
        sys.executable, os.path.join(REPO, "pipelines", "run.py"),
        "--config", os.path.join(REPO, "pipelines", "configs", "demo.yaml"),
        "--output", str(tmp_path / "runs" / "demo"), "--corpus", corpus,
        "--export-name", "spanbert-test", "--saved-models", str(tmp_path / "saved_models"),
        "--steps", "4", "--set", "training.steps_per_epoch=2", "--set", "data.batch_size=4",
        "--set", "data.sequence_length=64", "--set", "data.vocabulary_size=2000",
        "--set", "data.validation_fraction=0.2", "--set", "training.eval_steps=2",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_pipeline_runs_every_stage_then_skips_them(tmp_path, demo_excerpt):
    corpus = demo_excerpt(20)
    first = run_pipeline(tmp_path, corpus)
    for number in range(1, 5):
        assert f"stage {number}/4" in first
    run = tmp_path / "runs" / "demo"
    with open(run / "evaluation.json") as f:
        evaluation = json.load(f)
    assert {"mlm_loss", "sbo_loss", "mlm_accuracy", "sbo_accuracy"} <= set(evaluation)
    assert (tmp_path / "saved_models" / "spanbert-test" / "1" / "saved_model.pb").exists()
    assert (tmp_path / "saved_models" / "spanbert-test-ids" / "1" / "saved_model.pb").exists()
    assert (tmp_path / "saved_models" / "spanbert-test.tflite").exists()
    assert "truth:" in first and "MLM top-3" in first and "tensorboard --logdir" in first
    # The closing comparison: both heads' top-1 / top-5 beside the most frequent pieces.
    assert "held-out spans" in first and "the most frequent pieces" in first
    assert "built-in preset" not in first  # not the shipped corpus: no comparable preset
    # Run again: every finished stage is skipped.
    second = run_pipeline(tmp_path, corpus)
    assert "nothing to do" in second and "(already evaluated)" in second
    with open(run / "history.json") as f:
        assert len(json.load(f)["loss"]) == 2
