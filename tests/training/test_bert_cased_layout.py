"""The whole pipeline on a vocabulary laid out like BERT-cased's `vocab.txt`.

The published SpanBERT models use BERT-cased's vocabulary: [PAD]=0,
[unused1..99], [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103, then the
wordpieces. Nothing here may assume the ids of a vocabulary learned by
`build_vocabulary` ([PAD]..[MASK] = 0..4).
"""

import json
import os

import numpy as np
import pytest

from spanbert_keras.config import apply_overrides
from spanbert_keras.config import load_config
from spanbert_keras.data.pretraining_dataset import pretraining_dataset
from spanbert_keras.data.vocabulary import SPECIAL_TOKENS
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.data.vocabulary import build_vocabulary
from spanbert_keras.export.bundle import export_bundle
from spanbert_keras.training.pretrain import evaluate_run
from spanbert_keras.training.pretrain import load_pretraining_run
from spanbert_keras.training.pretrain import run_pretraining

UNUSED = [f"[unused{i}]" for i in range(1, 100)]


@pytest.fixture(scope="module")
def layout(demo_excerpt, tmp_path_factory):
    corpus = demo_excerpt(6)
    learned = build_vocabulary([corpus], vocab_size=600, show_progress=False)
    pieces = [t for t in learned.tokens if t not in SPECIAL_TOKENS]
    tokens = ["[PAD]", *UNUSED, "[UNK]", "[CLS]", "[SEP]", "[MASK]", *pieces]
    path = tmp_path_factory.mktemp("bert_cased") / "vocab.txt"
    Vocabulary(tokens).save(path)
    return corpus, str(path)


def test_the_layout_is_bert_cased(layout):
    vocabulary = Vocabulary.load(layout[1])
    ids = [vocabulary.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")]
    assert ids == [0, 100, 101, 102, 103]


def test_masked_batches_respect_the_layout(layout):
    corpus, vocab_file = layout
    vocabulary = Vocabulary.load(vocab_file)
    batches = pretraining_dataset(
        [corpus], vocabulary, sequence_length=64, batch_size=8, split="all", num_epochs=1,
        shuffle=False,
    ).take(6)
    changed_to = []
    for batch in batches.as_numpy_iterator():
        assert (batch["token_ids"][:, 0] == 101).all()  # [CLS]
        lengths = batch["padding_mask"].sum(axis=1)
        positions, weights = batch["mask_positions"], batch["mask_weights"] > 0
        real = positions[weights]
        rows = np.nonzero(weights)[0]
        assert (real > 0).all() and (real < lengths[rows] - 1).all()  # never [CLS] / [SEP]
        original = batch["mask_ids"][weights]
        assert not np.isin(original, [0, 101, 102, 103, *range(1, 100)]).any()
        now = batch["token_ids"][rows, real]
        assert (now == 103).mean() > 0.3  # [MASK] is 103 here, not 4 (80% of spans)
        changed_to.extend(now[(now != 103) & (now != original)].tolist())
    # Random replacements are wordpieces, never reserved or structural ids.
    assert changed_to and not np.isin(changed_to, [0, 101, 102, 103, *range(1, 100)]).any()


def test_pretrain_evaluate_export(layout, tmp_path):
    corpus, vocab_file = layout
    config = apply_overrides(load_config(os.path.join(os.path.dirname(__file__), "..", "..", "pipelines", "configs", "tiny.yaml")), [
        f"data.vocabulary={vocab_file}", "data.sequence_length=32", "data.batch_size=4",
        "data.validation_fraction=0.3", "training.steps_per_epoch=3", "training.eval_steps=2",
        "model.num_layers=1",
    ])
    run = str(tmp_path / "run")
    logs = run_pretraining(config, run, corpus=[corpus], steps=3, log=lambda *_: None, verbose=0)
    assert np.isfinite(logs["loss"]).all()
    assert (tmp_path / "run" / "vocab.txt").read_text().split("\n")[100:104] == [
        "[UNK]", "[CLS]", "[SEP]", "[MASK]"
    ]
    results = evaluate_run(run, corpus=[corpus], steps=2, verbose=0)
    assert 0 < results["mlm_loss"] < 2 * np.log(Vocabulary.load(vocab_file).size)
    model, vocabulary, config = load_pretraining_run(run)
    paths = export_bundle(model, vocabulary, str(tmp_path / "saved_models" / "bc" / "1"),
                          config=config, log=lambda *_: None)
    info = json.loads((tmp_path / "saved_models" / "bc" / "1" / "export_info.json").read_text())
    assert info["special_token_ids"] == {
        "[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103
    }
    assert paths["tflite"] is None
