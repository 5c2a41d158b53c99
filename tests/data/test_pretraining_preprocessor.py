"""The one pre-training preprocessor: text -> pack -> mask -> targets, saved with the model."""

import os
import pathlib
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from spanbert_keras.config import MaskingConfig
from spanbert_keras.config import apply_overrides
from spanbert_keras.config import load_config
from spanbert_keras.data.pretraining_dataset import pretraining_dataset
from spanbert_keras.data.pretraining_preprocessor import SpanBertPretrainingPreprocessor
from spanbert_keras.data.span_masker import SpanMasker
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.preview import mask_text
from spanbert_keras.run_layout import RunDirectory
from spanbert_keras.training.checkpointing import run_vocabulary
from spanbert_keras.training.pretrain import load_pretraining_run
from spanbert_keras.training.pretrain import recorded_counts
from spanbert_keras.training.pretrain import run_pretraining

TEXTS = ["It is a truth universally acknowledged, that a single man in possession of a good "
         "fortune, must be in want of a wife.", "Emma Woodhouse, handsome, clever, and rich."]
TINY = pathlib.Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "tiny.yaml"
SEEDS = tf.constant([[3, 0], [4, 1]], tf.int64)


def _preprocessor(vocabulary, **kwargs):
    options = dict(masking=MaskingConfig(mask_rate=0.3, random_token_distribution="uniform"),
                   sequence_length=24, seed=7)
    options.update(kwargs)
    return SpanBertPretrainingPreprocessor.from_masking_config(vocabulary, **options)


def _numpy(outputs):
    return {key: np.asarray(value) for key, value in outputs.items()}


def test_text_is_packed_as_cls_pieces_sep_and_masked_as_the_masker_masks_it(demo_vocabulary):
    preprocessor = _preprocessor(demo_vocabulary)
    out = _numpy(preprocessor(TEXTS, seeds=SEEDS))
    # The packing, written out by hand from the tokenizer's pieces.
    pieces = SpanBertTokenizer(demo_vocabulary).tokenize(TEXTS).to_list()
    vocab = demo_vocabulary
    packed = np.full((2, 24), vocab.pad_id, np.int32)
    for row, ids in enumerate(pieces):
        body = [vocab.cls_id] + ids[:22] + [vocab.sep_id]
        packed[row, : len(body)] = body
    assert out["truncated"].tolist() == [len(ids) > 22 for ids in pieces] == [True, False]
    assert (out["padding_mask"] == (packed != vocab.pad_id)).all()
    # Every target restores the packed token; nothing else changed.
    restored = out["token_ids"].copy()
    for row in range(2):
        weights = out["mask_weights"][row] > 0
        restored[row, out["mask_positions"][row][weights]] = out["mask_ids"][row][weights]
    assert (restored == packed).all()
    # The masks are the SpanMasker's on those blocks with those seeds.
    masker = SpanMasker(vocab, mask_rate=0.3, max_pair_targets=15)
    direct = _numpy(masker({"token_ids": packed, "padding_mask": packed != vocab.pad_id,
                            "seed": SEEDS}))
    for key, value in direct.items():
        np.testing.assert_array_equal(out[key], value, err_msg=key)


def test_mask_runs_in_text_are_spans_with_their_boundaries(demo_vocabulary):
    preprocessor = SpanBertPretrainingPreprocessor(demo_vocabulary, sequence_length=16,
                                                   max_pair_targets=2)
    encoded = preprocessor.encode(["Emma [MASK] [MASK] [MASK] rich ."], mask_token_in_text=True)
    ids = encoded["token_ids"].numpy()[0]
    assert ids[2:5].tolist() == [demo_vocabulary.mask_id] * 3
    targets = _numpy(preprocessor.mask_token_targets(encoded["token_ids"],
                                                     encoded["padding_mask"]))
    assert targets["mask_positions"][0].tolist() == [2, 3, 4]
    assert targets["span_boundaries"][0].tolist() == [[1, 5]] * 3
    assert targets["span_offsets"][0].tolist() == [0, 1, 2]
    assert targets["sbo_weights"][0].tolist() == [1.0, 1.0, 0.0]  # a table of 2 rows
    with pytest.raises(ValueError, match="has no masker"):
        preprocessor(["Emma"])


def test_config_round_trip_keeps_the_masks_and_the_counts(demo_vocabulary):
    counts = np.arange(demo_vocabulary.size) % 7
    preprocessor = _preprocessor(demo_vocabulary, replacement_counts=counts,
                                 masking=MaskingConfig(mask_rate=0.3))
    again = keras.layers.deserialize(keras.layers.serialize(preprocessor))
    assert isinstance(again, SpanBertPretrainingPreprocessor)
    assert again.masking_settings() == preprocessor.masking_settings()
    assert again.masking_settings()["random_token_distribution"] == "unigram"
    np.testing.assert_array_equal(again.masker.replacement_counts,
                                  preprocessor.masker.replacement_counts)
    for seeds in (SEEDS, None):  # dynamic and static masking
        first, second = _numpy(preprocessor(TEXTS, seeds)), _numpy(again(TEXTS, seeds))
        for key in first:
            np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def test_the_dataset_and_the_preview_mask_with_it(demo_excerpt, demo_vocabulary):
    corpus = demo_excerpt(4)
    preprocessor = _preprocessor(demo_vocabulary)
    options = dict(batch_size=4, split="all", num_epochs=1, shuffle=False, seed=2)
    given = next(iter(pretraining_dataset(corpus, preprocessor=preprocessor, **options)))
    described = next(iter(pretraining_dataset(
        corpus, demo_vocabulary, sequence_length=24, max_pair_targets=15,
        masking=MaskingConfig(mask_rate=0.3, random_token_distribution="uniform"), **options)))
    for key in given:
        np.testing.assert_array_equal(given[key], described[key], err_msg=key)
    with pytest.raises(ValueError, match="either `preprocessor` or \\['masking'\\]"):
        pretraining_dataset(corpus, preprocessor=preprocessor, masking=MaskingConfig())
    # The preview's batch is the preprocessor's, cut after [SEP].
    _, batch, truncated = mask_text(TEXTS[1], demo_vocabulary, sequence_length=24, seed=3,
                                    masking=MaskingConfig(mask_rate=0.3,
                                                          random_token_distribution="uniform"))
    out = _numpy(preprocessor([TEXTS[1]], seeds=tf.constant([[3, 0]], tf.int64)))
    length = batch["token_ids"].shape[1]
    assert not truncated and length == out["padding_mask"].sum()
    np.testing.assert_array_equal(batch["token_ids"], out["token_ids"][:, :length])
    np.testing.assert_array_equal(batch["mask_positions"], out["mask_positions"][:, :])


def test_it_must_fit_the_model_and_its_masker(demo_vocabulary):
    masker = SpanMasker(demo_vocabulary, max_pair_targets=4)
    with pytest.raises(ValueError, match="SBO targets to 4 tokens"):
        SpanBertPretrainingPreprocessor(demo_vocabulary, 32, max_pair_targets=15, masker=masker)
    with pytest.raises(ValueError, match="masker's vocabulary"):
        SpanBertPretrainingPreprocessor(demo_vocabulary.tokens[:-1], 32, max_pair_targets=4,
                                        masker=masker)
    with pytest.raises(ValueError, match="sequence_length"):
        SpanBertPretrainingPreprocessor(demo_vocabulary, 2)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, demo_excerpt):
    config = apply_overrides(load_config(TINY), [
        "model.num_layers=1", "model.hidden_dim=16", "model.num_heads=2",
        "model.intermediate_dim=32", "model.max_sequence_length=32",
        "data.vocabulary_size=400", "data.sequence_length=32", "data.batch_size=4",
        "data.validation_fraction=0.3", "training.steps_per_epoch=1", "training.eval_steps=1",
        "training.warmup_steps=1", "training.jit_compile=false",
    ])
    run = RunDirectory(tmp_path_factory.mktemp("preprocessor") / "run")
    run_pretraining(config, run.path, corpus=[demo_excerpt(6)], steps=1, log=lambda *_: None,
                    verbose=0)
    return run


def test_a_run_saves_its_preprocessor_with_its_model(finished_run):
    run = finished_run
    model = keras.saving.load_model(run.model)  # the file alone, no run directory
    preprocessor = model.preprocessor
    config = load_config(run.config)
    assert preprocessor.sequence_length == config.data.sequence_length == 32
    assert preprocessor.vocabulary.tokens == run_vocabulary(run.path).tokens
    counts = recorded_counts(run.token_counts, preprocessor.vocabulary)
    np.testing.assert_array_equal(
        preprocessor.masker.replacement_counts,
        np.where(preprocessor.vocabulary.is_maskable, counts, 0))
    assert preprocessor.masker.mask_rate == config.masking.mask_rate
    # A run loaded from its last checkpoint rebuilds the same preprocessor from its files.
    copy = run.path + "-checkpoint"
    shutil.copytree(run.path, copy)
    os.remove(RunDirectory(copy).model)
    rebuilt, _, _ = load_pretraining_run(copy, log=lambda *_: None)
    assert rebuilt.preprocessor.masking_settings() == preprocessor.masking_settings()
    assert rebuilt.preprocessor.sequence_length == preprocessor.sequence_length
    np.testing.assert_array_equal(rebuilt.preprocessor.masker.replacement_counts,
                                  preprocessor.masker.replacement_counts)
    first = _numpy(preprocessor(TEXTS, SEEDS))
    second = _numpy(rebuilt.preprocessor(TEXTS, SEEDS))
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def test_the_export_masks_text_with_the_preprocessor_saved_with_the_model(finished_run, tmp_path):
    from spanbert_keras.export import export_saved_model

    model = keras.saving.load_model(finished_run.model)
    config = load_config(finished_run.config)
    export = str(tmp_path / "saved_models" / "run" / "1")
    paths = export_saved_model(model, model.preprocessor.vocabulary, export, config=config,
                               include_masker=True)  # no counts given: the saved masker's
    masker = paths["export_info"]["settings"]["masker"]
    assert masker == model.preprocessor.masking_settings()
    assert masker["random_token_distribution"] == "unigram"
    served = tf.saved_model.load(export).signatures["mask_and_score"](text=tf.constant(TEXTS))
    expected = _numpy(model.preprocessor(TEXTS))  # static masks: the text and the seed
    for key in ("token_ids", "mask_positions", "mask_ids", "span_boundaries", "sbo_weights"):
        np.testing.assert_array_equal(served[key].numpy(), expected[key], err_msg=key)


def test_a_built_in_preset_comes_with_the_preprocessor_it_was_trained_with():
    from spanbert_keras.checkpoints import load_pretrained
    from spanbert_keras.models.span_bert_pretrainer import SpanBertPretrainer
    from spanbert_keras.resources.presets import preset_config
    from spanbert_keras.resources.presets import resolve_preset

    config = preset_config("austen-tiny")
    counts = np.loadtxt(RunDirectory(resolve_preset("austen-tiny")).token_counts, dtype=np.int64)
    # by the checkpoint reader and by the model class, both by name
    for model in (load_pretrained("austen-tiny", log=None),
                  SpanBertPretrainer.from_preset("austen-tiny")):
        preprocessor = model.preprocessor
        assert preprocessor.sequence_length == config.data.sequence_length
        assert preprocessor.masker.mask_rate == config.masking.mask_rate
        np.testing.assert_array_equal(preprocessor.masker.replacement_counts,
                                      np.where(preprocessor.vocabulary.is_maskable, counts, 0))
