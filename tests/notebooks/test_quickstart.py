"""The quickstart notebook runs top to bottom and writes only to a temporary directory."""

import os

import jupytext
import nbformat
from nbclient import NotebookClient

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "notebooks")


def test_notebook_matches_its_source():
    notebook = nbformat.read(os.path.join(NOTEBOOKS, "quickstart.ipynb"), as_version=4)
    source = jupytext.read(os.path.join(NOTEBOOKS, "quickstart.py"))
    assert [c.source for c in notebook.cells] == [c.source for c in source.cells]


def test_quickstart_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("SPANBERT_KERAS_NOTEBOOK_TEST", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    before = set(os.listdir(NOTEBOOKS))
    notebook = nbformat.read(os.path.join(NOTEBOOKS, "quickstart.ipynb"), as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)
    assert "writing to " + str(tmp_path) in outputs
    assert "mlm_accuracy" in outputs and "max |SavedModel - Keras|" in outputs
    assert set(os.listdir(NOTEBOOKS)) == before
    leftovers = [n for n in os.listdir(tmp_path) if not n.startswith("spanbert-quickstart-")]
    assert all(not n.endswith((".keras", ".tflite")) for n in leftovers)
