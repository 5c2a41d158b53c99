"""The `ner` task through its FinetuneTask methods: tags on first pieces, predictions
equal to the Keras model's, seqeval's entity scores, the export in a fresh process."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from task_data import VOCABULARY
from task_data import load_without_package
from task_data import ner_sentences
from task_data import tiny_backbone
from task_data import write_conll
from test_case import to_numpy

from spanbert_keras.config import FinetuneConfig
from spanbert_keras.data.conll import TaggingFeatures
from spanbert_keras.data.features import ragged_strings
from spanbert_keras.losses import WeightedMeanSparseCategoricalCrossentropy
from spanbert_keras.metrics.ner import score_entities
from spanbert_keras.tasks import get_task

TASK = get_task("ner")
LENGTH = 16


def config(**values):
    return FinetuneConfig(**{**TASK.config_defaults, "sequence_length": LENGTH, "batch_size": 8,
                             "epochs": 1, "dropout": 0.0, **values})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ner")
    train_path = write_conll(folder / "train.txt", ner_sentences(32, seed=0))
    dev = ner_sentences(9, seed=1)
    dev[2] = [(w, "B-MISC" if t == "B-LOC" else t) for w, t in dev[2]] + [("Bath", "B-MISC")]
    dev[6] = [("Emma", "B-PER"), ("Woodhouse", "I-PER")] * 8  # 32 pieces: cut at 16
    dev_path = write_conll(folder / "dev.txt", dev)
    train, problems = TASK.read(train_path)
    assert problems == []
    settings = config()
    info = TASK.prepare(train, VOCABULARY, settings)
    model = TASK.build_model(tiny_backbone(), info, settings)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), **TASK.compile_args(info, settings))
    model.fit(TASK.dataset(train, VOCABULARY, info, settings, training=True), verbose=0)
    return {"train": train, "dev": TASK.read(dev_path)[0], "dev_sentences": dev, "info": info,
            "model": model, "config": settings}


def first_piece_logits(model, sentences):
    features = TaggingFeatures(VOCABULARY, LENGTH)(ragged_strings(sentences))
    logits = to_numpy(model({k: features[k] for k in ("token_ids", "segment_ids",
                                                        "padding_mask")}))
    rows = []
    for row, positions in enumerate(features["first_positions"].to_list()):
        rows.append([logits[row, p] if p < LENGTH - 1 else None for p in positions])
    return rows


def test_labels_and_batches_weight_first_pieces_only(run):
    info, train = run["info"], run["train"]
    assert info["labels"] == ["O", "B-LOC", "B-ORG", "B-PER", "I-PER"]
    x, y, weights = next(iter(TASK.dataset(train, VOCABULARY, info, run["config"],
                                           training=False)))
    train = TASK.select(train, info)  # the tags of the chosen column
    tags = tf.ragged.constant([[info["labels"].index(t) for t in e["tags"]] for e in train[:8]])
    expected = TaggingFeatures(VOCABULARY, LENGTH)(ragged_strings([e["tokens"] for e in train[:8]]),
                                                   tags)
    assert y.numpy().tolist() == expected["labels"].numpy().tolist()
    assert weights.numpy().tolist() == expected["label_weights"].numpy().tolist()
    assert x["token_ids"].numpy().tolist() == expected["token_ids"].numpy().tolist()
    # One weight per kept word: the second piece of "Wood ##house" has none.
    kept = sum(min(len(e["tokens"]), LENGTH) for e in train[:8])
    assert weights.numpy().sum() <= kept and weights.numpy().sum() > 0
    # The mean over the labelled pieces of the global batch (whatever the replicas).
    assert isinstance(TASK.loss(info, run["config"]), WeightedMeanSparseCategoricalCrossentropy)


def test_predictions_equal_the_keras_model_and_scores_are_seqevals(run):
    info, dev, model, settings = run["info"], run["dev"], run["model"], run["config"]
    with pytest.warns(UserWarning, match=r"1 prediction\(s\) made on cut inputs:\n.*dev.txt: "
                                         r"line \d+: words beyond the sequence length tagged 'O'"):
        predictions = TASK.predict(model, dev, VOCABULARY, info, settings)
    for example, logits in zip(dev, first_piece_logits(model, [e["tokens"] for e in dev])):
        expected = [info["labels"][int(np.argmax(v))] if v is not None else "O" for v in logits]
        assert predictions[example["id"]] == expected
    assert len(predictions["6"]) == 16 and predictions["6"][-3:] == ["O"] * 3
    with pytest.warns(UserWarning, match=r"dev.txt: line \d+: tag 'B-MISC' is not one of the "
                                         r"model's 5 tags"):
        scores = TASK.score(predictions, dev, info)
    expected = score_entities([[t for _, t in s] for s in run["dev_sentences"]],
                              [predictions[e["id"]] for e in dev])
    assert scores == {k: expected[k] for k in ("f1", "precision", "recall")}


def test_export_tags_as_the_keras_model_in_a_fresh_process(run, tmp_path):
    info, dev, model, settings = run["info"], run["dev"][:6], run["model"], run["config"]
    paths = TASK.export(model, VOCABULARY, info, settings, str(tmp_path / "ner" / "1"))
    assert sorted(paths["export_info"]["signatures"]) == ["serving_default", "tag_words"]
    words = TASK.serving_inputs(dev)["words"].numpy()
    inputs = {"serving_default/text": np.array([" ".join(e["tokens"]) for e in dev], bytes),
              "tag_words/words": words}
    report, outputs = load_without_package(paths["saved_model"], inputs, tmp_path)
    assert report["signatures"] == ["serving_default", "tag_words"]
    assert not report["imported"]["spanbert_keras"]
    predictions = TASK.predict(model, dev, VOCABULARY, info, settings)
    for signature in ("serving_default", "tag_words"):
        tags = outputs[f"{signature}/tags"]
        counts = outputs[f"{signature}/num_words"]
        assert [[t.decode() for t in row[:n]] for row, n in zip(tags, counts)] == [
            predictions[e["id"]] for e in dev]
        assert outputs[f"{signature}/words"].tolist() == words.tolist()
    in_process = TASK.serving(model, VOCABULARY, info, settings).functions()["tag_words"](
        words=words)
    np.testing.assert_allclose(outputs["tag_words/scores"], in_process["scores"].numpy(),
                               atol=1e-5)
    np.testing.assert_allclose(outputs["serving_default/scores"], in_process["scores"].numpy(),
                               atol=1e-5)


def test_tag_column_and_iob1_options(tmp_path):
    path = tmp_path / "iob1.txt"
    path.write_text("Emma B-NP I-PER\nWoodhouse I-NP I-PER\nsang B-VP O\n\n"
                    "Bath B-NP I-LOC\n", encoding="utf-8")
    sentences, _ = TASK.read(str(path))
    info = TASK.prepare(sentences, VOCABULARY, config(options={"scheme": "iob1"}))
    assert [e["tags"] for e in TASK.select(sentences, info)] == [["B-PER", "I-PER", "O"],
                                                                  ["B-LOC"]]
    info = TASK.prepare(sentences, VOCABULARY, config(options={"tag_column": 1}))
    assert info["labels"] == ["O", "B-NP", "B-VP", "I-NP"]
    with pytest.raises(ValueError, match="options.scheme must be one of"):
        TASK.options(config(options={"scheme": "bioes"}))
