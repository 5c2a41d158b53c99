import numpy as np
import pytest

from spanbert_keras.data.packing import text_blocks
from spanbert_keras.data.packing import write_document_shards
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.data.vocabulary import SPECIAL_TOKENS
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.data.vocabulary import bert_cased_tokenizer
from spanbert_keras.data.vocabulary import build_vocabulary
from spanbert_keras.data.vocabulary import corpus_token_counts
from spanbert_keras.data.vocabulary import load_vocabulary

TINY_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]",
               "The", "cat", "sat", "##s", "."]  # fmt: skip


def test_learned_vocabulary_is_cased_with_special_tokens_first(demo_vocabulary):
    assert demo_vocabulary.tokens[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert 1000 < demo_vocabulary.size <= 8000
    # Cased: both forms of frequent words are learned.
    assert "Emma" in demo_vocabulary.tokens and "emma" not in demo_vocabulary.tokens
    assert "The" in demo_vocabulary.tokens and "the" in demo_vocabulary.tokens


def test_flags_follow_the_continuation_prefix(demo_vocabulary):
    expected = np.array([t.startswith("##") for t in demo_vocabulary.tokens])
    np.testing.assert_array_equal(demo_vocabulary.is_continuation, expected)
    assert demo_vocabulary.is_continuation.sum() > 100
    special = demo_vocabulary.is_special
    assert special[: len(SPECIAL_TOKENS)].all() and special.sum() == len(SPECIAL_TOKENS)
    # Text is every piece and [UNK]; the other special tokens are not maskable.
    maskable = demo_vocabulary.is_maskable
    np.testing.assert_array_equal(maskable[:5], [False, True, False, False, False])
    np.testing.assert_array_equal(maskable[5:], ~special[5:])


def test_bert_layout_ids_are_looked_up(tmp_path):
    tokens = ["[PAD]"] + [f"[unused{i}]" for i in range(99)]
    tokens += ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "##s"]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    vocab = load_vocabulary(str(path))
    assert (vocab.pad_id, vocab.unk_id, vocab.cls_id, vocab.sep_id, vocab.mask_id) == (
        0, 100, 101, 102, 103)
    assert vocab.is_special[:104].all() and not vocab.is_special[104:].any()
    assert np.flatnonzero(vocab.is_maskable).tolist() == [100, 104, 105]


def test_save_load_round_trip(tmp_path, demo_vocabulary):
    path = demo_vocabulary.save(str(tmp_path / "v" / "vocab.txt"))
    assert Vocabulary.load(path).tokens == demo_vocabulary.tokens


@pytest.mark.parametrize(
    "tokens, message",
    [
        (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"], r"\[MASK\]"),
        (list(SPECIAL_TOKENS) + ["a", "a"], "twice"),
        (list(SPECIAL_TOKENS) + ["a b"], "whitespace"),
        ([], "empty"),
    ],
)
def test_bad_vocabularies_are_refused(tokens, message):
    with pytest.raises(ValueError, match=message):
        Vocabulary(tokens)


def test_bad_corpus_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        build_vocabulary([str(tmp_path / "missing.txt")])
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.txt"):
        build_vocabulary([str(empty)])
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        Vocabulary.load(str(tmp_path / "nope.txt"))


def test_corpus_token_counts_literal(tmp_path):
    path = tmp_path / "corpus.txt"
    # A blank line (document break), an unknown word, a line that is not
    # UTF-8 (skipped, as the pipeline skips it) and Windows line ends.
    path.write_bytes(
        b"The cats sat.\r\n\r\nThe cat sat on it.\n\xff\xfe cat\nThe\n"
    )
    counts = corpus_token_counts(str(path), TINY_TOKENS)
    assert counts.dtype == np.int64
    assert counts.tolist() == [0, 2, 0, 0, 0, 0, 3, 2, 2, 1, 2]
    # Files, globs and small batches give the same counts; so do TFRecord shards.
    other = tmp_path / "more.txt"
    other.write_text("cats\n", encoding="utf-8")
    both = corpus_token_counts([str(path), str(other)], TINY_TOKENS, lines_per_batch=1)
    assert both.tolist() == (counts + [0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0]).tolist()
    assert corpus_token_counts(str(tmp_path / "*.txt"), TINY_TOKENS).tolist() == both.tolist()
    shards = write_document_shards(
        [["The cats sat.", ""], ["The cat sat on it.", "cats"]], str(tmp_path / "s"), 2
    )
    expected = [0, 2, 0, 0, 0, 0, 2, 3, 2, 2, 2]
    assert corpus_token_counts(shards, TINY_TOKENS).tolist() == expected


def test_corpus_token_counts_are_the_pipelines_tokens(demo_excerpt, demo_vocabulary):
    corpus = demo_excerpt(6)
    counts = corpus_token_counts(corpus, demo_vocabulary)
    tokenizer = SpanBertTokenizer(demo_vocabulary)
    in_graph = np.zeros(demo_vocabulary.size, np.int64)
    for block in text_blocks(corpus, tokenizer, sequence_length=128).batch(64).as_numpy_iterator():
        np.add.at(in_graph, block["token_ids"][block["padding_mask"].astype(bool)], 1)
    special = [demo_vocabulary.cls_id, demo_vocabulary.sep_id]
    assert in_graph[special].tolist() == [in_graph[special[0]]] * 2
    in_graph[special] = 0
    np.testing.assert_array_equal(counts, in_graph)
    assert counts.sum() > 10_000


def test_corpus_token_counts_of_the_demo_corpus(demo_corpus, demo_vocabulary):
    counts = corpus_token_counts(demo_corpus, demo_vocabulary)
    with open(demo_corpus, encoding="utf-8") as f:
        lines = f.read().split("\n")
    encodings = bert_cased_tokenizer(demo_vocabulary).encode_batch(lines, add_special_tokens=False)
    ids = np.concatenate([np.asarray(e.ids, np.int64) for e in encodings])
    np.testing.assert_array_equal(counts, np.bincount(ids, minlength=demo_vocabulary.size))
    comma = demo_vocabulary.token_to_id(",")
    assert counts[comma] == (ids == comma).sum() > 10_000
    assert not counts[~demo_vocabulary.is_maskable].any()


@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_corpus_token_counts_refuses_bad_batches(tmp_path, value):
    path = tmp_path / "c.txt"
    path.write_text("The cat\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lines_per_batch"):
        corpus_token_counts(str(path), TINY_TOKENS, lines_per_batch=value)
    with pytest.raises(FileNotFoundError, match="missing"):
        corpus_token_counts(str(tmp_path / "missing.txt"), TINY_TOKENS)
