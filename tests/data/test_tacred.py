"""TACRED reader, labels, marker numbering and in-graph features against the authors'
`run_tacred.py` (its conversion written out below as the oracle)."""

import collections
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
from spanbert_keras.data.tacred import relation_labels
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.data.vocabulary import Vocabulary

WORDS = ["Emma", "lives", "at", "Hart", "##field", "with", "her", "father", "Mr", ".", "Wood",
         "##house", "in", "High", "##bury", "(", ")", "[", "]", "{", "}"]
# The BERT-cased layout: [PAD], [unused1..99], [UNK], [CLS], [SEP], [MASK], then words.
BERT_LAYOUT = Vocabulary(["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)]
                         + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS)
TYPES = ("PERSON", "ORGANIZATION", "CITY", "DATE", "TITLE")


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


@pytest.mark.parametrize("lines", [False, True])
def test_reader_refuses_bytes_that_are_not_utf8_naming_the_line_and_accepts_a_bom(tmp_path,
                                                                                 lines):
    records = [record(), record(id="r1", token=["Zoë", "at", "Hartfield", "."], obj_start=2,
                                obj_end=2)]
    text = ("\n".join(json.dumps(r, ensure_ascii=False) for r in records) if lines
            else json.dumps(records, ensure_ascii=False, indent=1))
    good = tmp_path / "bom.json"
    good.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    examples, problems = read_tacred(str(good))
    assert [e["tokens"][0] for e in examples] == ["Emma", "Zoë"] and problems == []
    bad = tmp_path / "latin1.json"
    data = text.encode("latin-1")
    bad.write_bytes(data)
    line = data[: data.index("Zo".encode()) + 3].count(b"\n") + 1  # the line of the ë byte
    assert line == (2 if lines else text[: text.index("Zoë")].count("\n") + 1)
    with pytest.raises(ValueError, match=rf"latin1.json: line {line} is not UTF-8 text") as error:
        read_tacred(str(bad))
    assert "codec can't decode" not in str(error.value)


def test_labels_are_no_relation_then_descending_training_frequency():
    rng = np.random.default_rng(0)
    relations = ["per:title", "org:founded_by", "per:age", "per:origin", "org:members"]
    for _ in range(20):
        drawn = [str(r) for r in rng.choice(relations + ["no_relation"], int(rng.integers(1, 40)))]
        examples = [{"relation": r} for r in drawn]
        labels = relation_labels(examples)
        # The authors' get_labels: negative first, then Counter.most_common().
        authors = ["no_relation"]
        for label, _ in collections.Counter(drawn).most_common():
            if label not in authors:
                authors.append(label)
        assert labels == authors
        # Independently: by count, descending, ties in order of first appearance.
        independent = sorted(set(drawn) - {"no_relation"},
                             key=lambda r: (-drawn.count(r), drawn.index(r)))
        assert labels == ["no_relation"] + independent
    assert relation_labels([{"relation": "b"}, {"relation": "a"}, {"relation": "a"}],
                           "other") == ["other", "a", "b"]


def random_examples(seed, count=30, long=False):
    rng = np.random.default_rng(seed)
    words = ["Emma", "lives", "at", "Hartfield", "with", "her", "father", "Mr", ".", "Woodhouse",
             "in", "Highbury", "Zzz", "-LRB-", "-rrb-", "-LSB-", "-RSB-", "-lcb-", "-RCB-",
             "-LRB", "LRB", "\x00"]
    examples = []
    for index in range(count):
        n = int(rng.integers(2, 20 if long else 9))
        tokens = [words[i] for i in rng.integers(0, len(words), n)]
        a, b = sorted(rng.choice(n, 2, replace=False))
        a_end, b_end = int(rng.integers(a, b)), int(rng.integers(b, n))
        spans = [(int(a), a_end), (int(b), b_end)]
        if rng.random() < 0.5:
            spans.reverse()  # the object first
        examples.append({
            "id": str(index), "tokens": tokens,
            "subj_start": spans[0][0], "subj_end": spans[0][1],
            "obj_start": spans[1][0], "obj_end": spans[1][1],
            "subj_type": str(rng.choice(TYPES[:2])), "obj_type": str(rng.choice(TYPES)),
            "relation": "no_relation",
        })
    return examples


# ----------------------------------------------------------- the oracle
def authors_convert_token(token):
    """`convert_token` of `run_tacred.py`."""
    return {"-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "-lcb-": "{",
            "-rcb-": "}"}.get(token.lower(), token)


def authors_tokens(example, tokenize, special_tokens, mode, max_seq_length):
    """`convert_examples_to_features` of `run_tacred.py`: its wordpieces, cut as it cuts.

    `special_tokens` is their dict marker -> `[unusedN]`, grown as markers are
    first met; a marker given as "[UNK]" stands for one the model never saw.
    """

    def get_special_token(w):
        if w not in special_tokens:
            special_tokens[w] = "[unused%d]" % (len(special_tokens) + 1)
        return special_tokens[w]

    sentence = [authors_convert_token(t) for t in example["tokens"]]
    s0, s1, o0, o1 = (example[k] for k in ("subj_start", "subj_end", "obj_start", "obj_end"))
    tokens = ["[CLS]"]
    subject_start, subject_end = get_special_token("SUBJ_START"), get_special_token("SUBJ_END")
    object_start, object_end = get_special_token("OBJ_START"), get_special_token("OBJ_END")
    subject_ner = get_special_token("SUBJ=%s" % example["subj_type"])
    object_ner = get_special_token("OBJ=%s" % example["obj_type"])
    if mode == "text":
        for i, token in enumerate(sentence):
            if i == s0:
                tokens.append(subject_start)
            if i == o0:
                tokens.append(object_start)
            tokens.extend(tokenize(token))
            if i == s1:
                tokens.append(subject_end)
            if i == o1:
                tokens.append(object_end)
    else:
        for i, token in enumerate(sentence):
            if i == s0:
                tokens.append(subject_ner)
            if i == o0:
                tokens.append(object_ner)
            if s0 <= i <= s1 or o0 <= i <= o1:
                continue
            tokens.extend(tokenize(token))
    tokens.append("[SEP]")
    return tokens[:max_seq_length]


def tokenizer_of(vocabulary, words):
    """Each (converted) word's wordpieces by our tokenizer (tested on its own elsewhere)."""
    words = sorted({authors_convert_token(w) for w in words})
    ids = SpanBertTokenizer(vocabulary).tokenize(tf.constant(words)).to_list()
    pieces = {w: [vocabulary.tokens[i] for i in row] for w, row in zip(words, ids)}
    assert pieces["\x00"] == [] and pieces["("] == ["("] and pieces["Zzz"] == ["[UNK]"]
    return pieces.__getitem__


def test_markers_are_numbered_as_the_authors_dev_first_then_train():
    dev, train = random_examples(1, 12), random_examples(2, 40)
    markers = entity_markers(dev, train)
    special_tokens = {}
    tokenize = tokenizer_of(BERT_LAYOUT, [w for e in dev + train for w in e["tokens"]])
    for example in dev + train:  # their order: the dev set is converted first
        authors_tokens(example, tokenize, special_tokens, "ner", 128)
    assert markers == list(special_tokens)
    assert markers[:4] == ["SUBJ_START", "SUBJ_END", "OBJ_START", "OBJ_END"]
    assert markers != entity_markers(train, dev)  # the order of the sets matters here
    for mode in ("ner", "text"):
        pieces, added = assign_marker_pieces(markers, BERT_LAYOUT, mode)
        assert pieces == special_tokens and added == []
    # Without the [unusedN] pieces: new ones, only for the markers the mode writes.
    few = Vocabulary(["[PAD]", "[unused1]", "[unused2]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                      "[unused6]"])
    pieces, added = assign_marker_pieces(markers, few, "ner")
    types = markers[4:]
    assert pieces == {"SUBJ_START": "[unused1]", "SUBJ_END": "[unused2]",
                      **{m: f"[{m}]" for m in types}, types[1]: "[unused6]"}
    assert added == [f"[{m}]" for m in types if m != types[1]]
    pieces, added = assign_marker_pieces(markers, few, "text")
    assert pieces == {"SUBJ_START": "[unused1]", "SUBJ_END": "[unused2]",
                      "OBJ_START": "[OBJ_START]", "OBJ_END": "[OBJ_END]", types[1]: "[unused6]"}
    assert added == ["[OBJ_START]", "[OBJ_END]"]
    with pytest.raises(ValueError, match="`mode` must be one of"):
        assign_marker_pieces(markers, few, "entity")
    with pytest.raises(ValueError, match="already holds the marker piece"):
        assign_marker_pieces(markers[:5], Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                      "[MASK]", f"[{markers[4]}]"]))


@pytest.mark.parametrize("mode", ["ner", "text"])
def test_features_equal_the_authors_conversion(mode):
    dev = [e for e in random_examples(3, 10) if e["obj_type"] != "TITLE"]
    train = random_examples(0, 40, long=True)
    known = [e for e in train if e["obj_type"] != "TITLE"]  # TITLE: seen by neither set
    special_tokens = {}
    tokenize = tokenizer_of(BERT_LAYOUT, [w for e in dev + train for w in e["tokens"]])
    for example in dev + known:
        authors_tokens(example, tokenize, special_tokens, mode, 128)
    pieces, added = assign_marker_pieces(entity_markers(dev, known), BERT_LAYOUT, mode)
    assert added == [] and pieces == special_tokens
    length = 20
    features = RelationFeatures(BERT_LAYOUT, pieces, mode, sequence_length=length)
    out = features(**example_tensors(train))
    cut = 0
    for row, example in enumerate(train):
        marked = dict(special_tokens, **{f"OBJ={example['obj_type']}": "[UNK]"}
                      if example["obj_type"] == "TITLE" else {})
        full = authors_tokens(example, tokenize, dict(marked), mode, 10**6)
        expected = [BERT_LAYOUT.token_to_id(t) for t in full[:length]]
        padded = expected + [0] * (length - len(expected))
        assert out["token_ids"].numpy()[row].tolist() == padded, (row, example)
        assert out["padding_mask"].numpy()[row].tolist() == [1] * len(expected) + [0] * (
            length - len(expected))
        assert out["truncated"].numpy()[row] == (len(full) > length)
        cut += len(full) > length
        # An entity is cut when a piece of its span (markers included) is beyond the length.
        s0, s1, o0, o1 = (example[k] for k in ("subj_start", "subj_end", "obj_start",
                                                "obj_end"))
        last = max(s1, o1)
        through_last = authors_tokens(dict(example, tokens=example["tokens"][: last + 1]),
                                      tokenize, dict(marked), mode, 10**6)[:-1]
        assert out["entities_truncated"].numpy()[row] == (len(through_last) > length), row
    assert 0 < cut < len(train)  # both kinds of rows were checked
    assert 0 < out["entities_truncated"].numpy().sum() < cut
    assert not out["segment_ids"].numpy().any()
    # The same numbers in tf.data (batched map) and under tf.function.
    tensors = example_tensors(train)
    dataset = tf.data.Dataset.from_tensor_slices(tensors).batch(7).map(lambda x: features(**x))
    batched = {k: np.concatenate([b[k] for b in dataset.as_numpy_iterator()]) for k in out}
    assert_allclose(batched, out, where="ds.batch().map")
    assert_allclose(tf.function(lambda x: features(**x))(tensors), out, where="tf.function")


def test_cut_rows_lose_their_sep_as_the_authors_and_dense_padded_tokens():
    pieces, _ = assign_marker_pieces(entity_markers([{"subj_type": "PERSON",
                                                      "obj_type": "CITY"}]), BERT_LAYOUT)
    features = RelationFeatures(BERT_LAYOUT, pieces, "ner", sequence_length=6)
    tokens = [["Emma", "lives", "at", "Hartfield", "with", "her", "father"],
              ["her", "father", "lives", "at", "-LRB-", "", ""],
              ["Emma", "at", "Highbury", "", "", "", ""]]
    spans = dict(subj_start=[0, 1, 0], subj_end=[0, 1, 0], obj_start=[6, 3, 2],
                 obj_end=[6, 3, 2])
    types = dict(subj_type=["PERSON"] * 3, obj_type=["CITY"] * 3)
    out = features(tf.constant(tokens), **spans, **types)  # dense, "" = padding
    ids = BERT_LAYOUT.token_to_id
    assert out["token_ids"].numpy().tolist() == [
        [ids("[CLS]"), ids("[unused5]"), ids("lives"), ids("at"), ids("Hart"), ids("##field")],
        [ids("[CLS]"), ids("her"), ids("[unused5]"), ids("lives"), ids("[unused6]"), ids("(")],
        [ids("[CLS]"), ids("[unused5]"), ids("at"), ids("[unused6]"), ids("[SEP]"), 0],
    ]
    assert out["padding_mask"].numpy().tolist() == [[1] * 6, [1] * 6, [1] * 5 + [0]]
    assert out["truncated"].numpy().tolist() == [True, True, False]
    assert out["entities_truncated"].numpy().tolist() == [True, False, False]
    text = RelationFeatures(BERT_LAYOUT, pieces, "text", sequence_length=9)
    out = text(tf.ragged.constant([["Emma", "at", "Hartfield"]]), [0], [0], [2], [2])
    assert out["token_ids"].numpy().tolist() == [
        [ids("[CLS]"), ids("[unused1]"), ids("Emma"), ids("[unused2]"), ids("at"),
         ids("[unused3]"), ids("Hart"), ids("##field"), ids("[unused4]")]]
    assert out["truncated"].numpy().tolist() == [True]  # only the [SEP] was cut
    assert out["entities_truncated"].numpy().tolist() == [False]


def test_spans_out_of_range_fail_in_graph():
    pieces, _ = assign_marker_pieces(entity_markers([]), BERT_LAYOUT)
    features = RelationFeatures(BERT_LAYOUT, pieces, "ner", sequence_length=8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="0 <= start <= end < number"):
        features(tf.ragged.constant([["Emma", "lives"]]), [0], [0], [1], [2], ["PERSON"], ["CITY"])
    with pytest.raises(ValueError, match="lacks the text-mode markers"):
        RelationFeatures(BERT_LAYOUT, {}, "text")
