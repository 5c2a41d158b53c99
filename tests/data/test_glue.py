"""GLUE TSV reader (columns by name or index, bad lines named) and the text features."""

import pytest
import tensorflow as tf

from spanbert_keras.data.glue import TextFeatures
from spanbert_keras.data.glue import read_glue
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
