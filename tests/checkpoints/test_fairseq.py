"""The authors' fairseq `model.pt` (both heads) loads, computes what the PyTorch modules
compute, continues pre-training from the same loss; a pickle is read as data, never as code."""

import sys

import numpy as np
import pytest
import tensorflow as tf
import torch
from test_case import assert_allclose
from torch_reference import CASED_TOKENS
from torch_reference import SpanBoundaryReference
from torch_reference import batch
from torch_reference import bert_for_pretraining
from torch_reference import randomized
from torch_reference import torch_inputs
from torch_reference import write_fairseq_checkpoint
from torch_reference import write_vocabulary

from spanbert_keras.checkpoints import load_pretrained
from spanbert_keras.config import TrainingConfig


@pytest.fixture(scope="module")
def authors_model():
    """A tiny BertForPreTraining and SPEC's SBO head sharing its word embeddings.

    Seeds whose SBO LayerNorm inputs are not near-constant on the test batch
    (variance > 0.1): there float32 round-off is not amplified past 1e-5.
    """
    bert = bert_for_pretraining(seed=4)
    sbo = randomized(SpanBoundaryReference(bert.bert.embeddings.word_embeddings.weight), seed=5)
    return bert, sbo


@pytest.fixture()
def model_pt(tmp_path, authors_model, monkeypatch):
    write_vocabulary(str(tmp_path))
    return write_fairseq_checkpoint(str(tmp_path / "model.pt"), *authors_model, monkeypatch)


def torch_forward(authors_model, x):
    bert, sbo = authors_model
    with torch.no_grad():
        outputs = bert(**torch_inputs(x), output_hidden_states=True)
        sequence = outputs.hidden_states[-1]
        sbo_logits = sbo(sequence, torch.tensor(x["span_boundaries"], dtype=torch.long),
                         torch.tensor(x["span_offsets"], dtype=torch.long))
    mlm_logits = np.take_along_axis(outputs.prediction_logits.numpy(),
                                    x["mask_positions"][..., None], 1)
    return {"sequence_output": sequence.numpy(), "mlm_logits": mlm_logits,
            "sbo_logits": sbo_logits.numpy()}


def test_authors_checkpoint_loads_both_heads(model_pt, authors_model):
    lines = []
    model = load_pretrained(model_pt, log=lines.append)
    # The authors' config and meter classes are never imported, nor anything of theirs run.
    assert not [name for name in sys.modules if name.split(".")[0] == "fairseq"]
    report = model.import_report
    # SpanBERT has no NSP, so no pooler: it starts fresh.
    assert report.from_file == ["encoder", "mlm_head", "sbo_head"] and report.fresh == ["pooler"]
    # The trainer's state is read as data, reported in the one line, and left out.
    n_parameters = len({id(p) for model in authors_model for p in model.parameters()})
    assert report.trainer_state == [
        f"optimizer state ({n_parameters} parameters)",
        "optimizer history (FairseqBERTAdam, 2,400 updates)",
        "13 training meters", "trainer state (best, train_iterator, val_loss)"]
    assert len(lines) == 1 and "skipped the trainer's optimizer state" in lines[0]
    assert report.layout == "fairseq training checkpoint" and report.lowercase is False
    config = report.config.model
    assert (config.max_pair_targets, config.position_embedding_dim) == (4, 8)
    assert report.config.model.max_pair_targets == 4
    assert (config.num_layers, config.hidden_dim, config.num_heads) == (2, 16, 2)
    x = batch()
    outputs = model({k: x[k] for k in ("token_ids", "padding_mask", "segment_ids",
                                       "mask_positions", "span_boundaries", "span_offsets")})
    expected = torch_forward(authors_model, x)
    assert_allclose({k: outputs[k] for k in expected}, expected, atol=1e-5, rtol=0)


def test_continued_pretraining_starts_from_the_torch_loss(model_pt, authors_model):
    model = load_pretrained(model_pt, training_config=TrainingConfig(learning_rate=1e-3), log=None)
    x = batch()
    history = model.fit(tf.data.Dataset.from_tensors(x), epochs=1, steps_per_epoch=1,
                        shuffle=False, verbose=0)
    expected = torch_forward(authors_model, x)

    def cross_entropy(logits, weights):
        ce = torch.nn.functional.cross_entropy(
            torch.tensor(logits).reshape(-1, logits.shape[-1]),
            torch.tensor(x["mask_ids"], dtype=torch.long).reshape(-1), reduction="none")
        return float((ce * torch.tensor(weights).reshape(-1)).sum() / weights.sum())

    mlm = cross_entropy(expected["mlm_logits"], x["mask_weights"])
    sbo = cross_entropy(expected["sbo_logits"], x["sbo_weights"])
    logs = history.history
    assert abs(logs["mlm_loss"][0] - mlm) < 1e-5 and abs(logs["sbo_loss"][0] - sbo) < 1e-5
    assert abs(logs["loss"][0] - (mlm + sbo)) < 1e-5
    # and the step trained the imported weights.
    assert not np.allclose(model.sbo_head.bias.numpy(), authors_model[1].bias.detach().numpy())


class RunsCode:
    """Unpickling this would create a file: what any code-running pickle could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    marker = str(tmp_path / "pwned")
    bert = bert_for_pretraining()
    state = dict(bert.state_dict())
    state["payload"] = RunsCode(marker)
    torch.save(state, tmp_path / "pytorch_model.bin")
    bert.config.save_pretrained(str(tmp_path))
    write_vocabulary(str(tmp_path))
    with pytest.raises(ValueError, match=r"Refused to read .*pytorch_model.bin.*Unsupported global: GLOBAL io.open"):
        load_pretrained(str(tmp_path), log=None)
    assert not (tmp_path / "pwned").exists()
    # The same in a fairseq wrapper, in torch's legacy (pre-zip) format.
    torch.save({"args": None, "model": state}, tmp_path / "model.pt",
               _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="Refused to read"):
        load_pretrained(str(tmp_path / "model.pt"), log=None)
    assert not (tmp_path / "pwned").exists()


def test_a_bin_without_torch_names_the_extra(tmp_path, monkeypatch):
    bert = bert_for_pretraining()
    torch.save(bert.state_dict(), tmp_path / "pytorch_model.bin")
    bert.config.save_pretrained(str(tmp_path))
    write_vocabulary(str(tmp_path))
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails
    with pytest.raises(ImportError, match=r"pip install 'spanbert-keras\[torch\]'"):
        load_pretrained(str(tmp_path), log=None)


def test_vocabulary_given_when_none_is_beside_the_checkpoint(tmp_path, authors_model, monkeypatch):
    path = write_fairseq_checkpoint(str(tmp_path / "model.pt"), *authors_model, monkeypatch)
    with pytest.raises(FileNotFoundError, match="No vocab.txt beside .*model.pt"):
        load_pretrained(path, log=None)
    model = load_pretrained(path, vocabulary=CASED_TOKENS, log=None)
    assert model.import_report.vocabulary.tokens == CASED_TOKENS
