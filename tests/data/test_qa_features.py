"""QA features: gold spans survive tokens -> characters; windows as BERT's run_squad.py cuts them.

The oracle is a Python transcription of the authors' window loop and
max-context rule on the Rust `tokenizers` twin's character offsets (an
independent implementation of the same WordPiece and of the offsets).
"""

import numpy as np
import pytest
import tensorflow as tf
from qa_data import crafted_examples
from test_case import assert_allclose

from spanbert_keras.data.qa_features import QuestionAnswerFeatures
from spanbert_keras.data.vocabulary import bert_cased_tokenizer
from spanbert_keras.data.vocabulary import build_vocabulary

L, STRIDE, QUERY = 32, 8, 6


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory):
    examples = crafted_examples()
    corpus = tmp_path_factory.mktemp("qa") / "corpus.txt"
    # The emoji example is left out: its symbols become [UNK], a whole word each.
    corpus.write_text("\n".join(e["question"] + "\n" + e["context"] for e in examples
                                if e["id"] != "emoji"), encoding="utf-8")
    return build_vocabulary([corpus], vocab_size=400, min_frequency=1, show_progress=False)


def gold_windows(examples, vocabulary):
    """Windows of one row per (example, gold answer); the rows' example, start and end."""
    rows = [(i, a["answer_start"], a["answer_start"] + len(a["text"]))
            for i, e in enumerate(examples) for a in e["answers"]]
    index, starts, ends = np.array(rows, "int64").T
    features = QuestionAnswerFeatures(vocabulary, L, STRIDE, QUERY)
    out = features([examples[i]["question"] for i in index], [examples[i]["context"] for i in index],
                   starts, ends)
    return {k: v.numpy() for k, v in out.items()}, index, starts, ends


def oracle(example, vocabulary, answer=None):
    """BERT's doc-span loop and `_check_is_max_context`, on `tokenizers` offsets."""
    tokenizer = bert_cased_tokenizer(vocabulary)
    query = tokenizer.encode(example["question"], add_special_tokens=False).ids[:QUERY]
    encoding = tokenizer.encode(example["context"], add_special_tokens=False)
    ids, offsets = encoding.ids, encoding.offsets
    room = L - len(query) - 3
    spans, start = [], 0
    while True:
        length = min(len(ids) - start, room)
        spans.append((start, length))
        if start + length >= len(ids):
            break
        start += min(length, STRIDE)

    def max_context(index, position):
        best, best_index = None, None
        for k, (s, n) in enumerate(spans):
            if not s <= position < s + n:
                continue
            score = min(position - s, s + n - 1 - position) + 0.01 * n
            if best is None or score > best:
                best, best_index = score, k
        return best_index == index

    first = last = None
    if answer is not None:
        a_start, a_end = answer
        first = sum(1 for s, e in offsets if e <= a_start)
        last = sum(1 for s, e in offsets if s < a_end) - 1
    windows = []
    for k, (s, n) in enumerate(spans):
        token_ids = [vocabulary.cls_id, *query, vocabulary.sep_id, *ids[s : s + n], vocabulary.sep_id]
        offset = len(query) + 2
        pad = L - len(token_ids)
        window = {
            "token_ids": token_ids + [vocabulary.pad_id] * pad,
            "segment_ids": [0] * offset + [1] * (n + 1) + [0] * pad,
            "padding_mask": [1] * len(token_ids) + [0] * pad,
            "char_start": [-1] * offset + [offsets[s + i][0] for i in range(n)] + [-1] * (pad + 1),
            "char_end": [-1] * offset + [offsets[s + i][1] for i in range(n)] + [-1] * (pad + 1),
            "max_context": [False] * offset + [max_context(k, s + i) for i in range(n)]
            + [False] * (pad + 1),
        }
        if answer is not None:
            inside = first <= last and s <= first and last < s + n
            window["start_positions"] = first - s + offset if inside else 0
            window["end_positions"] = last - s + offset if inside else 0
        windows.append(window)
    return windows


def test_windows_equal_the_authors_loop_on_independent_offsets(vocabulary):
    examples = crafted_examples()
    out, index, starts, ends = gold_windows(examples, vocabulary)
    expected = []
    for row, i in enumerate(index):
        for window in oracle(examples[i], vocabulary, (starts[row], ends[row])):
            expected.append(dict(window, example_index=row))
    assert len(expected) == len(out["token_ids"]) and len(expected) > 2 * len(index)
    stacked = {k: np.array([w[k] for w in expected]) for k in expected[0]}
    stacked["max_context"] = stacked["max_context"].astype(bool)
    assert_allclose({k: out[k] for k in stacked}, stacked)


def test_every_gold_span_round_trips_to_its_text(vocabulary):
    examples = crafted_examples()
    out, index, starts, ends = gold_windows(examples, vocabulary)
    rows = out["example_index"]
    start_pos, end_pos = out["start_positions"], out["end_positions"]
    char_start, char_end = out["char_start"], out["char_end"]
    seen = np.zeros(len(index), int)
    for w, row in enumerate(rows):
        if start_pos[w] == 0:
            continue
        context = examples[index[row]]["context"]
        text = context[char_start[w, start_pos[w]] : char_end[w, end_pos[w]]]
        assert text == context[starts[row] : ends[row]], (examples[index[row]]["id"], text)
        seen[row] += 1
    assert seen.min() >= 1  # every answer is whole in at least one window
    assert sum(len(e["answers"]) for e in examples) == len(index) > 20
    assert (np.bincount(rows) > 1).sum() > 10  # long passages do span several windows


def test_empty_passage_and_no_answer_give_one_window_at_cls(vocabulary):
    features = QuestionAnswerFeatures(vocabulary, L, STRIDE, QUERY)
    out = features(["Who?", "Who?"], ["", "Emma"], [-1, -1], [-1, -1])
    assert out["example_index"].numpy().tolist() == [0, 1]
    assert out["start_positions"].numpy().tolist() == [0, 0]
    assert out["padding_mask"].numpy().sum(axis=1).tolist()[0] == len(
        bert_cased_tokenizer(vocabulary).encode("Who?", add_special_tokens=False).ids) + 3
    assert (out["char_start"].numpy()[0] == -1).all()


def test_eager_tf_function_and_tf_data_agree(vocabulary):
    examples = crafted_examples()[:12]
    features = QuestionAnswerFeatures(vocabulary, L, STRIDE, QUERY)
    questions = [e["question"] for e in examples]
    contexts = [e["context"] for e in examples]
    eager = features(questions, contexts)
    traced = tf.function(features)(tf.constant(questions), tf.constant(contexts))
    assert_allclose(traced, eager)
    dataset = tf.data.Dataset.from_tensor_slices((questions, contexts)).batch(5)
    pieces = [out for out in dataset.map(features).as_numpy_iterator()]
    for key in ("token_ids", "char_start", "max_context"):
        np.testing.assert_array_equal(np.concatenate([p[key] for p in pieces]), eager[key].numpy())


def test_arguments_are_checked(vocabulary):
    with pytest.raises(ValueError, match="max_query_length \\+ 4"):
        QuestionAnswerFeatures(vocabulary, sequence_length=10, max_query_length=8)
    with pytest.raises(ValueError, match="doc_stride"):
        QuestionAnswerFeatures(vocabulary, doc_stride=0)
