"""Fill-spans accuracy (spanbert_keras.fill_spans): held-out queries, scoring, the in-process signature."""

import numpy as np
import pytest
import tensorflow as tf
from test_case import tiny_model_config

from spanbert_keras.config import DataConfig
from spanbert_keras.config import PretrainConfig
from spanbert_keras.fill_spans import fill_spans_function
from spanbert_keras.fill_spans import frequent_pieces
from spanbert_keras.fill_spans import held_out_queries
from spanbert_keras.fill_spans import score_fill_spans
from spanbert_keras.fill_spans import summary_line
from spanbert_keras.training.build import build_pretrainer


@pytest.fixture(scope="module")
def config(demo_excerpt):
    return PretrainConfig(data=DataConfig(corpus=[demo_excerpt(12)], sequence_length=64,
                                          validation_fraction=0.5))


@pytest.fixture(scope="module")
def queries(config, demo_vocabulary):
    return held_out_queries(config, demo_vocabulary, count=30)


def fake_fill(queries, vocabulary, guess):
    """A `fill_spans` stand-in whose top ids at each masked piece are `guess(true id)`."""
    by_text = {q["text"]: q for q in queries}

    def fill(text):
        rows = [by_text[t.decode()] for t in text.numpy()]
        width = max(len(q["ids"]) for q in rows) + 2
        slots = max(q["end"] - q["begin"] for q in rows)
        out = {k: np.zeros((len(rows), width), np.int32) for k in ("token_ids", "padding_mask")}
        out["mask_weights"] = np.zeros((len(rows), slots), np.float32)
        for head in ("mlm", "sbo"):
            out[f"{head}_top_ids"] = np.zeros((len(rows), slots, 5), np.int32)
        for row, q in enumerate(rows):
            ids, begin, end = q["ids"], q["begin"], q["end"]
            packed = ([vocabulary.cls_id] + ids[:begin] + [vocabulary.mask_id] * (end - begin)
                      + ids[end:] + [vocabulary.sep_id])
            out["token_ids"][row, : len(packed)] = packed
            out["padding_mask"][row, : len(packed)] = 1
            out["mask_weights"][row, : end - begin] = 1
            for head in ("mlm", "sbo"):
                out[f"{head}_top_ids"][row, : end - begin] = [guess(i) for i in ids[begin:end]]
        return {k: tf.constant(v) for k, v in out.items()}

    return fill


def test_queries_mask_one_span_of_whole_words_with_context(queries, demo_vocabulary):
    assert len(queries) == 30
    for q in queries:
        ids, begin, end = q["ids"], q["begin"], q["end"]
        assert 0 < begin < end <= len(ids)
        assert q["text"].split().count("[MASK]") == end - begin
        assert not demo_vocabulary.is_continuation[ids[begin]]  # a word starts the span
        assert end == len(ids) or not demo_vocabulary.is_continuation[ids[end]]


def test_scores_an_oracle_and_the_frequent_pieces(config, queries, demo_vocabulary):
    frequent = frequent_pieces(config, demo_vocabulary)
    oracle = fake_fill(queries, demo_vocabulary, lambda i: [i, 0, 0, 0, 0])
    results, filled = score_fill_spans(oracle, queries, demo_vocabulary, frequent, chunk=7)
    assert results["sentences"] == 30 and results["skipped_sentences"] == 0
    assert results["mlm_top1"] == results["sbo_top5"] == results["mlm_span_exact_top1"] == 1.0
    assert filled[0]["mlm_top"][0][0] == filled[0]["truth"][0]
    constant = fake_fill(queries, demo_vocabulary, lambda i: list(frequent))
    results, _ = score_fill_spans(constant, queries, demo_vocabulary, frequent)
    assert results["mlm_top1"] == results["unigram_top1"] > 0
    assert results["sbo_top5"] == results["unigram_top5"] > results["unigram_top1"]
    assert "(MLM top-5 1.0x)" in summary_line(results)


def test_in_process_signature_tokenises_queries_back(queries, demo_vocabulary, config):
    model = build_pretrainer(tiny_model_config(max_sequence_length=64), demo_vocabulary.size)
    fill = fill_spans_function(model, demo_vocabulary, sequence_length=64, top_k=5)
    short = [q for q in queries if len(q["ids"]) <= 60][:6]
    results, filled = score_fill_spans(fill, short, demo_vocabulary,
                                       frequent_pieces(config, demo_vocabulary))
    assert results["skipped_sentences"] == 0 and len(filled) == len(short)
    assert all(len(row) == 5 for row in filled[0]["sbo_top"])
