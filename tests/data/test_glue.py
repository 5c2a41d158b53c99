"""GLUE TSV reader (columns by name or index, bad lines named) and the text features."""

import csv

import pytest
import tensorflow as tf

from spanbert_keras.data.glue import TextFeatures
from spanbert_keras.data.glue import read_glue
from spanbert_keras.data.glue import read_tsv
from spanbert_keras.data.glue import select_columns
from spanbert_keras.data.vocabulary import Vocabulary


def write(tmp_path, text, name="train.tsv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_pairs_by_column_name_with_bad_lines_named(tmp_path):
    path = write(tmp_path, "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                           "1\t11\t12\tHe said \"yes\" .\tHe agreed .\n"
                           "0\t13\t14\tA tab\there\tbreaks it\n"
                           "\n"
                           "1\t15\t16\t \tempty\n"
                           "0\t17\t18\tShort\n"
                           "0\t19\t20\tLast one .\tAnother .\n")
    examples, problems = read_glue(path, text_a="#1 String", text_b="#2 String",
                                   label="Quality", id_column="#1 ID")
    assert [(e["id"], e["text_a"], e["text_b"], e["label"]) for e in examples] == [
        ("11", 'He said "yes" .', "He agreed .", "1"),
        ("19", "Last one .", "Another .", "0"),
    ]
    assert examples[1]["where"] == f"{path}: line 7"
    assert problems == [  # the lines of another width, then the bad values
        f"{path}: line 3: 6 column(s), expected 5",
        f"{path}: line 6: 4 column(s), expected 5",
        f"{path}: line 5: empty text",
    ]
    with pytest.raises(ValueError, match=r"train.tsv: line 3: 6 column\(s\), expected 5"):
        read_glue(path, text_a=3, text_b=4, label=0, strict=True)


def test_indices_without_header_and_regression_labels(tmp_path):
    cola = write(tmp_path, "gj04\t1\t\tOur friends won't buy this analysis.\n"
                           "gj04\t0\t*\tThey drank the pub.\n"
                           "gj04\t1\n", "cola.tsv")
    examples, problems = read_glue(cola, text_a=3, label=1, header=False)
    assert [(e["id"], e["text_a"], e["text_b"], e["label"]) for e in examples] == [
        ("1", "Our friends won't buy this analysis.", None, "1"),
        ("2", "They drank the pub.", None, "0"),
    ]
    assert problems == [f"{cola}: line 3: 2 column(s), expected 4"]
    stsb = write(tmp_path, "s1\ts2\tscore\nA\tB\t3.8\nC\tD\thigh\n", "stsb.tsv")
    examples, problems = read_glue(stsb, "s1", "s2", "score", regression=True)
    assert [e["label"] for e in examples] == [3.8]
    assert problems == [f"{stsb}: line 3: label 'high' is not a number"]
    assert read_glue(stsb, -3, -2)[0][0]["label"] is None  # no label column


def test_column_errors(tmp_path):
    path = write(tmp_path, "sentence\tlabel\nGood .\t1\n")
    with pytest.raises(ValueError, match=r"no column named 'text' in the header \['sentence', 'label'\]"):
        read_glue(path, text_a="text")
    with pytest.raises(ValueError, match="is a name but the file is read without a header"):
        read_glue(path, text_a="sentence", header=False)
    with pytest.raises(ValueError, match="column label=2 is out of range for lines of 2 columns"):
        read_glue(path, text_a=0, label=2)
    with pytest.raises(FileNotFoundError, match="GLUE file not found"):
        read_glue(str(tmp_path / "missing.tsv"), text_a=0)


def test_text_features_single_and_pair():
    vocab = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Is", "it", "?", "Yes", "No"])
    features = TextFeatures(vocab, sequence_length=7)
    single = features(tf.constant(["Is it ?", "No"]))
    assert single["token_ids"].numpy().tolist() == [[2, 5, 6, 7, 3, 0, 0], [2, 9, 3, 0, 0, 0, 0]]
    assert not single["segment_ids"].numpy().any()
    pair = features(tf.constant(["Is it ?", "No"]), tf.constant(["Yes it is", "No"]))
    assert pair["token_ids"].numpy().tolist() == [[2, 5, 6, 3, 8, 6, 3], [2, 9, 3, 9, 3, 0, 0]]
    assert pair["segment_ids"].numpy().tolist() == [[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0]]
    assert pair["truncated"].numpy().tolist() == [True, False]


def test_the_header_is_not_a_row_and_is_guessed_as_glue_files_have_it(tmp_path):
    rte = write(tmp_path, "index\tsentence1\tsentence2\tlabel\n"
                + "".join(f"{i}\tA{i} .\tB{i} .\tentailment\n" for i in range(16)), "rte.tsv")
    rows, problems = read_tsv(rte)
    assert len(rows) == 16 and problems == []  # 17 lines: the header is not an example
    assert rows[0]["header"]["fields"] == ["index", "sentence1", "sentence2", "label"]
    assert [r["where"] for r in rows[:2]] == [f"{rte}: line 2", f"{rte}: line 3"]
    cola_lines = [f"gj04\t{i % 2}\t{'' if i % 2 else '*'}\tSentence {i} .\n" for i in range(16)]
    cola = write(tmp_path, "".join(cola_lines), "cola.tsv")
    rows, _ = read_tsv(cola)
    assert len(rows) == 16 and rows[0]["header"] is None  # CoLA's files have no header
    assert [r["fields"][3] for r in rows] == [f"Sentence {i} ." for i in range(16)]
    # The columns decide: a header read as a line, or a line read as a header, is put back.
    examples, _ = read_glue(cola, text_a=3, label=1, header=False)
    assert [e["id"] for e in examples] == [str(n) for n in range(1, 17)]
    examples, _ = read_glue(cola, text_a=3, label=1, header=True)
    assert [e["text_a"] for e in examples] == [f"Sentence {i} ." for i in range(1, 16)]
    examples, _ = select_columns(read_tsv(cola)[0], cola, text_a=3, label=1, header=True)
    assert [e["text_a"] for e in examples] == [f"Sentence {i} ." for i in range(1, 16)]
    assert examples[0]["id"] == "2"
    rows, _ = read_tsv(rte)
    examples, problems = select_columns(rows, rte, text_a=1, text_b=2, header=False)
    assert [e["text_a"] for e in examples[:2]] == ["sentence1", "A0 ."] and problems == []
    examples, _ = select_columns(rows, rte, "sentence1", "sentence2", "label", id_column="index")
    assert [e["id"] for e in examples] == [str(i) for i in range(16)]


def test_duplicate_ids_are_named(tmp_path):
    path = write(tmp_path, "index\tsentence\tlabel\n7\tA .\t1\n8\tB .\t0\n7\tC .\t0\n")
    examples, problems = read_glue(path, "sentence", label="label", id_column="index")
    assert [e["id"] for e in examples] == ["7", "8"]
    assert problems == [f"{path}: line 4: duplicate id '7'"]


def test_fields_beyond_csvs_size_limit_and_every_line_ending(tmp_path):
    huge = "word " * (csv.field_size_limit() // 5 + 10)  # larger than csv's limit
    path = tmp_path / "big.tsv"
    path.write_bytes(f"sentence\tlabel\r\n{huge}\t1\rShort .\t0\nLast .\t1".encode())
    examples, problems = read_glue(str(path), "sentence", label="label")
    assert [(len(e["text_a"]), e["label"]) for e in examples] == [
        (len(huge), "1"), (len("Short ."), "0"), (len("Last ."), "1")]
    assert [e["id"] for e in examples] == ["2", "3", "4"] and problems == []


def test_bytes_that_are_not_utf8_are_refused_naming_the_line_and_a_bom_is_not_text(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("sentence\tlabel\nFine .\t1\nCaf\u00e9 .\t0\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.tsv: line 3 is not UTF-8 text") as error:
        read_glue(str(path), "sentence", label="label")
    assert "codec can't decode" not in str(error.value)
    bom = tmp_path / "bom.tsv"
    bom.write_bytes(b"\xef\xbb\xbf" + "sentence\tlabel\nCaf\u00e9 .\t0\n".encode())
    examples, _ = read_glue(str(bom), "sentence", label="label")
    assert [(e["text_a"], e["label"]) for e in examples] == [("Caf\u00e9 .", "0")]
