"""The QA SavedModel, loaded in a fresh process without our package, answers as the Keras model.

The v2.0 model's no-answer threshold is the one `calibrate` stores from the
dev metrics (`best_f1_thresh`): served answers are "" exactly where the
no-answer score (null - best span score) is above it.
"""

import json
import os

import keras
import numpy as np
import pytest
from qa_data import crafted_examples
from test_case import tiny_model_config
from test_saved_model import run_loader

from spanbert_keras.data.vocabulary import build_vocabulary
from spanbert_keras.export import read_export_info
from spanbert_keras.export.serving.question_answering import export_question_answerer
from spanbert_keras.models.backbone import build_backbone
from spanbert_keras.models.span_bert_question_answerer import SpanBertQuestionAnswerer
from spanbert_keras.tasks.base import finetune_config
from spanbert_keras.tasks.squad import TASK

L = 32
# The dev-chosen threshold: it splits this random model's no-answer scores (-43 .. -20) about in half.
THRESHOLD = -36.0
OPTIONS = {"version_2": True, "max_query_length": 8, "doc_stride": 8, "max_answer_length": 5}


@pytest.fixture(scope="module")
def qa_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa-export")
    examples = crafted_examples()[:14]
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(e["question"] + "\n" + e["context"] for e in examples),
                      encoding="utf-8")
    vocabulary = build_vocabulary([corpus], vocab_size=300, min_frequency=1, show_progress=False)
    keras.utils.set_random_seed(4)
    model = SpanBertQuestionAnswerer(build_backbone(tiny_model_config(), vocabulary.size))
    # Spread the span logits so that near ties cannot flip an answer.
    kernel = np.random.default_rng(0).normal(0, 3.0, (model.backbone.hidden_dim, 2))
    model.span_head.set_weights([kernel.astype("float32"), np.array([0.5, -0.5], "float32")])
    config = finetune_config({"sequence_length": L, "options": OPTIONS}, TASK)
    task_info = TASK.calibrate(TASK.prepare(examples, vocabulary, config),
                               {"best_f1": 0.5, "best_f1_thresh": THRESHOLD})
    assert task_info["no_answer_threshold"] == THRESHOLD
    return {"root": root, "examples": examples, "vocabulary": vocabulary, "model": model,
            "config": config, "task_info": task_info}


def test_exported_answers_equal_the_keras_models_in_a_fresh_process(qa_model, tmp_path):
    model, vocabulary, config, task_info = (qa_model[k] for k in ("model", "vocabulary", "config", "task_info"))
    examples = qa_model["examples"]
    export_dir = str(tmp_path / "saved_models" / "qa" / "1")
    paths = TASK.export(model, vocabulary, task_info, config, export_dir)
    assert paths["saved_model"] == export_dir
    assert os.listdir(os.path.join(export_dir, "assets")) == ["vocab.txt"]
    info = read_export_info(export_dir)
    assert info["task"] == "squad" and info["settings"]["version_2"] is True
    assert info["settings"]["null_score_diff_threshold"] == THRESHOLD
    assert info["training"]["task_info"]["version_2"] is True
    assert sorted(info["signatures"]["serving_default"]["inputs"]) == ["context", "question"]

    report, outputs = run_loader("text", export_dir, {
        "serving_default/question": np.array([e["question"] for e in examples]),
        "serving_default/context": np.array([e["context"] for e in examples]),
    }, tmp_path)
    assert report["imported"] == {"spanbert_keras": False, "keras_hub": False, "tensorflow_text": True}

    expected = TASK.predict(model, examples, vocabulary, task_info, config)
    answers = [a.decode("utf-8") for a in outputs["serving_default/answer"]]
    assert answers == [expected[e["id"]] for e in examples]
    assert sum(1 for a in answers if a) >= 3 and "" in answers  # both kinds occur
    spans = [expected.spans[e["id"]] for e in examples]
    assert outputs["serving_default/char_start"].tolist() == [s["char_start"] for s in spans]
    assert outputs["serving_default/char_end"].tolist() == [s["char_end"] for s in spans]
    np.testing.assert_allclose(outputs["serving_default/score"], [s["score"] for s in spans],
                               rtol=1e-4, atol=1e-4)
    served_na = outputs["serving_default/no_answer_score"]
    np.testing.assert_allclose(served_na, [expected.na_probs[e["id"]] for e in examples],
                               rtol=1e-5, atol=1e-4)
    assert min(abs(served_na - THRESHOLD)) > 1e-3  # no float ties at the threshold
    best = [expected.best_answers[e["id"]] for e in examples]
    assert answers == ["" if na > THRESHOLD else b for na, b in zip(served_na, best)]
    for e, answer, start, end in zip(examples, answers, outputs["serving_default/char_start"],
                                     outputs["serving_default/char_end"]):
        assert answer == (e["context"][start:end] if start >= 0 else "")


def test_export_refuses_a_wrong_vocabulary_and_an_existing_version(qa_model, tmp_path):
    model = qa_model["model"]
    with pytest.raises(ValueError, match="wordpieces but the model was built"):
        export_question_answerer(model, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "x"],
                                 str(tmp_path / "qa" / "1"), sequence_length=L, max_query_length=8)
    with pytest.raises(ValueError, match="position table"):
        export_question_answerer(model, qa_model["vocabulary"], str(tmp_path / "qa" / "1"))
    (tmp_path / "qa" / "1").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="already exists"):
        export_question_answerer(model, qa_model["vocabulary"], str(tmp_path / "qa" / "1"),
                                 sequence_length=L, max_query_length=8)


def test_v2_files_are_the_official_scripts_inputs(qa_model, tmp_path):
    model, vocabulary, config, task_info = (qa_model[k] for k in ("model", "vocabulary", "config", "task_info"))
    examples = qa_model["examples"]
    predictions = TASK.predict(model, examples, vocabulary, task_info, config)
    TASK.write_predictions(predictions, str(tmp_path / "predictions.json"))
    with open(tmp_path / "predictions.json") as f:
        texts = json.load(f)
    with open(tmp_path / "na_probs.json") as f:
        na_probs = json.load(f)
    assert texts == dict(predictions) and sorted(na_probs) == sorted(texts)
    assert na_probs == predictions.na_probs and max(na_probs.values()) < 0  # raw differences
    # "" exactly where null score - best span score exceeds the dev-chosen threshold.
    assert all((texts[q] == "") == (na_probs[q] > THRESHOLD) for q in texts)
    assert 0 < sum(1 for t in texts.values() if t == "") < len(texts)
    scores = TASK.score(predictions, examples, task_info)
    assert {"HasAns_exact", "best_f1", "best_f1_thresh"} <= set(scores)
    assert scores["na_prob_thresh"] == THRESHOLD


def test_a_context_past_the_limit_is_read_up_to_it_and_said_so(qa_model, tmp_path):
    import tensorflow as tf

    from spanbert_keras.data.qa_features import MAX_CONTEXT_CHARACTERS

    model, vocabulary, config, task_info = (qa_model[k] for k in ("model", "vocabulary", "config", "task_info"))
    export_dir = str(tmp_path / "saved_models" / "qa" / "1")
    TASK.export(model, vocabulary, task_info, config, export_dir)
    first = qa_model["examples"][0]
    long_context = first["context"] + " and then" * (MAX_CONTEXT_CHARACTERS // 9 + 1000)
    served = tf.saved_model.load(export_dir).signatures["serving_default"](
        question=tf.constant([first["question"]] * 2),
        context=tf.constant([long_context, first["context"]]))
    assert served["context_truncated"].numpy().tolist() == [True, False]
    # The answer is the Keras model's on the passage cut at the limit.
    cut = dict(first, id="cut", context=long_context[:MAX_CONTEXT_CHARACTERS])
    expected = TASK.predict(model, [cut], vocabulary, task_info, config)
    assert served["answer"].numpy()[0].decode("utf-8") == expected["cut"]
    assert served["char_end"].numpy()[0] <= MAX_CONTEXT_CHARACTERS
