import doctest

import numpy as np
import pytest

from spanbert_keras.data import vocabulary as vocabulary_module
from spanbert_keras.data.vocabulary import SPECIAL_TOKENS
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.data.vocabulary import build_vocabulary
from spanbert_keras.data.vocabulary import load_vocabulary


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


def test_bert_layout_ids_are_looked_up(tmp_path):
    tokens = ["[PAD]"] + [f"[unused{i}]" for i in range(99)]
    tokens += ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "##s"]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    vocab = load_vocabulary(str(path))
    assert (vocab.pad_id, vocab.unk_id, vocab.cls_id, vocab.sep_id, vocab.mask_id) == (
        0, 100, 101, 102, 103)
    assert vocab.is_special[:104].all() and not vocab.is_special[104:].any()


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


def test_docstring_examples():
    result = doctest.testmod(vocabulary_module)
    assert result.attempted >= 4 and result.failed == 0
