"""The `tacred` task through its FinetuneTask methods: markers, batches, predictions
equal to the Keras model's, the TACRED scores, and the export in a fresh process."""

import collections
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from task_data import VOCABULARY
from task_data import load_without_package
from task_data import tacred_records
from task_data import tiny_backbone
from task_data import write_tacred
from test_case import assert_allclose
from test_case import to_numpy

from spanbert_keras.config import FinetuneConfig
from spanbert_keras.data.tacred import RelationFeatures
from spanbert_keras.data.tacred import entity_markers
from spanbert_keras.data.tacred import example_tensors
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.metrics.tacred import score_tacred
from spanbert_keras.tasks import get_task
from spanbert_keras.tasks.tacred import authors_task_info
from spanbert_keras.tasks.tacred import task_vocabulary

TASK = get_task("tacred")


def config(**values):
    return FinetuneConfig(**{**TASK.config_defaults, "sequence_length": 24, "batch_size": 8,
                             "epochs": 1, "dropout": 0.0, **values})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny model trained one epoch on 40 records; the dev file and the run's parts."""
    folder = tmp_path_factory.mktemp("tacred")
    train_path = write_tacred(folder / "train.json", tacred_records(40, seed=0))
    dev = tacred_records(12, seed=1, prefix="d")
    dev[3] = dict(dev[3], relation="per:title")  # unknown to the model
    dev[5] = dict(dev[5], obj_type="DATE")  # a type of the dev set only
    dev[7] = dict(dev[7], obj_type="URL")
    dev[0] = dict(dev[0], token=dev[0]["token"] + ["-LRB-", "Emma", "-rrb-"])  # PTB brackets
    dev_path = write_tacred(folder / "dev.json", dev)
    test = [dict(r, obj_type="LOCATION") if i == 2 else r
            for i, r in enumerate(tacred_records(6, seed=2, prefix="t"))]
    test_path = write_tacred(folder / "test.json", test)
    train, problems = TASK.read(train_path)
    assert problems == []
    dev_examples = TASK.read(dev_path)[0]
    settings = config()
    info = TASK.prepare(train, VOCABULARY, settings, dev_examples)
    model = TASK.build_model(tiny_backbone(), info, settings)
    dataset = TASK.dataset(train, VOCABULARY, info, settings, training=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), **TASK.compile_args(info, settings))
    model.fit(dataset, epochs=1, verbose=0)
    return {"folder": folder, "train": train, "dev": dev_examples, "info": info,
            "model": model, "config": settings, "dev_path": dev_path,
            "train_path": train_path, "test": TASK.read(test_path)[0]}


def test_labels_by_training_frequency_and_markers_numbered_over_dev_then_train(run):
    info, train, dev = run["info"], run["train"], run["dev"]
    counts = collections.Counter(e["relation"] for e in train)
    assert info["labels"] == ["no_relation"] + [
        r for r, _ in counts.most_common() if r != "no_relation"]
    assert [counts[r] for r in info["labels"][1:]] == sorted(
        [counts[r] for r in info["labels"][1:]], reverse=True)
    markers = entity_markers(dev, train)
    assert markers[:4] == ["SUBJ_START", "SUBJ_END", "OBJ_START", "OBJ_END"]
    first_uses = [f"{role}={e[key]}" for e in dev + train
                  for role, key in (("SUBJ", "subj_type"), ("OBJ", "obj_type"))]
    assert markers[4:] == list(dict.fromkeys(first_uses))
    assert markers.index("OBJ=DATE") < markers.index("OBJ=URL")  # dev types first
    # The vocabulary has [unused1..3]: SUBJ_START .. OBJ_START take them; "ner" mode writes
    # only the type markers, which get added pieces (there is no [unused5] ...).
    expected = {m: f"[unused{n}]" for n, m in enumerate(markers[:3], 1)}
    expected.update({m: f"[{m}]" for m in markers[4:]})
    assert info["marker_pieces"] == expected
    assert info["added_pieces"] == [f"[{m}]" for m in markers[4:]]
    assert run["model"].backbone.vocabulary_size == VOCABULARY.size + len(markers) - 4
    assert TASK.metric_name == "micro_f1" and TASK.config_defaults["epochs"] == 10


def test_authors_task_info_from_the_files(run):
    info = authors_task_info(run["train_path"], run["dev_path"], VOCABULARY)
    assert info == run["info"]
    # A vocabulary of BERT's layout ([unused1..99]): every marker is the authors' piece.
    layout = Vocabulary(["[PAD]"] + [f"[unused{n}]" for n in range(1, 100)]
                        + [t for t in VOCABULARY.tokens if t != "[PAD]"
                           and not t.startswith("[unused")])
    info = authors_task_info(run["train_path"], run["dev_path"], layout, mode="text")
    markers = entity_markers(run["dev"], run["train"])
    assert info["marker_pieces"] == {m: f"[unused{n}]" for n, m in enumerate(markers, 1)}
    assert info["added_pieces"] == [] and info["options"]["mode"] == "text"
    assert info["labels"] == run["info"]["labels"]


def test_batches_are_the_features_and_label_ids(run):
    info, train, settings = run["info"], run["train"], run["config"]
    batches = list(TASK.dataset(train, VOCABULARY, info, settings, training=False))
    assert [len(b[1]) for b in batches] == [8, 8, 8, 8, 8]
    features = RelationFeatures(task_vocabulary(VOCABULARY, info), info["marker_pieces"], "ner", 24)
    expected = features(**example_tensors(train[:8]))
    x, y, weights = batches[0]
    assert_allclose({k: x[k] for k in x}, {k: expected[k] for k in x})
    assert y.numpy().tolist() == [info["labels"].index(e["relation"]) for e in train[:8]]
    assert weights.numpy().tolist() == [1.0] * 8
    training = TASK.dataset(train, VOCABULARY, info, settings, training=True)
    assert int(training.cardinality()) == 5  # drop_remainder, shuffled
    added = len(info["added_pieces"])
    with pytest.raises(ValueError, match=rf"needs 72 \(its vocabulary\) \+ {added}"):
        TASK.build_model(tiny_backbone(VOCABULARY.__class__(VOCABULARY.tokens + ["x", "y"])),
                         info, settings)


def test_predictions_equal_the_keras_model_and_scores_are_tacreds(run):
    info, dev, model, settings = run["info"], run["dev"], run["model"], run["config"]
    predictions = TASK.predict(model, dev, VOCABULARY, info, settings)  # no warning: all typed
    with pytest.warns(UserWarning, match="label 'per:title' is not one of the model's 4 labels"):
        x = TASK.dataset(dev, VOCABULARY, info, settings, training=False).map(lambda x, y, w: x)
    logits = model.predict(x, verbose=0)
    assert list(predictions) == [e["id"] for e in dev]
    assert list(predictions.values()) == [info["labels"][i] for i in np.argmax(logits, -1)]
    with pytest.warns(UserWarning, match=r"1 evaluation label\(s\) the model was not trained "
                                         r"on.*\n.*dev.json: record 3: label 'per:title'"):
        scores = TASK.score(predictions, dev, info)
    expected = score_tacred([e["relation"] for e in dev], list(predictions.values()))
    assert scores == {k: expected[k] for k in ("micro_f1", "precision", "recall")}
    assert list(scores) == ["micro_f1", "precision", "recall"]
    with pytest.warns(UserWarning, match=r"1 prediction\(s\) made on cut inputs:\n.*test.json: "
                                         r"record 2: entity type\(s\) \['OBJ=LOCATION'\] without"):
        TASK.predict(model, run["test"], VOCABULARY, info, settings)


def test_export_answers_as_the_keras_model_in_a_fresh_process(run, tmp_path):
    info, dev, model, settings = run["info"], run["dev"], run["model"], run["config"]
    paths = TASK.export(model, VOCABULARY, info, settings, str(tmp_path / "relations" / "1"))
    saved = paths["saved_model"]
    with open(os.path.join(saved, "assets", "vocab.txt"), encoding="utf-8") as f:
        assert f.read().split("\n")[:-1] == task_vocabulary(VOCABULARY, info).tokens
    with open(os.path.join(saved, "export_info.json"), encoding="utf-8") as f:
        exported = json.load(f)
    assert exported["settings"]["labels"] == info["labels"]
    assert (exported["task"], exported["model"]["class"]) == ("tacred", "SpanBertRelationClassifier")
    assert sorted(exported["signatures"]["serving_default"]["outputs"]) == [
        "entities_truncated", "label", "label_id", "score", "scores", "truncated"]
    inputs = {k: to_numpy(v) for k, v in TASK.serving_inputs(dev).items()}
    expected = TASK.serving(model, VOCABULARY, info, settings).functions()["serving_default"](
        **inputs)
    report, outputs = load_without_package(saved, {f"serving_default/{k}": v
                                                   for k, v in inputs.items()}, tmp_path)
    assert report["imported"] == {"spanbert_keras": False, "keras_hub": False,
                                  "tensorflow_text": True}
    outputs = {k.split("/", 1)[1]: v for k, v in outputs.items()}
    assert_allclose(outputs, {k: to_numpy(v) for k, v in expected.items()}, atol=1e-5)
    predictions = TASK.predict(model, dev, VOCABULARY, info, settings)
    assert [b.decode() for b in outputs["label"]] == list(predictions.values())
    # The brackets are converted in the graph: "-LRB-" is read as "(" (one piece here, where
    # "-LRB-" itself would be three).
    assert len(SpanBertTokenizer(VOCABULARY).tokenize(["-LRB-"]).to_list()[0]) == 3
    plain = [dict(e, tokens=[{"-LRB-": "(", "-rrb-": ")"}.get(t, t) for t in e["tokens"]])
             for e in dev]
    assert plain[0]["tokens"] != dev[0]["tokens"]
    serving = TASK.serving(model, VOCABULARY, info, settings).functions()["serving_default"]
    assert_allclose(to_numpy(serving(**TASK.serving_inputs(plain))), to_numpy(expected))
    logits = tf.cast(model({k: TASK.features(VOCABULARY, info, settings)(
        **example_tensors(dev))[k] for k in ("token_ids", "segment_ids", "padding_mask")}),
        tf.float32)
    np.testing.assert_allclose(outputs["scores"], tf.nn.softmax(logits).numpy(), atol=1e-5)


def test_text_mode_markers_and_bad_options():
    train = [dict(r, tokens=r["token"], where="x") for r in tacred_records(4)]
    info = TASK.prepare(train, VOCABULARY, config(options={"mode": "text"}))
    assert info["marker_pieces"] == {"SUBJ_START": "[unused1]", "SUBJ_END": "[unused2]",
                                     "OBJ_START": "[unused3]", "OBJ_END": "[OBJ_END]"}
    with pytest.raises(ValueError, match="options.mode must be one of"):
        TASK.prepare(train, VOCABULARY, config(options={"mode": "entity"}))
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['marker'\]"):
        TASK.options(config(options={"marker": "x"}))
