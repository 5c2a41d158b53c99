"""The `glue` task through its FinetuneTask methods: options and columns, batches,
predictions equal to the Keras model's (classes and regression), GLUE scores, exports
answering the same in a fresh process."""

import keras
import numpy as np
import pytest
from task_data import VOCABULARY
from task_data import load_without_package
from task_data import sentiment_rows
from task_data import tiny_backbone
from task_data import write_tsv
from test_case import assert_allclose
from test_case import to_numpy

from spanbert_keras.config import FinetuneConfig
from spanbert_keras.data.glue import TextFeatures
from spanbert_keras.metrics.glue import classification_metrics
from spanbert_keras.metrics.glue import regression_metrics
from spanbert_keras.tasks import get_task
from spanbert_keras.tasks.glue import GlueOptions
from spanbert_keras.tasks.glue import resolve_options

TASK = get_task("glue")
INPUTS = ("token_ids", "segment_ids", "padding_mask")


def config(**values):
    return FinetuneConfig(**{**TASK.config_defaults, "sequence_length": 16, "batch_size": 8,
                             "epochs": 1, "dropout": 0.0, **values})


def trained(train, info, settings):
    model = TASK.build_model(tiny_backbone(), info, settings)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), **TASK.compile_args(info, settings))
    model.fit(TASK.dataset(train, VOCABULARY, info, settings, training=True), verbose=0)
    return model


def keras_outputs(model, examples, info, settings):
    features = TextFeatures(VOCABULARY, settings.sequence_length)(
        [e["text_a"] for e in examples],
        None if examples[0]["text_b"] is None else [e["text_b"] for e in examples])
    return to_numpy(model({k: features[k] for k in INPUTS})), features


def export_and_load(model, info, settings, inputs, tmp_path, name):
    paths = TASK.export(model, VOCABULARY, info, settings, str(tmp_path / name / "1"))
    report, outputs = load_without_package(
        paths["saved_model"], {f"serving_default/{k}": np.array(v, dtype=bytes)
                               for k, v in inputs.items()}, tmp_path)
    assert not report["imported"]["spanbert_keras"] and not report["imported"]["keras_hub"]
    return paths["export_info"], {k.split("/", 1)[1]: v for k, v in outputs.items()}


def test_options_recognise_glue_files_and_refuse_what_does_not_apply():
    def header(*names):
        return [{"fields": list(names)}]

    assert resolve_options(GlueOptions(), header("sentence", "label"))["task"] == "sst2"
    # The metrics the authors' run_glue.py keeps the best model by (acc_and_f1, corr).
    mrpc = resolve_options(GlueOptions(), header("Quality", "#1 ID", "#2 ID", "#1 String",
                                                 "#2 String"))
    assert (mrpc["task"], mrpc["metric"], mrpc["positive_label"]) == ("mrpc", "accuracy_f1",
                                                                      "1")
    stsb = resolve_options(GlueOptions(), header("index", "sentence1", "sentence2", "score"))
    assert (stsb["task"], stsb["regression"], stsb["metric"]) == ("stsb", True,
                                                                  "pearson_spearman")
    qqp = resolve_options(GlueOptions(), header("id", "qid1", "qid2", "question1", "question2",
                                                "is_duplicate"))
    assert (qqp["task"], qqp["metric"]) == ("qqp", "accuracy_f1")
    cola = resolve_options(GlueOptions(task="cola"), header("gj04", "1", "", "Text ."))
    assert (cola["header"], cola["text_a"], cola["label"], cola["metric"]) == (
        False, 3, 1, "matthews_corrcoef")
    own = resolve_options(GlueOptions(text_a=0, label=1, header=False), header("a", "b"))
    assert (own["task"], own["metric"], own["text_b"]) == (None, "accuracy", None)
    with pytest.raises(ValueError, match="could not be recognised from the training file's"):
        resolve_options(GlueOptions(), header("gj04", "1", "", "Text ."))
    with pytest.raises(ValueError, match="options.metric='f1' does not apply"):
        resolve_options(GlueOptions(task="sst2", metric="f1"), header("sentence", "label"))
    with pytest.raises(ValueError, match="options.metric='accuracy_f1' does not apply"):
        resolve_options(GlueOptions(text_a=0, label=1, metric="accuracy_f1"), header("a", "b"))
    with pytest.raises(ValueError, match="options.task must be one of"):
        GlueOptions(task="sst")


def test_sentences_batches_predictions_scores_and_export(tmp_path):
    train_path = write_tsv(tmp_path / "train.tsv", sentiment_rows(32, seed=0))
    dev_rows = sentiment_rows(10, seed=1)
    dev_rows[4] = (dev_rows[4][0], "2")  # a label the model does not know
    dev_path = write_tsv(tmp_path / "dev.tsv", dev_rows + [("no label here",)])
    train, problems = TASK.read(train_path)
    assert problems == []
    dev, problems = TASK.read(dev_path)
    assert problems == [f"{dev_path}: line 12: 1 column(s), expected 2"]
    settings = config()
    info = TASK.prepare(train, VOCABULARY, settings)
    assert (info["labels"], info["metric"], info["options"]["task"]) == (["0", "1"], "accuracy",
                                                                          "sst2")
    assert TASK.metric_name(info, settings) == "accuracy"
    selected = TASK.select(train, info)
    assert [(e["id"], e["text_a"], e["label"]) for e in selected[:1]] == [
        ("2", sentiment_rows(1, seed=0)[0][0], sentiment_rows(1, seed=0)[0][1])]
    x, y, weights = next(iter(TASK.dataset(train, VOCABULARY, info, settings, training=False)))
    features = TextFeatures(VOCABULARY, 16)([e["text_a"] for e in selected[:8]])
    assert_allclose({k: x[k] for k in INPUTS}, {k: features[k] for k in INPUTS})
    assert y.numpy().tolist() == [int(e["label"]) for e in selected[:8]]

    model = trained(train, info, settings)
    predictions = TASK.predict(model, dev, VOCABULARY, info, settings)
    logits, _ = keras_outputs(model, TASK.select(dev, info), info, settings)
    assert list(predictions.values()) == [info["labels"][i] for i in logits.argmax(-1)]
    with pytest.warns(UserWarning, match=r"dev.tsv: line 6: label '2' is not one of the "
                                         r"model's 2 labels"):
        scores = TASK.score(predictions, dev, info)
    gold = [label for _, label in dev_rows]
    assert scores == classification_metrics(gold, list(predictions.values()))
    assert list(scores)[0] == "accuracy"

    texts = [e["text_a"] for e in TASK.select(dev, info)]
    export_info, outputs = export_and_load(model, info, settings, {"text": texts}, tmp_path,
                                           "sentiment")
    assert sorted(export_info["signatures"]["serving_default"]["inputs"]) == ["text"]
    assert [b.decode() for b in outputs["label"]] == list(predictions.values())
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(outputs["scores"], probabilities, atol=1e-5)
    assert outputs["truncated"].tolist() == [False] * len(texts)


def test_pairs_regression_predictions_scores_and_export(tmp_path):
    rows = [(a, b, f"{len(a) % 5}.5") for (a, _), (b, _) in zip(sentiment_rows(24, seed=2),
                                                                sentiment_rows(24, seed=3))]
    header = ("index", "sentence1", "sentence2", "score")
    rows = [(str(500 - 7 * i),) + row for i, row in enumerate(rows)]  # not line numbers
    train_path = write_tsv(tmp_path / "train.tsv", rows[:16], header)
    dev_path = write_tsv(tmp_path / "dev.tsv", rows[16:] + [("99", "a", "b", "high")], header)
    settings = config(options={"task": "stsb"})
    train, _ = TASK.read(train_path)
    assert len(train) == 16  # the header is not an example
    info = TASK.prepare(train, VOCABULARY, settings)
    assert (info["labels"], info["metric"]) == (None, "pearson_spearman")
    assert TASK.metric_name(info, settings) == "pearson_spearman"
    x, y, _ = next(iter(TASK.dataset(train, VOCABULARY, info, settings, training=False)))
    assert y.numpy()[:, 0].tolist() == [float(r[3]) for r in rows[:8]]
    assert x["segment_ids"].numpy().max() == 1
    assert isinstance(TASK.loss(info, settings), keras.losses.MeanSquaredError)

    model = trained(train, info, settings)
    dev, _ = TASK.read(dev_path)
    with pytest.warns(UserWarning, match=r"dev.tsv: line 10: label 'high' is not a number"):
        predictions = TASK.predict(model, dev, VOCABULARY, info, settings)
    assert list(predictions) == [r[0] for r in rows[16:]]  # ids: GLUE's index column
    values, _ = keras_outputs(model, [dict(text_a=r[1], text_b=r[2]) for r in rows[16:]],
                              info, settings)
    np.testing.assert_allclose(list(predictions.values()), values[:, 0], atol=1e-6)
    with pytest.warns(UserWarning, match="label 'high' is not a number"):
        scores = TASK.score(predictions, dev, info)
    expected = regression_metrics([float(r[3]) for r in rows[16:]], list(predictions.values()))
    assert scores == {"pearson_spearman": expected["pearson_spearman"],
                      "pearson": expected["pearson"], "spearman": expected["spearman"]}
    assert list(scores)[0] == "pearson_spearman"

    inputs = {"text_a": [r[1] for r in rows[16:]], "text_b": [r[2] for r in rows[16:]]}
    export_info, outputs = export_and_load(model, info, settings, inputs, tmp_path, "similarity")
    assert sorted(export_info["signatures"]["serving_default"]["outputs"]) == ["score",
                                                                               "truncated"]
    np.testing.assert_allclose(outputs["score"], values[:, 0], atol=1e-5)


def test_cola_files_have_no_header(tmp_path):
    rows = [("gj04", label, "" if label == "1" else "*", text)
            for text, label in sentiment_rows(6, seed=4)]
    path = write_tsv(tmp_path / "cola.tsv", rows, header=None)
    train, _ = TASK.read(path)
    assert len(train) == len(rows)  # every line is an example
    info = TASK.prepare(train, VOCABULARY, config(options={"task": "cola"}))
    assert [e["text_a"] for e in TASK.select(train, info)] == [r[3] for r in rows]
    assert [e["id"] for e in TASK.select(train, info)] == [str(n) for n in range(1, 7)]
    assert info["metric"] == "matthews_corrcoef"
    predictions = {e["id"]: "1" for e in TASK.select(train, info)}
    assert list(TASK.score(predictions, train, info)) == ["matthews_corrcoef", "accuracy"]


def test_the_papers_epochs_10_and_cola_4():
    assert TASK.config_defaults == {"sequence_length": 128, "epochs": 10}
    for task in ("sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli", None):
        options = {} if task is None else {"task": task}
        assert TASK.config_defaults_for(options) == {"sequence_length": 128, "epochs": 10}
    assert TASK.config_defaults_for({"task": "cola"}) == {"sequence_length": 128, "epochs": 4}
    assert TASK.config_defaults_for(None)["epochs"] == 10
    assert TASK.config_defaults["epochs"] == 10  # not changed by the CoLA call


def test_ids_are_glues_index_column_where_the_file_has_one(tmp_path):
    header = ("id", "qid1", "qid2", "question1", "question2", "is_duplicate")
    qqp = [(str(900 + 3 * i), "1", "2", a, b, label) for i, ((a, label), (b, _)) in
           enumerate(zip(sentiment_rows(8, seed=5), sentiment_rows(8, seed=6)))]
    path = write_tsv(tmp_path / "qqp.tsv", qqp, header)
    train, _ = TASK.read(path)
    info = TASK.prepare(train, VOCABULARY, config())
    assert info["options"]["task"] == "qqp" and info["metric"] == "accuracy_f1"
    assert [e["id"] for e in TASK.select(train, info)] == [r[0] for r in qqp]
    # A file of the same task without the column (as SST-2's, MRPC's dev): line numbers.
    sst = write_tsv(tmp_path / "sst.tsv", sentiment_rows(5, seed=7))
    rows, _ = TASK.read(sst)
    info = TASK.prepare(rows, VOCABULARY, config())
    assert [e["id"] for e in TASK.select(rows, info)] == ["2", "3", "4", "5", "6"]
    with_index = write_tsv(tmp_path / "sst_index.tsv",
                           [(str(40 + i), t, y) for i, (t, y) in enumerate(sentiment_rows(3))],
                           ("index", "sentence", "label"))
    rows, _ = TASK.read(with_index)
    assert [e["id"] for e in TASK.select(rows, info)] == ["40", "41", "42"]
    # Custom columns (no GLUE task): the line numbers, unless options.id_column.
    own = TASK.prepare(rows, VOCABULARY, config(options={"text_a": "sentence", "label": "label"}))
    assert [e["id"] for e in TASK.select(rows, own)] == ["2", "3", "4"]
