"""The `coref` task: documents -> features -> model -> predictions, files and the export.

The rules of the scorer are checked one by one in
tests/layers/test_coreference_scorer.py; here the parts are checked
together on small documents of the synthetic corpus (tests/coref_data.py).
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from coref_data import coref_documents
from coref_data import exported_clusters
from coref_data import resolve_words_inputs
from coref_data import write_conll
from task_data import load_without_package

from spanbert_keras.data.coref_reader import read_coref
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.finetuning.runner import finetune_optimizer
from spanbert_keras.models.span_bert_backbone import SpanBertBackbone
from spanbert_keras.tasks import get_task
from spanbert_keras.tasks.base import finetune_config
from spanbert_keras.tasks.coref import truncate_segments

TASK = get_task("coref")
OPTIONS = {"ffnn_size": 16, "feature_size": 4, "max_span_width": 5, "max_training_segments": 2}


@pytest.fixture(scope="module")
def documents():
    return coref_documents(6, split="train", seed=3, sentences_per_document=(3, 5))


@pytest.fixture(scope="module")
def vocabulary(documents):
    words = sorted({p for d in documents for s in d["sentences"] for w in s
                    for p in w.replace(".", " . ").split()})
    return Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])


def config(**values):
    return finetune_config({"sequence_length": 24, "options": dict(OPTIONS), **values}, TASK)


def tiny_model(vocabulary, run_config):
    keras.utils.set_random_seed(0)
    backbone = SpanBertBackbone(vocabulary_size=vocabulary.size, num_layers=1, num_heads=2,
                                hidden_dim=16, intermediate_dim=32, max_sequence_length=32)
    return TASK.build_model(backbone, TASK.prepare([], vocabulary, run_config), run_config)


def test_defaults_are_the_authors_spanbert_base_settings():
    defaults = finetune_config({}, TASK)
    assert (defaults.sequence_length, defaults.batch_size, defaults.epochs) == (384, 1, 20)
    assert defaults.learning_rate == 2e-5 and defaults.options == {}
    options = TASK.options(defaults)
    assert (options.task_learning_rate, options.max_span_width, options.ffnn_size,
            options.top_span_ratio, options.max_top_antecedents, options.coref_depth,
            options.max_training_segments) == (1e-4, 30, 3000, 0.4, 50, 2, 3)


def test_gold_mentions_land_on_their_words_pieces(documents, vocabulary):
    run_config = config()
    info = TASK.prepare(documents, vocabulary, run_config)
    dataset = TASK.dataset(documents, vocabulary, info, run_config, training=False)
    tokenizer = SpanBertTokenizer(vocabulary)
    for document, (x, y) in zip(documents, dataset):
        words = [w for s in document["sentences"] for w in s]
        pieces = x["piece_positions"].numpy()
        tokens = x["token_ids"].numpy().reshape(-1)[pieces]
        gold = sorted(zip(y["gold_starts"].numpy().tolist(), y["gold_ends"].numpy().tolist()))
        expected = sorted((m[0], m[1]) for c in document["clusters"] for m in c)
        assert len(gold) == len(expected)
        for (start, end), (first, last) in zip(gold, expected):
            assert tokens[start] == tokenizer.tokenize([words[first]]).to_list()[0][0]
            assert tokens[end] == tokenizer.tokenize([words[last]]).to_list()[0][-1]
            assert end - start + 1 == len(tokenizer.tokenize(
                [" ".join(words[first : last + 1])]).to_list()[0])
        assert x["token_ids"].shape[1] == 24 and x["genre"].shape == (1,)
        # A segment ends at a sentence end unless one sentence is longer than a segment.
        segments = x["piece_segments"].numpy()
        sentences = x["sentence_ids"].numpy()
        for i in np.nonzero(np.diff(segments))[0]:
            assert sentences[i] != sentences[i + 1] or np.sum(sentences == sentences[i]) > 22


def test_training_cuts_documents_to_consecutive_segments_and_keeps_the_gold_inside(
        documents, vocabulary):
    run_config = config()
    info = TASK.prepare(documents, vocabulary, run_config)
    x, y = next(iter(TASK.dataset(documents[:1], vocabulary, info, run_config, training=False)))
    assert x["token_ids"].shape[0] >= 3
    cut_x, cut_y = truncate_segments(x, y, 2, 1)
    inside = (x["piece_segments"].numpy() >= 1) & (x["piece_segments"].numpy() < 3)
    first = int(np.argmax(inside))
    np.testing.assert_array_equal(cut_x["token_ids"], x["token_ids"][1:3])
    np.testing.assert_array_equal(
        cut_x["token_ids"].numpy().reshape(-1)[cut_x["piece_positions"].numpy()],
        x["token_ids"].numpy().reshape(-1)[x["piece_positions"].numpy()[inside]])
    kept = [(s - first, e - first, c) for s, e, c in zip(
        y["gold_starts"].numpy(), y["gold_ends"].numpy(), y["gold_cluster_ids"].numpy())
        if inside[s] and inside[e]]
    assert list(zip(cut_y["gold_starts"].numpy(), cut_y["gold_ends"].numpy(),
                    cut_y["gold_cluster_ids"].numpy())) == kept
    with pytest.raises(ValueError, match="batch_size must be 1"):
        TASK.dataset(documents, vocabulary, info, config(batch_size=2), training=True)


def test_the_scorer_trains_at_its_own_rate_without_decay(vocabulary):
    run_config = config(learning_rate=1e-3, warmup_fraction=0.0, weight_decay=0.5,
                        options={**OPTIONS, "task_learning_rate": 1e-1})
    model = tiny_model(vocabulary, run_config)
    info = TASK.prepare([], vocabulary, run_config)
    optimizer = finetune_optimizer(run_config, 1000, TASK.task_learning_rate(info, run_config,
                                                                             model))
    variables = model.trainable_variables
    optimizer.build(variables)
    before = [v.numpy().copy() for v in variables]
    optimizer.apply([tf.ones_like(v) for v in variables], variables)
    task = {id(v) for v in model.task_variables()}
    assert task and len(task) < len(variables)
    for variable, old in zip(variables, before):
        step = old - variable.numpy()
        if id(variable) in task:  # Adam's first step is the rate; no decay
            np.testing.assert_allclose(step, 1e-1, rtol=1e-3)
        elif "bias" not in variable.name and "gamma" not in variable.name and (
                "beta" not in variable.name):  # the rate plus decoupled decay
            np.testing.assert_allclose(step, 1e-3 + 1e-3 * 0.5 * old, rtol=1e-3, atol=1e-6)


def test_saved_model_file_gives_the_same_scores(documents, vocabulary, tmp_path):
    run_config = config()
    model = tiny_model(vocabulary, run_config)
    info = TASK.prepare(documents, vocabulary, run_config)
    x, _ = next(iter(TASK.dataset(documents, vocabulary, info, run_config, training=False)))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    expected, got = model(x), loaded(x)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])


def test_predictions_files_and_export_agree(documents, vocabulary, tmp_path):
    run_config = config()
    model = tiny_model(vocabulary, run_config)
    path = write_conll(documents, str(tmp_path / "dev.v4_gold_conll"))
    examples, problems = read_coref(path)
    assert problems == [] and len(examples) == len(documents)
    info = TASK.prepare(examples, vocabulary, run_config)
    predictions = TASK.predict(model, examples, vocabulary, info, run_config)
    assert any(predictions.values())  # a random scorer links something
    scores = TASK.score(predictions, examples, info)
    assert 0 <= scores["conll_f1"] <= 1
    assert scores["conll_f1"] == pytest.approx(
        (scores["muc_f1"] + scores["b_cubed_f1"] + scores["ceaf_e_f1"]) / 3)

    written = TASK.write_predictions(predictions, str(tmp_path / "predictions.json"), examples)
    with open(written, encoding="utf-8") as f:
        assert json.load(f) == predictions
    again, _ = read_coref(str(tmp_path / "predictions.conll"))
    assert {d["id"]: d["clusters"] for d in again} == predictions
    with open(tmp_path / "predictions.jsonlines", encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    assert [(r["doc_key"], r["clusters"]) for r in lines] == list(predictions.items())

    export = str(tmp_path / "saved_models" / "coref" / "1")
    TASK.export(model, vocabulary, info, run_config, export)
    with open(os.path.join(export, "export_info.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert (info["task"], info["model"]["class"]) == ("coref", "SpanBertCoreference")
    assert info["settings"]["options"] == info["training"]["task_info"]["options"]
    inputs = resolve_words_inputs(examples)
    inputs["serving_default/text"] = np.array(
        [" ".join(w for s in d["sentences"] for w in s) for d in examples], object)
    _, outputs = load_without_package(export, inputs, tmp_path)
    for row, document in enumerate(examples):
        assert exported_clusters(outputs, row) == predictions[document["id"]]


def test_text_is_split_into_words_and_sentences_titles_kept_inside(vocabulary):
    run_config = config()
    serving = TASK.serving(tiny_model(vocabulary, run_config), vocabulary,
                           TASK.prepare([], vocabulary, run_config), run_config)
    text = ["Mr. Knightley came in. He smiled at Emma, and she laughed!", "", "Emma sang"]
    out = serving.functions()["serving_default"](text=tf.constant(text))
    words = [[w.decode() for w in row if w] for row in out["words"].numpy()]
    assert words[0] == ["Mr", ".", "Knightley", "came", "in", ".", "He", "smiled", "at", "Emma",
                        ",", "and", "she", "laughed", "!"]
    assert words[1:] == [[], ["Emma", "sang"]]
    assert out["sentence_ids"].numpy()[0].tolist() == [0] * 6 + [1] * 9
    assert out["num_words"].numpy().tolist() == [15, 0, 2]
    begins, ends = out["word_start_chars"].numpy()[0], out["word_end_chars"].numpy()[0]
    assert [text[0][b:e] for b, e in zip(begins, ends)] == words[0]
    found = out["mention_starts"].numpy()[0] >= 0
    for start, end, first, last in zip(out["mention_start_chars"].numpy()[0][found],
                                       out["mention_end_chars"].numpy()[0][found],
                                       out["mention_starts"].numpy()[0][found],
                                       out["mention_ends"].numpy()[0][found]):
        assert (start, end) == (begins[first], ends[last])


def test_a_small_encoder_takes_the_measured_recipe_and_explicit_settings_win():
    from types import SimpleNamespace

    tiny, base = SimpleNamespace(hidden_dim=128), SimpleNamespace(hidden_dim=768)
    assert finetune_config({}, TASK, encoder=base) == finetune_config({}, TASK)
    small = finetune_config({}, TASK, encoder=tiny)
    assert (small.sequence_length, small.epochs, small.learning_rate, small.dropout) == (
        128, 10, 3e-4, 0.0)
    assert small.options == {"task_learning_rate": 3e-3, "ffnn_size": 256}
    mine = finetune_config({"epochs": 3, "options": {"ffnn_size": 64}}, TASK, encoder=tiny)
    assert mine.epochs == 3 and mine.learning_rate == 3e-4
    assert mine.options == {"task_learning_rate": 3e-3, "ffnn_size": 64}
