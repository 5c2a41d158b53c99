"""The progress lines of a run's preparation: each pass over the corpus says what it
does and how many passes remain, with nothing per document."""

import re

import numpy as np

from spanbert_keras.config import PretrainConfig
from spanbert_keras.training.pretrain import prepare_run
from spanbert_keras.training.pretrain import replacement_counts_of

CORPUS = r"over the corpus \(1 file, [\d.]+ kB\)"
LEARNING = r"learning a 500-piece WordPiece vocabulary\.\.\."
COUNTING = r"counting the corpus' tokens \(the random replacement tokens' distribution\)\.\.\."
DONE = r"done in [\d.]+ s"


def _config(distribution="unigram", vocabulary=None):
    config = PretrainConfig()
    config.data.vocabulary_size = 500
    config.data.sequence_length = 128
    config.data.vocabulary = vocabulary
    config.masking.random_token_distribution = distribution
    return config


def _check(lines, patterns):
    assert len(lines) == len(patterns), lines
    for line, pattern in zip(lines, patterns):
        assert re.fullmatch(pattern, line), (line, pattern)


def test_learning_and_counting_say_which_pass_of_how_many(tmp_path, demo_excerpt):
    corpus, lines = demo_excerpt(40), []
    _, vocabulary, _ = prepare_run(_config(), str(tmp_path / "run"), [corpus], log=lines.append)
    counts = np.loadtxt(tmp_path / "run" / "token_counts.txt", dtype=np.int64)
    _check(lines, [  # 40 documents, 4 lines
        f"pass 1 of 2 {CORPUS}: {LEARNING}",
        f"pass 1 of 2 {DONE}: {vocabulary.size:,} pieces; 1 pass left",
        f"pass 2 of 2 {CORPUS}: {COUNTING}",
        f"pass 2 of 2 {DONE}: {int(counts.sum()):,} tokens",
    ])
    # Reopened: nothing to learn or count again, nothing said.
    again = []
    prepare_run(_config(), str(tmp_path / "run"), [corpus], log=again.append)
    assert again == []


def test_a_single_pass_says_so(tmp_path, demo_excerpt):
    corpus, learned, counted, recounted = demo_excerpt(4), [], [], []
    _, vocabulary, _ = prepare_run(_config("uniform"), str(tmp_path / "uniform"), [corpus],
                                   log=learned.append)
    _check(learned, [f"pass 1 of 1 {CORPUS}: {LEARNING}",
                     f"pass 1 of 1 {DONE}: {vocabulary.size:,} pieces"])
    given = _config(vocabulary=str(tmp_path / "uniform" / "vocab.txt"))
    prepare_run(given, str(tmp_path / "given"), [corpus], log=counted.append)
    _check(counted, [f"pass 1 of 1 {CORPUS}: {COUNTING}", f"pass 1 of 1 {DONE}: [\\d,]+ tokens"])
    # A run without its counts file (evaluate, export) counts in one pass too.
    (tmp_path / "given" / "token_counts.txt").unlink()
    counts = replacement_counts_of(str(tmp_path / "given"), given, vocabulary, [corpus],
                                   log=recounted.append)
    _check(recounted, [f"pass 1 of 1 {CORPUS}: {COUNTING}",
                       f"pass 1 of 1 {DONE}: {int(counts.sum()):,} tokens"])
    assert (tmp_path / "given" / "token_counts.txt").exists()
