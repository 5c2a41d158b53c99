"""The small-encoder recipes of `ner`, `glue`, `tacred` and `squad`, run as a user would: a subprocess.

The slow tests fine-tune the shipped `austen-tiny` encoder (hidden 128) with
no learning-rate, epoch or dropout setting, so each task's measured
`small_encoder_defaults` apply (the run says so), on the realistic data of
tests/realistic_tasks.py (real sentences of the shipped text with entities,
a polarity clause or a relation statement planted among them; for QA,
paragraphs of real sentences longer than a window with three facts planted
among them), and check the held-out score. The paper's recipe (lr 2e-5) teaches this encoder little on
the same data. The fast tests check the data itself.
"""

import json

import pytest
from coref_data import filler_sentences
from realistic_tasks import ner_examples
from realistic_tasks import qa_articles
from realistic_tasks import sentiment_rows
from realistic_tasks import tacred_records
from realistic_tasks import write_ner_files
from realistic_tasks import write_qa_files
from realistic_tasks import write_sentiment_files
from realistic_tasks import write_tacred_files
from test_cli import cli

from spanbert_keras.data.conll import read_columns
from spanbert_keras.data.conll import select_tags
from spanbert_keras.data.glue import read_tsv
from spanbert_keras.data.squad import read_qa_file
from spanbert_keras.data.tacred import read_tacred
from spanbert_keras.data.tokenizer import SpanBertTokenizer

RECIPE = "recipe: small encoder (hidden 128 < 768): "


def finetune(task, files, tmp_path):
    """The dev metrics and the printed lines of a run with no recipe setting."""
    train, dev = files
    result = cli("finetune", task, "--train", train, "--dev", dev, "--init", "austen-tiny",
                 "--output", str(tmp_path / "run"))
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stdout


def texts(split_examples):
    """Each example's words as one string (NER sentences, sentiment rows, TACRED records)."""
    found = []
    for example in split_examples:
        if isinstance(example, dict):
            found.append(" ".join(example["token"]))
        elif isinstance(example, tuple):
            found.append(example[0])
        else:
            found.append(" ".join(word for word, _ in example))
    return found


@pytest.mark.parametrize("make", [ner_examples, sentiment_rows, tacred_records])
def test_the_data_is_fixed_by_its_seed_and_dev_holds_no_training_sentence(make):
    assert make(30, "train", 0) == make(30, "train", 0) != make(30, "train", 1)
    train = " | ".join(texts(make(400, "train", 0)))
    # A dev example's real sentence (but its first word, lower-cased after a clause) is
    # never in the training examples.
    dev_sentences = {" ".join(s[1:]) for s in filler_sentences()["dev"]}
    used = [s for s in dev_sentences if any(s in text for text in texts(make(150, "dev", 0)))]
    assert len(used) > 100
    assert not [s for s in used if s in train]


def test_the_files_read_back_clean_in_the_tasks_formats(tmp_path):
    train, dev = write_ner_files(str(tmp_path), train=60, dev=20)
    for path, count in ((train, 60), (dev, 20)):
        sentences, problems = read_columns(path)
        examples, bad = select_tags(sentences, path)
        assert (len(examples), problems, bad) == (count, [], [])
        tags = {t for e in examples for t in e["tags"]}
        assert tags <= {"O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC",
                        "I-MISC"}
    train, dev = write_sentiment_files(str(tmp_path), train=60, dev=20)
    rows, problems = read_tsv(train)
    assert problems == [] and rows[0]["header"]["fields"] == ["sentence", "label"]
    assert {r["fields"][1] for r in rows} == {"0", "1"} and len(rows) == 60
    train, dev = write_tacred_files(str(tmp_path), train=60, dev=20)
    records, problems = read_tacred(dev)
    assert problems == [] and len(records) == 20
    assert {r["relation"] for r in read_tacred(train)[0]} == {
        "no_relation", "per:city_of_birth", "per:cities_of_residence", "org:founded_by",
        "per:spouse"}


def _questions(articles):
    return [(p["context"], q) for a in articles["data"] for p in a["paragraphs"] for q in p["qas"]]


@pytest.mark.parametrize("version", ["1.1", "2.0"])
def test_the_qa_data_reads_back_clean_with_answers_at_their_offsets(version, tmp_path):
    train, dev = write_qa_files(str(tmp_path), train=60, dev=20, version=version)
    for path, count in ((train, 60), (dev, 20)):
        examples, problems = read_qa_file(path)
        assert (len(examples), problems) == (count, [])
    questions = _questions(qa_articles(60, "train", 0, version))
    for context, qa in questions:
        for answer in qa["answers"]:
            assert context[answer["answer_start"]:][:len(answer["text"])] == answer["text"]
    impossible = sum(not qa["answers"] for _, qa in questions)
    assert (impossible == 0) if version == "1.1" else (10 <= impossible <= 30)


@pytest.mark.parametrize("same_kind", [False, True])
def test_the_qa_paragraphs_are_longer_than_a_window_and_dev_holds_no_training_sentence(same_kind):
    assert qa_articles(20, "dev", 0) == qa_articles(20, "dev", 0) != qa_articles(20, "dev", 1)
    tokenizer = SpanBertTokenizer.from_preset("austen-tiny")
    dev = _questions(qa_articles(100, "dev", 0, same_kind=same_kind))
    lengths = sorted(tokenizer.tokenize([c for c, _ in dev]).row_lengths().numpy())
    assert lengths[len(lengths) // 10] > 150  # nine in ten contexts exceed a 128-piece window
    train = " | ".join(c for c, _ in _questions(qa_articles(600, "train", 0, same_kind=same_kind)))
    dev_sentences = {" ".join(s[1:]) for s in filler_sentences()["dev"]}
    used = [s for s in dev_sentences if any(s in context for context, _ in dev)]
    assert len(used) > 200 and not [s for s in used if s in train]


@pytest.mark.slow
def test_ner_small_encoder_recipe_tags_held_out_entities(tmp_path):
    metrics, printed = finetune("ner", write_ner_files(str(tmp_path / "data")), tmp_path)
    assert RECIPE + "batch_size=16, dropout=0.0, epochs=8, learning_rate=0.001" in printed
    assert metrics["f1"] >= 0.9, metrics


@pytest.mark.slow
def test_glue_small_encoder_recipe_classifies_held_out_sentences(tmp_path):
    metrics, printed = finetune("glue", write_sentiment_files(str(tmp_path / "data")), tmp_path)
    assert RECIPE + "batch_size=16, dropout=0.0, learning_rate=0.001" in printed
    assert "epoch 10/10: " in printed  # the paper's GLUE epochs
    assert metrics["accuracy"] >= 0.9, metrics


@pytest.mark.slow
def test_tacred_small_encoder_recipe_finds_held_out_relations(tmp_path):
    metrics, printed = finetune("tacred", write_tacred_files(str(tmp_path / "data")), tmp_path)
    assert RECIPE + "batch_size=16, dropout=0.0, learning_rate=0.001" in printed
    assert metrics["micro_f1"] >= 0.9, metrics


@pytest.mark.slow
def test_squad_small_encoder_recipe_answers_held_out_questions_over_long_paragraphs(tmp_path):
    files = write_qa_files(str(tmp_path / "data"), train=3000, dev=200)
    metrics, printed = finetune("squad", files, tmp_path)
    assert RECIPE + ("batch_size=16, epochs=6, learning_rate=0.001, options.doc_stride=64, "
                     "sequence_length=128") in printed
    assert "epoch 6/6: " in printed
    # What every run so far reached (docs/fine-tuning/question-answering.md, "A small encoder"):
    # F1 1.0 on one machine; 0.84-0.99 on another by seed and floating-point path. Below 0.9 the
    # answers are the city of another person's fact, in another window: the relation is learned,
    # matching the name across windows is the late step a run may not reach.
    assert metrics["f1"] >= 0.8, metrics
