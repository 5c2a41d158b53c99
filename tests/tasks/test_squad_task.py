"""The squad task's datasets: windows of every example, labels on the answer, the training order."""

import numpy as np
from qa_data import synthetic_squad

from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.tasks.base import finetune_config
from spanbert_keras.tasks.squad import TASK

WORDS = sorted({w.strip(".?") for e in synthetic_squad(50) for w in (e["question"] + " " + e["context"]).split()})
VOCABULARY = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "?", *WORDS])
CONFIG = finetune_config({"sequence_length": 24, "batch_size": 4,
                          "options": {"max_query_length": 8, "doc_stride": 4}}, TASK)


def test_labels_point_at_the_answer_in_every_window_that_holds_it():
    examples = synthetic_squad(10, seed=3)
    info = TASK.prepare(examples, VOCABULARY, CONFIG)
    assert info == {"version_2": False, "doc_stride": 4, "max_query_length": 8,
                    "max_answer_length": 30, "n_best_size": 20, "null_score_diff_threshold": 0.0}
    batches = list(TASK.dataset(examples, VOCABULARY, info, CONFIG, training=False).as_numpy_iterator())
    x = {k: np.concatenate([b[0][k] for b in batches]) for k in batches[0][0]}
    y = {k: np.concatenate([b[1][k] for b in batches]) for k in batches[0][1]}
    assert sorted(x) == ["padding_mask", "segment_ids", "token_ids"]
    assert len(x["token_ids"]) > len(examples)  # the passages need several windows of 24
    labelled = np.flatnonzero(y["start_logits"] > 0)
    assert len(labelled) >= len(examples)
    for w in labelled:
        start, end = y["start_logits"][w], y["end_logits"][w]
        answer = [VOCABULARY.tokens[i] for i in x["token_ids"][w, start : end + 1]]
        assert len(answer) == 1 and x["segment_ids"][w, start] == 1
        assert any(answer[0] == e["answers"][0]["text"] for e in examples)


def test_training_batches_are_full_and_shuffled():
    examples = synthetic_squad(30, seed=4)
    info = TASK.prepare(examples, VOCABULARY, CONFIG)
    plain = [b[0]["token_ids"] for b in TASK.dataset(examples, VOCABULARY, info, CONFIG, False)]
    train = [b[0]["token_ids"].numpy() for b in TASK.dataset(examples, VOCABULARY, info, CONFIG, True)]
    windows = sum(len(b) for b in plain)
    assert all(len(b) == 4 for b in train) and len(train) == windows // 4
    assert not np.array_equal(np.concatenate(train), np.concatenate(plain)[: 4 * len(train)])
