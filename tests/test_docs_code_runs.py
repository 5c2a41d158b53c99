"""Every Python block of the documentation runs, as a reader would run it.

tests/test_docs.py compiles the README's and the pages' ```python blocks; here
each one is run in a fresh process (`python -c BLOCK`) from a folder that holds
what the blocks read, made beforehand by the `spanbert-keras` command with the
smallest settings that work:

- `runs/cli`: the README's command-line pre-training run (a few steps on an
  excerpt of the shipped corpus);
- `saved_models/spanbert-demo/1`, `saved_models/spanbert-demo-ids/1` and
  `saved_models/spanbert-demo.tflite`: `make demo`'s exports (here of
  `runs/cli`);
- `runs/squad`, `runs/conll`, `runs/coref` and their exports
  `saved_models/spanbert-{squad,conll,coref}/1`: one epoch of fine-tuning the
  built-in preset `austen-tiny` on a few synthetic examples (tests/qa_data.py,
  tests/task_data.py, tests/coref_data.py).

The models learn next to nothing: a block passes when it runs without error
(its answers are tested elsewhere). A block that tests/test_readme.py already
runs (the README's quickstart) is skipped here. A new Python block is picked up
by itself; if it reads a file the folder does not hold, it fails here until the
fixture builds it.
"""

import concurrent.futures
import fcntl
import os
import shutil
import subprocess
import sys

import pytest
from test_docs import DOCS
from test_docs import doc_pages
from test_docs import read
from test_docs import split_fences
from test_readme import REPO
from test_readme import readme_section

pytestmark = pytest.mark.slow

# Short windows and one small batch an epoch: the runs exist to be loaded, not to score.
TASKS = {
    "squad": ("squad-train.json", "squad-dev.json",
              ["--set", "sequence_length=64", "--set", "batch_size=8",
               "--set", "options.max_query_length=16", "--set", "options.doc_stride=32"]),
    "ner": ("ner-train.txt", "ner-dev.txt",
            ["--set", "sequence_length=32", "--set", "batch_size=8"]),
    "coref": ("coref/train.english.v4_gold_conll", "coref/dev.english.v4_gold_conll",
              ["--set", "sequence_length=64"]),
}
# The folder names the pages use.
RUNS = {"squad": "squad", "ner": "conll", "coref": "coref"}


def python_blocks():
    """(page, index among the page's Python blocks, code): the README first, then docs/."""
    found = []
    for page in ["README.md"] + doc_pages():
        path = os.path.join(REPO, page) if page == "README.md" else os.path.join(DOCS, page)
        _, blocks = split_fences(read(path))
        python = [code for language, code in blocks if language == "python"]
        found += [(page, index, code) for index, code in enumerate(python)]
    return found


BLOCKS = python_blocks()
# What tests/test_readme.py runs, in a folder shaped like the repository.
RUN_BY_TEST_README = {code.strip()
                      for code in readme_section("Quickstart in Python", language="python")}


def cli(*args, cwd):
    result = subprocess.run([sys.executable, "-m", "spanbert_keras_cli", *args], cwd=cwd,
                            capture_output=True, text=True, timeout=900,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if result.returncode != 0:
        raise AssertionError(f"spanbert-keras {' '.join(args)}: exit {result.returncode}\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def write_data(folder):
    """The pre-training corpus excerpt and the task files, under `folder`."""
    from coref_data import write_coref_corpus
    from qa_data import squad_json
    from qa_data import synthetic_squad
    from task_data import ner_sentences
    from task_data import write_conll

    from spanbert_keras.resources import DEMO_CORPUS

    os.makedirs(folder)
    with open(DEMO_CORPUS, encoding="utf-8") as f:
        documents = [d for d in f.read().split("\n\n") if d.strip()][:25]
    with open(os.path.join(folder, "corpus.txt"), "w", encoding="utf-8") as f:
        f.write("\n\n".join(documents) + "\n")
    for name, examples in (("squad-train.json", synthetic_squad(16, seed=0, prefix="t")),
                           ("squad-dev.json", synthetic_squad(8, seed=1, prefix="d"))):
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(squad_json(examples))
    write_conll(os.path.join(folder, "ner-train.txt"), ner_sentences(16, seed=0))
    write_conll(os.path.join(folder, "ner-dev.txt"), ner_sentences(8, seed=1))
    write_coref_corpus(os.path.join(folder, "coref"), num_train=4, num_dev=2, seed=0,
                       sentences_per_document=(3, 5))


def pretrain_and_export(root):
    """The README's `runs/cli` (fewer, smaller steps), exported as the demo's models."""
    config = os.path.join(REPO, "pipelines", "configs", "tiny.yaml")
    cli("pretrain", "--config", config, "--corpus", "data/corpus.txt", "--steps", "2",
        "--output", "runs/cli", "--set", "data.batch_size=4", "--set", "data.sequence_length=64",
        "--set", "training.steps_per_epoch=2", "--set", "training.eval_steps=1",
        "--set", "data.vocabulary_size=2000", "--set", "data.validation_fraction=0.2", cwd=root)
    cli("export", "--run", "runs/cli", "--output", "saved_models/spanbert-demo/1",
        "--tflite", cwd=root)


def finetune(root, task):
    train, dev, settings = TASKS[task]
    cli("finetune", task, "--init", "austen-tiny", "--train", f"data/{train}",
        "--dev", f"data/{dev}", "--output", f"runs/{RUNS[task]}",
        "--export", f"saved_models/spanbert-{RUNS[task]}/1", "--set", "epochs=1", *settings,
        cwd=root)


def build(root):
    write_data(os.path.join(root, "data"))
    jobs = [(pretrain_and_export, root)]
    jobs += [(finetune, root, task) for task in ("coref", "squad", "ner")]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:  # the machine's 2 cores
        for future in [pool.submit(*job) for job in jobs]:
            future.result()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """The folder the blocks run in; built once per session (xdist workers share it)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "docs-code-artifacts"
    folder = root / "cwd"
    root.mkdir(exist_ok=True)
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / "failed").exists():
            pytest.fail((root / "failed").read_text(encoding="utf-8"), pytrace=False)
        if not (root / "done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            try:
                build(str(folder))
            except BaseException as error:
                (root / "failed").write_text(f"building the docs' files failed: {error}",
                                             encoding="utf-8")
                raise
            (root / "done").touch()
    return str(folder)


def block_params():
    params = []
    for page, index, code in BLOCKS:
        marks = [pytest.mark.skip(reason="run by tests/test_readme.py::"
                                         "test_python_quickstart_runs_as_written")
                 ] if code.strip() in RUN_BY_TEST_README else []
        params.append(pytest.param(page, index, code, id=f"{page}-block{index}", marks=marks))
    return params


@pytest.mark.parametrize("page, index, code", block_params())
def test_python_block_runs(artifacts, page, index, code):
    result = subprocess.run([sys.executable, "-c", code], cwd=artifacts, capture_output=True,
                            text=True, timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, (
        f"{page}, Python block {index} (from 0) exited {result.returncode}:\n{code}\n"
        f"--- stdout (tail)\n{result.stdout[-2000:]}\n--- stderr (tail)\n{result.stderr[-4000:]}")


def test_the_blocks_are_found():
    """The collection found the blocks (a parsing change would otherwise run nothing)."""
    pages = {page for page, _, _ in BLOCKS}
    assert len(BLOCKS) >= 8 and {"README.md", "export-and-serving.md", "fine-tuning/index.md", "presets.md",
                                  "span-masking.md"} <= pages
