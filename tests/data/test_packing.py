import itertools

import numpy as np
import pytest

from spanbert_keras.data.packing import text_blocks
from spanbert_keras.data.packing import write_document_shards
from spanbert_keras.data.tokenizer import SpanBertTokenizer


def _documents(path, count):
    """The first `count` documents of a corpus file, as lists of lines."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    docs = [d.split("\n") for d in text.split("\n\n") if d.strip()]
    return [[line for line in d if line.strip()] for d in docs[:count]]


def _write(path, documents):
    path.write_text("\n\n".join("\n".join(d) for d in documents) + "\n", encoding="utf-8")
    return str(path)


def _reference_blocks(documents, tokenizer, sequence_length):
    """break_mode="doc" packing in plain Python: the oracle."""
    capacity = sequence_length - 2
    blocks = []
    for document in documents:
        buffer = []
        for line in document:
            ids = tokenizer.tokenize([line]).to_list()[0]
            for start in range(0, len(ids), capacity):
                piece = ids[start : start + capacity]
                if buffer and len(buffer) + len(piece) > capacity:
                    blocks.append(buffer)
                    buffer = []
                buffer = buffer + piece
        if buffer:
            blocks.append(buffer)
    return blocks


def _unpack(block, vocab):
    ids = block["token_ids"]
    length = int(block["padding_mask"].sum())
    assert block["padding_mask"][:length].all() and not block["padding_mask"][length:].any()
    assert ids[0] == vocab.cls_id and ids[length - 1] == vocab.sep_id
    assert (ids[length:] == vocab.pad_id).all()
    assert (block["segment_ids"] == 0).all()
    return ids[1 : length - 1].tolist()


@pytest.fixture(scope="module")
def tokenizer(demo_vocabulary):
    return SpanBertTokenizer(demo_vocabulary)


@pytest.mark.parametrize("sequence_length", [64, 512])
def test_blocks_equal_the_reference_packing(tmp_path, demo_corpus, tokenizer, sequence_length):
    documents = _documents(demo_corpus, 12)
    path = _write(tmp_path / "corpus.txt", documents)
    blocks = list(text_blocks(path, tokenizer, sequence_length).as_numpy_iterator())
    assert all(b["token_ids"].shape == (sequence_length,) for b in blocks)
    ours = [_unpack(b, tokenizer.vocabulary) for b in blocks]
    assert ours == _reference_blocks(documents, tokenizer, sequence_length)
    # Every token of the corpus is kept, none added.
    tokens_in = sum(len(r) for d in documents for r in tokenizer.tokenize(d).to_list())
    assert sum(len(b) for b in ours) == tokens_in


def test_never_mixes_documents(tmp_path, tokenizer):
    # Document k uses only its own words, so a block's words name its document.
    words = ["Emma", "Harriet", "Elton", "Knightley", "Weston", "Bates"]
    documents = [[" ".join([w] * n) for n in (3, 40, 7, 1, 90)] for w in words]
    path = _write(tmp_path / "corpus.txt", documents)
    vocab = tokenizer.vocabulary
    ids_of = {vocab.token_to_id(w): w for w in words}
    owners = []
    for block in text_blocks(path, tokenizer, 32).as_numpy_iterator():
        ids = _unpack(block, vocab)
        assert len({ids_of[i] for i in ids}) == 1
        owners.append(ids_of[ids[0]])
    assert owners == [w for w in words for _ in range(owners.count(w))]
    assert set(owners) == set(words)


def test_long_sentences_are_split_not_dropped(tmp_path, tokenizer):
    line = " ".join(["Emma"] * 100)
    path = _write(tmp_path / "corpus.txt", [[line], ["Harriet"]])
    blocks = [_unpack(b, tokenizer.vocabulary) for b in text_blocks(path, tokenizer, 32).as_numpy_iterator()]
    assert [len(b) for b in blocks] == [30, 30, 30, 10, 1]


def test_shuffle_is_seeded(tmp_path, demo_corpus, tokenizer):
    path = _write(tmp_path / "corpus.txt", _documents(demo_corpus, 8))

    def order(seed):
        return [b["token_ids"][1:6].tolist() for b in
                text_blocks(path, tokenizer, 64, shuffle_seed=seed, shuffle_buffer=50).as_numpy_iterator()]

    assert order(1) == order(1)
    assert order(1) != order(2)
    assert sorted(order(1)) == sorted(order(None))


def test_train_and_validation_splits_partition_documents(tmp_path, demo_corpus, tokenizer):
    path = _write(tmp_path / "corpus.txt", _documents(demo_corpus, 40))

    def contents(split):
        return sorted(tuple(_unpack(b, tokenizer.vocabulary)) for b in text_blocks(
            path, tokenizer, 128, split=split, validation_fraction=0.2).as_numpy_iterator())

    train, validation = contents("train"), contents("validation")
    assert train and validation
    assert sorted(train + validation) == contents("all")


def test_tfrecord_shards_give_the_same_blocks(tmp_path, demo_corpus, tokenizer):
    documents = _documents(demo_corpus, 6)
    text = _write(tmp_path / "corpus.txt", documents)
    shards = write_document_shards(documents, str(tmp_path / "shard"), num_shards=1)
    from_text = [b["token_ids"].tolist() for b in text_blocks(text, tokenizer, 128).as_numpy_iterator()]
    from_shards = [b["token_ids"].tolist() for b in text_blocks(shards, tokenizer, 128).as_numpy_iterator()]
    assert from_text == from_shards


def test_many_files_interleave_and_keep_every_block(tmp_path, demo_corpus, tokenizer):
    documents = _documents(demo_corpus, 9)
    paths = [_write(tmp_path / f"part{i}.txt", documents[i::3]) for i in range(3)]
    single = _write(tmp_path / "all.txt", list(itertools.chain(*[documents[i::3] for i in range(3)])))
    many = sorted(b["token_ids"].tolist() for b in text_blocks(paths, tokenizer, 128).as_numpy_iterator())
    one = sorted(b["token_ids"].tolist() for b in text_blocks(single, tokenizer, 128).as_numpy_iterator())
    assert many == one
    globbed = list(text_blocks(str(tmp_path / "part*.txt"), tokenizer, 128).as_numpy_iterator())
    assert len(globbed) == len(many)


def test_non_utf8_line_is_skipped_with_a_warning(tmp_path, tokenizer, capfd):
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"Emma sat.\nEmma \xff\xfe sat.\nHarriet sat.\n")
    blocks = list(text_blocks(str(path), tokenizer, 64).as_numpy_iterator())
    words = tokenizer.detokenize(np.array([_unpack(blocks[0], tokenizer.vocabulary)])).numpy()[0]
    assert words == b"Emma sat . Harriet sat ."
    err = capfd.readouterr().err
    assert "not valid UTF-8" in err and "corpus.txt" in err and "line(s) [2]" in err


def test_bad_input_is_named(tmp_path, tokenizer):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        text_blocks(str(tmp_path / "missing.txt"), tokenizer)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.txt"):
        text_blocks(str(empty), tokenizer)
    with pytest.raises(FileNotFoundError, match=r"nothing\*"):
        text_blocks(str(tmp_path / "nothing*"), tokenizer)
    good = _write(tmp_path / "good.txt", [["Emma"]])
    with pytest.raises(ValueError, match="sequence_length"):
        text_blocks(good, tokenizer, sequence_length=2)
    shard = tmp_path / "x.tfrecord"
    shard.write_bytes(b"x")
    with pytest.raises(ValueError, match="not a mix"):
        text_blocks([good, str(shard)], tokenizer)


def test_split_survives_moving_the_corpus(tmp_path, demo_corpus, tokenizer):
    documents = _documents(demo_corpus, 30)
    here = _write(tmp_path / "corpus.txt", documents)
    (tmp_path / "moved").mkdir()
    there = _write(tmp_path / "moved" / "corpus.txt", documents)

    def validation(path):
        return [b["token_ids"].tolist() for b in text_blocks(
            path, tokenizer, 128, split="validation", validation_fraction=0.2).as_numpy_iterator()]

    assert validation(here) and validation(here) == validation(there)
