import numpy as np
import pytest

from spanbert_keras.config import MaskingConfig
from spanbert_keras.data.pretraining_dataset import pretraining_dataset

KEYS = {
    "token_ids": "int32", "padding_mask": "bool", "segment_ids": "int32",
    "mask_positions": "int32", "mask_ids": "int32", "mask_weights": "float32",
    "span_boundaries": "int32", "span_offsets": "int32", "sbo_weights": "float32",
}


@pytest.fixture(scope="module")
def corpus(demo_excerpt):
    return demo_excerpt(10)


def _dataset(corpus, vocabulary, **kwargs):
    options = dict(sequence_length=64, batch_size=8, split="all", steps_per_epoch=3, seed=5)
    options.update(kwargs)
    return pretraining_dataset(corpus, vocabulary, **options)


def _batches(dataset):
    return [{k: v for k, v in b.items()} for b in dataset.as_numpy_iterator()]


def test_batches_follow_the_contract(corpus, demo_vocabulary):
    batch = next(iter(_dataset(corpus, demo_vocabulary, num_epochs=1)))
    assert set(batch) == set(KEYS)
    for key, dtype in KEYS.items():
        assert batch[key].dtype.name == dtype, key
        assert batch[key].shape[0] == 8
    predictions = batch["mask_positions"].shape[1]
    assert predictions == int(np.ceil(0.15 * 62))
    assert batch["span_boundaries"].shape == (8, predictions, 2)
    # Every real target's original token is restored at its position.
    weights = batch["mask_weights"].numpy() > 0
    assert weights.sum(axis=1).min() > 0
    assert (batch["token_ids"].numpy() == demo_vocabulary.mask_id).any()


def test_seeded_dynamic_and_resumable(corpus, demo_vocabulary):
    run = _batches(_dataset(corpus, demo_vocabulary, num_epochs=3))
    again = _batches(_dataset(corpus, demo_vocabulary, num_epochs=3))
    assert len(run) == 9
    for a, b in zip(run, again):
        for key in KEYS:
            np.testing.assert_array_equal(a[key], b[key])
    # Each epoch draws new masks (and a new order).
    assert not np.array_equal(run[0]["mask_positions"], run[3]["mask_positions"])
    # Resuming at epoch 2 gives exactly the uninterrupted run's epoch 2.
    resumed = _batches(_dataset(corpus, demo_vocabulary, start_epoch=2, num_epochs=1))
    for a, b in zip(run[6:], resumed):
        for key in KEYS:
            np.testing.assert_array_equal(a[key], b[key])
    other_seed = _batches(_dataset(corpus, demo_vocabulary, num_epochs=1, seed=6))
    assert not np.array_equal(run[0]["token_ids"], other_seed[0]["token_ids"])


def test_same_blocks_masked_differently_each_epoch(corpus, demo_vocabulary):
    epochs = _batches(_dataset(corpus, demo_vocabulary, num_epochs=2, shuffle=False,
                               steps_per_epoch=None))
    half = len(epochs) // 2
    first, second = epochs[0], epochs[half]
    def original(b):
        ids = b["token_ids"].copy()
        rows = np.broadcast_to(np.arange(ids.shape[0])[:, None], b["mask_positions"].shape)
        keep = b["mask_weights"] > 0
        ids[rows[keep], b["mask_positions"][keep]] = b["mask_ids"][keep]
        return ids

    # The unmasked text is the same block ...
    np.testing.assert_array_equal(original(first), original(second))
    # ... but with other spans.
    assert not np.array_equal(first["mask_positions"], second["mask_positions"])


def test_an_empty_split_ends_instead_of_hanging(corpus, demo_vocabulary):
    batches = _batches(_dataset(corpus, demo_vocabulary, split="validation",
                                validation_fraction=0.00001, num_epochs=2))
    assert batches == []


def test_masking_config_is_applied(corpus, demo_vocabulary):
    masking = MaskingConfig(scheme="token", max_predictions=20)
    batch = next(iter(_dataset(corpus, demo_vocabulary, masking=masking, num_epochs=1)))
    assert batch["mask_positions"].shape[1] == 20


def test_sequence_longer_than_the_position_table_is_refused(corpus, demo_vocabulary):
    with pytest.raises(ValueError, match="position table"):
        pretraining_dataset(corpus, demo_vocabulary, sequence_length=1024,
                            max_sequence_length=512)
