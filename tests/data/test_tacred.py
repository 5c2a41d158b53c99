"""TACRED reader, marker assignment and in-graph features against the authors' conversion."""

import json

import numpy as np
import pytest
import tensorflow as tf
from test_case import assert_allclose

from spanbert_keras.data.tacred import RelationFeatures
from spanbert_keras.data.tacred import assign_marker_pieces
from spanbert_keras.data.tacred import entity_markers
from spanbert_keras.data.tacred import example_tensors
from spanbert_keras.data.tacred import read_tacred
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.data.vocabulary import Vocabulary

WORDS = ["Emma", "lives", "at", "Hart", "##field", "with", "her", "father", "Mr", ".", "Wood",
         "##house", "in", "High", "##bury"]
VOCAB = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                   + [f"[unused{i}]" for i in range(1, 7)] + WORDS)


def record(**overrides):
    values = {
        "id": "r0", "token": ["Emma", "lives", "at", "Hartfield", "with", "Mr", "Woodhouse", "."],
        "subj_start": 0, "subj_end": 0, "obj_start": 5, "obj_end": 6,
        "subj_type": "PERSON", "obj_type": "PERSON", "relation": "per:other_family",
    }
    values.update(overrides)
    return values


def write(tmp_path, records, name="train.json", lines=False):
    path = tmp_path / name
    if lines:
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    else:
        path.write_text(json.dumps(records), encoding="utf-8")
    return str(path)


def test_reader_keeps_good_records_and_names_bad_ones(tmp_path):
    records = [
        record(),
        record(id="r1", obj_start=7, obj_end=8),  # out of range
        record(id="r2", subj_start=3, subj_end=2),  # reversed
        {k: v for k, v in record(id="r3").items() if k != "relation"},
        record(id="r4", subj_start="0"),
        record(id="r0"),  # duplicate
        record(id="r5", token=[]),
        record(id="r6", relation="no_relation", subj_type="ORGANIZATION"),
    ]
    path = write(tmp_path, records)
    examples, problems = read_tacred(path)
    assert [e["id"] for e in examples] == ["r0", "r6"]
    assert examples[0]["tokens"][3] == "Hartfield" and examples[0]["obj_end"] == 6
    assert examples[1]["where"] == f"{path}: record 7"
    assert [p.split(": ", 1)[1] for p in problems] == [
        "record 1: obj span [7, 8] is outside the 8 tokens",
        "record 2: subj span [3, 2] ends before it starts",
        "record 3: missing field(s) ['relation']",
        "record 4: 'subj_start' must be an integer, got '0'",
        "record 5: duplicate id 'r0'",
        "record 6: 'token' must be a non-empty list of strings",
    ]
    assert all(p.startswith(path + ": ") for p in problems)
    with pytest.raises(ValueError, match=r"train.json: record 1: obj span \[7, 8\]"):
        read_tacred(path, strict=True)


def test_reader_json_lines_names_lines(tmp_path):
    path = write(tmp_path, [record(), record(id="r1", obj_end=9)], "dev.jsonl", lines=True)
    examples, problems = read_tacred(path)
    assert len(examples) == 1 and problems == [f"{path}: line 2: obj span [5, 9] is outside the 8 tokens"]
    (tmp_path / "broken.json").write_text("[{\"id\": 1,\n", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json: line 2: not valid JSON"):
        read_tacred(str(tmp_path / "broken.json"))


def test_markers_in_order_of_first_use_onto_unused_then_added_pieces():
    examples = [
        {"subj_type": "PERSON", "obj_type": "CITY"},
        {"subj_type": "PERSON", "obj_type": "TITLE"},
        {"subj_type": "ORGANIZATION", "obj_type": "CITY"},
    ]
    markers = entity_markers(examples)
    assert markers == ["SUBJ=PERSON", "OBJ=CITY", "OBJ=TITLE", "SUBJ=ORGANIZATION"]
    vocab = Vocabulary(["[PAD]", "[unused10]", "[UNK]", "[unused2]", "[CLS]", "[SEP]", "[MASK]"])
    pieces, added = assign_marker_pieces(markers, vocab)
    assert pieces == {
        "SUBJ=PERSON": "[unused2]", "OBJ=CITY": "[unused10]",
        "OBJ=TITLE": "[OBJ=TITLE]", "SUBJ=ORGANIZATION": "[SUBJ=ORGANIZATION]",
    }
    assert added == ["[OBJ=TITLE]", "[SUBJ=ORGANIZATION]"]
    assert entity_markers(examples, "text") == ["SUBJ_START", "SUBJ_END", "OBJ_START", "OBJ_END"]
    with pytest.raises(ValueError, match="`mode` must be one of"):
        entity_markers(examples, "entity")


def authors_tokens(example, tokenize, pieces, mode):
    """`convert_examples_to_features` of the authors' `run_tacred.py`, without truncation."""
    tokens = ["[CLS]"]
    s0, s1, o0, o1 = (example[k] for k in ("subj_start", "subj_end", "obj_start", "obj_end"))
    if mode == "text":
        for i, token in enumerate(example["tokens"]):
            if i == s0:
                tokens.append(pieces["SUBJ_START"])
            if i == o0:
                tokens.append(pieces["OBJ_START"])
            tokens.extend(tokenize(token))
            if i == s1:
                tokens.append(pieces["SUBJ_END"])
            if i == o1:
                tokens.append(pieces["OBJ_END"])
    else:
        for i, token in enumerate(example["tokens"]):
            if i == s0:
                tokens.append(pieces.get("SUBJ=" + example["subj_type"], "[UNK]"))
            if i == o0:
                tokens.append(pieces.get("OBJ=" + example["obj_type"], "[UNK]"))
            if not (s0 <= i <= s1 or o0 <= i <= o1):
                tokens.extend(tokenize(token))
    return tokens + ["[SEP]"]


def random_examples(seed, count=30):
    rng = np.random.default_rng(seed)
    words = ["Emma", "lives", "at", "Hartfield", "with", "her", "father", "Mr", ".", "Woodhouse",
             "in", "Highbury", "Zzz"]
    examples = []
    for index in range(count):
        n = int(rng.integers(2, 9))
        tokens = list(rng.choice(words, n))
        a, b = sorted(rng.choice(n, 2, replace=False))
        a_end, b_end = int(rng.integers(a, b)), int(rng.integers(b, n))
        spans = [(int(a), a_end), (int(b), b_end)]
        if rng.random() < 0.5:
            spans.reverse()  # the object first
        examples.append({
            "id": str(index), "tokens": tokens,
            "subj_start": spans[0][0], "subj_end": spans[0][1],
            "obj_start": spans[1][0], "obj_end": spans[1][1],
            "subj_type": str(rng.choice(["PERSON", "ORGANIZATION"])),
            "obj_type": str(rng.choice(["CITY", "PERSON", "NEW_TYPE"])),
            "relation": "no_relation",
        })
    return examples


@pytest.mark.parametrize("mode", ["ner", "text"])
def test_features_equal_the_authors_conversion(mode):
    examples = random_examples(0)
    train_markers = entity_markers(
        [e for e in examples if e["obj_type"] != "NEW_TYPE"], mode
    )  # NEW_TYPE is unseen in "training": its marker is [UNK]
    pieces, added = assign_marker_pieces(train_markers, VOCAB)
    assert added == []
    length = 24
    features = RelationFeatures(VOCAB, pieces, mode, sequence_length=length)
    out = features(**example_tensors(examples))
    words = sorted({w for e in examples for w in e["tokens"]})
    ids = SpanBertTokenizer(VOCAB).tokenize(words).to_list()
    pieces_of = {w: [VOCAB.tokens[i] for i in row] or ["[UNK]"] for w, row in zip(words, ids)}
    tokenize = pieces_of.__getitem__

    for row, example in enumerate(examples):
        expected = [VOCAB.token_to_id(t) for t in authors_tokens(example, tokenize, pieces, mode)]
        assert len(expected) <= length
        padded = expected + [0] * (length - len(expected))
        assert out["token_ids"].numpy()[row].tolist() == padded, (row, example)
        assert out["padding_mask"].numpy()[row].tolist() == [1] * len(expected) + [0] * (
            length - len(expected))
    assert not out["segment_ids"].numpy().any()
    assert not out["truncated"].numpy().any() and not out["entities_truncated"].numpy().any()
    # The same numbers in tf.data (batched map) and under tf.function.
    tensors = example_tensors(examples)
    dataset = tf.data.Dataset.from_tensor_slices(tensors).batch(7).map(lambda x: features(**x))
    batched = {k: np.concatenate([b[k] for b in dataset.as_numpy_iterator()]) for k in out}
    assert_allclose(batched, out, where="ds.batch().map")
    assert_allclose(tf.function(lambda x: features(**x))(tensors), out, where="tf.function")


def test_truncation_flags_cut_entities_and_dense_padded_tokens():
    pieces, _ = assign_marker_pieces(["SUBJ=PERSON", "OBJ=CITY"], VOCAB)
    features = RelationFeatures(VOCAB, pieces, "ner", sequence_length=6)
    tokens = [["Emma", "lives", "at", "Hartfield", "with", "her", "father"],
              ["her", "father", "lives", "at", "Hartfield", "", ""]]
    spans = dict(subj_start=[0, 1], subj_end=[0, 1], obj_start=[6, 4], obj_end=[6, 4])
    types = dict(subj_type=["PERSON", "PERSON"], obj_type=["CITY", "CITY"])
    out = features(tf.constant(tokens), **spans, **types)  # dense, "" = padding
    ids = VOCAB.token_to_id
    assert out["token_ids"].numpy().tolist() == [
        [2, ids("[unused1]"), ids("lives"), ids("at"), ids("Hart"), 3],
        [2, ids("her"), ids("[unused1]"), ids("lives"), ids("at"), 3],
    ]
    assert out["truncated"].numpy().tolist() == [True, True]
    assert out["entities_truncated"].numpy().tolist() == [True, True]
    text = RelationFeatures(VOCAB, {m: f"[unused{i + 1}]" for i, m in enumerate(
        ["SUBJ_START", "SUBJ_END", "OBJ_START", "OBJ_END"])}, "text", sequence_length=9)
    out = text(tf.ragged.constant([["Emma", "at", "Hartfield"]]), [0], [0], [2], [2])
    assert out["token_ids"].numpy().tolist() == [
        [2, ids("[unused1]"), ids("Emma"), ids("[unused2]"), ids("at"),
         ids("[unused3]"), ids("Hart"), ids("##field"), 3]]
    assert out["entities_truncated"].numpy().tolist() == [True]  # [OBJ_END] was cut


def test_spans_out_of_range_fail_in_graph():
    pieces, _ = assign_marker_pieces(["SUBJ=PERSON", "OBJ=CITY"], VOCAB)
    features = RelationFeatures(VOCAB, pieces, "ner", sequence_length=8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="0 <= start <= end < number"):
        features(tf.ragged.constant([["Emma", "lives"]]), [0], [0], [1], [2], ["PERSON"], ["CITY"])
    with pytest.raises(ValueError, match="lacks the text-mode markers"):
        RelationFeatures(VOCAB, {}, "text")
