"""CoNLL reader (DOCSTART, blank lines, IOB1 -> IOB2, bad lines named) and tagging features."""

import numpy as np
import pytest
import tensorflow as tf
from test_case import assert_allclose

from spanbert_keras.data.conll import TaggingFeatures
from spanbert_keras.data.conll import read_conll
from spanbert_keras.data.features import ragged_strings
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.data.vocabulary import Vocabulary

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER


-DOCSTART- -X- -X- O
BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP
"""


def write(tmp_path, text, name="train.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_sentences_docstart_and_a_line_without_its_tag(tmp_path):
    path = write(tmp_path, CONLL)
    examples, problems = read_conll(path)
    assert [(e["tokens"], e["tags"]) for e in examples] == [
        (["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    ]
    assert [e["id"] for e in examples] == ["0", "1"]
    assert examples[1]["where"] == f"{path}: line 8"
    assert problems == [
        f"{path}: line 14: 3 column(s), expected 4 (the tags would not match the tokens): "
        "'1996-08-22 CD I-NP'"
    ]
    with pytest.raises(ValueError, match="train.txt: line 14: 3 column"):
        read_conll(path, strict=True)
    chunks, _ = read_conll(path, tag_column=3 - 1)
    assert chunks[0]["tags"] == ["B-NP", "B-VP", "B-NP", "I-NP"]


def test_iob1_is_converted_and_bad_tags_named(tmp_path):
    path = write(tmp_path, "A x I-PER\nB x I-PER\nC x B-PER\nD x I-LOC\nE x O\nF x I-LOC\n\n"
                           "G x PER\n")
    examples, problems = read_conll(path, scheme="iob1")
    assert examples[0]["tags"] == ["B-PER", "I-PER", "B-PER", "B-LOC", "O", "B-LOC"]
    assert problems == [f"{path}: line 8: tag 'PER' is not BIO (O, B-TYPE or I-TYPE)"]
    examples, _ = read_conll(path)
    assert examples[0]["tags"][0] == "I-PER"  # IOB2 files are kept as they are
    with pytest.raises(ValueError, match="`tag_column` must be a non-zero int"):
        read_conll(path, tag_column=0)
    with pytest.raises(ValueError, match="train.txt: line 1: tag_column=5 is outside its 3 column"):
        read_conll(path, tag_column=5)


def test_features_predict_on_first_pieces_against_python():
    vocab = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Emma", "Wood", "##house",
                        "sang", "at", "Hart", "##field", "."])
    rng = np.random.default_rng(0)
    words = ["Emma", "Woodhouse", "sang", "at", "Hartfield", ".", "Zzz"]
    sentences = [list(rng.choice(words, int(rng.integers(1, 8)))) for _ in range(20)]
    tags = [list(rng.integers(0, 5, len(s))) for s in sentences]
    length = 10
    features = TaggingFeatures(vocab, length)
    tag_ids = tf.ragged.constant(tags, tf.int32)
    out = features(ragged_strings(sentences), tag_ids)
    tokenizer = SpanBertTokenizer(vocab)
    for row, (sentence, row_tags) in enumerate(zip(sentences, tags)):
        ids, first, labels, weights = [2], [], [0], [0.0]
        for word, tag in zip(sentence, row_tags):
            pieces = tokenizer.tokenize([word]).to_list()[0] or [vocab.unk_id]
            first.append(len(ids))
            labels += [int(tag)] + [0] * (len(pieces) - 1)
            weights += [1.0] + [0.0] * (len(pieces) - 1)
            ids += pieces
        ids, labels, weights = ids[: length - 1] + [3], labels[: length - 1], weights[: length - 1]
        pad = length - len(ids)
        assert out["token_ids"].numpy()[row].tolist() == ids + [0] * pad
        assert out["first_positions"].to_list()[row] == first
        assert out["word_kept"].to_list()[row] == [p < length - 1 for p in first]
        assert out["labels"].numpy()[row].tolist() == labels + [0] * (length - len(labels))
        assert out["label_weights"].numpy()[row].tolist() == weights + [0.0] * (length - len(weights))
    assert out["truncated"].numpy().any() and not out["truncated"].numpy().all()

    def featurize(words, tag_ids):
        return features(words, tag_ids)

    dataset = tf.data.Dataset.from_tensor_slices((ragged_strings(sentences), tag_ids))
    batched = [b for b in dataset.batch(6).map(featurize).as_numpy_iterator()]
    assert_allclose(np.concatenate([b["labels"] for b in batched]), out["labels"], where="ds.map")
    assert_allclose(tf.function(featurize)(ragged_strings(sentences), tag_ids)["token_ids"],
                    out["token_ids"], where="tf.function")


def test_a_bom_before_docstart_is_not_a_sentence(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + CONLL.encode("utf-8"))
    examples, problems = read_conll(str(path))
    plain, _ = read_conll(write(tmp_path, CONLL))
    assert [(e["tokens"], e["tags"], e["where"].rsplit(": ", 1)[1]) for e in examples] == [
        (e["tokens"], e["tags"], e["where"].rsplit(": ", 1)[1]) for e in plain]
    assert examples[0]["tokens"][0] == "EU" and len(examples) == 2 and len(problems) == 1
    bom_first_token = tmp_path / "bom_token.txt"
    bom_first_token.write_bytes(b"\xef\xbb\xbfEmma NNP B-PER\n")
    examples, _ = read_conll(str(bom_first_token))
    assert examples[0]["tokens"] == ["Emma"]


def test_bytes_that_are_not_utf8_are_refused_naming_the_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(CONLL.replace("German", "M\u00fcnchen").encode("latin-1"))
    line = CONLL.split("\n").index("German JJ B-NP B-MISC") + 1
    with pytest.raises(ValueError, match=rf"latin1.txt: line {line} is not UTF-8 text") as error:
        read_conll(str(path))
    assert "codec can't decode" not in str(error.value)


def test_a_short_first_line_is_the_one_named(tmp_path):
    path = tmp_path / "eng.train"
    path.write_text("Emma B-PER\n\nHarriet NNP I-NP B-PER\nwalked VBD I-VP O\n\n"
                    "Jane NNP I-NP B-PER\n.  . O O\n", encoding="utf-8")
    examples, problems = read_conll(str(path))
    assert [e["tokens"] for e in examples] == [["Harriet", "walked"], ["Jane", "."]]
    assert problems == [f"{path}: line 1: 2 column(s), expected 4 (the tags would not match "
                        "the tokens): 'Emma B-PER'"]
