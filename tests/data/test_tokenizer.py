import itertools

import numpy as np
import tensorflow as tf
from tokenizers import normalizers
from tokenizers import pre_tokenizers

from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.data.vocabulary import bert_cased_tokenizer


def _demo_lines(path, count):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in itertools.islice(f, 4 * count) if line.strip()][:count]


def _bert_words(line):
    """BERT's cased basic tokenisation, by the `tokenizers` package."""
    normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    pieces = pre_tokenizers.BertPreTokenizer().pre_tokenize_str(normalizer.normalize_str(line))
    return [word for word, _ in pieces]


def test_round_trip_on_demo_corpus(demo_corpus, demo_vocabulary):
    tokenizer = SpanBertTokenizer(demo_vocabulary)
    lines = _demo_lines(demo_corpus, 1500)
    ids = tokenizer.tokenize(lines)
    texts = [t.decode("utf-8") for t in tokenizer.detokenize(ids).numpy()]
    checked = 0
    for line, row, text in zip(lines, ids.to_list(), texts):
        if demo_vocabulary.unk_id in row:
            continue
        assert text == " ".join(_bert_words(line))
        checked += 1
    assert checked > 0.98 * len(lines)


def test_ids_match_an_independent_wordpiece_implementation(demo_corpus, demo_vocabulary):
    # The Rust `tokenizers` WordPiece: a second implementation of the same ids.
    reference = bert_cased_tokenizer(demo_vocabulary)
    lines = _demo_lines(demo_corpus, 1000)
    ours = SpanBertTokenizer(demo_vocabulary).tokenize(lines).to_list()
    theirs = [e.ids for e in reference.encode_batch(lines)]
    assert ours == theirs


def test_word_starts_follow_the_continuation_prefix(demo_corpus, demo_vocabulary):
    tokenizer = SpanBertTokenizer(demo_vocabulary)
    lines = _demo_lines(demo_corpus, 300)
    is_continuation = tokenizer.is_continuation.numpy()
    for line, row in zip(lines, tokenizer.tokenize(lines).to_list()):
        # Each BERT word gives one non-continuation piece followed by ## pieces.
        assert int((~is_continuation[row]).sum()) == len(_bert_words(line))
        for token_id in row:
            assert is_continuation[token_id] == demo_vocabulary.tokens[token_id].startswith("##")


def test_mask_token_in_text(demo_vocabulary):
    tokenizer = SpanBertTokenizer(demo_vocabulary)
    mask = demo_vocabulary.mask_id
    ids = tokenizer.tokenize(
        ["Emma [MASK] [MASK] rich", "no mask", "", "[MASK]"], mask_token_in_text=True
    ).to_list()
    plain = tokenizer.tokenize(["Emma", "rich", "no mask"]).to_list()
    assert ids[0] == plain[0] + [mask, mask] + plain[1]
    assert ids[1] == plain[2] and ids[2] == [] and ids[3] == [mask]
    # Without the flag the literal text is split like any punctuation.
    assert mask not in tokenizer.tokenize(["Emma [MASK]"]).to_list()[0]


def test_works_in_tf_function_and_tf_data(demo_vocabulary):
    tokenizer = SpanBertTokenizer(demo_vocabulary)
    lines = ["It is a truth universally acknowledged.", "Emma Woodhouse"]
    eager = tokenizer.tokenize(lines).to_list()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def graph(strings):
        return tokenizer.tokenize(strings).to_tensor()

    dense = graph(tf.constant(lines)).numpy()
    assert [list(r[: len(e)]) for r, e in zip(dense, eager)] == eager
    ds = tf.data.Dataset.from_tensor_slices(lines).batch(2).map(
        lambda s: tokenizer.tokenize(s).to_tensor())
    np.testing.assert_array_equal(next(iter(ds)).numpy(), dense)
