"""PyTorch peers for the checkpoint tests: tiny `transformers` BERTs, SPEC's SBO head
as an independent PyTorch module, the authors' fairseq checkpoint layout, one batch.

Nothing here imports `spanbert_keras.checkpoints`: these are the other side.
"""

import argparse
import collections
import json
import os
import sys
import types

import numpy as np
import torch
import transformers
from test_case import TINY_MODEL_CONFIG

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCABULARY_SIZE = TINY_MODEL_CONFIG["vocabulary_size"]
# A cased vocabulary (uppercase pieces) of the tiny size.
CASED_TOKENS = SPECIALS + [f"{'W' if i % 3 == 0 else 'w'}{i}" for i in range(VOCABULARY_SIZE - 5)]
PAIR_TARGETS = TINY_MODEL_CONFIG["max_pair_targets"]
POSITION_DIM = TINY_MODEL_CONFIG["position_embedding_dim"]


def bert_config(**overrides):
    """The tiny `transformers.BertConfig` (TINY_MODEL_CONFIG's sizes, no dropout)."""
    values = dict(
        vocab_size=VOCABULARY_SIZE,
        hidden_size=TINY_MODEL_CONFIG["hidden_dim"],
        num_hidden_layers=TINY_MODEL_CONFIG["num_layers"],
        num_attention_heads=TINY_MODEL_CONFIG["num_heads"],
        intermediate_size=TINY_MODEL_CONFIG["intermediate_dim"],
        max_position_embeddings=TINY_MODEL_CONFIG["max_sequence_length"],
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    values.update(overrides)
    return transformers.BertConfig(**values)


def randomized(model, seed=0):
    """`model` in eval mode with every parameter drawn at a scale where GeLU's forms differ."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if "LayerNorm" in name or "layer_norm" in name:
                parameter.copy_((1.0 if name.endswith(("weight", "gamma")) else 0.0) + 0.2 * noise)
            else:
                parameter.copy_(0.3 * noise)
    return model.eval()


def bert_for_pretraining(seed=0):
    """A random tiny `BertForPreTraining` (encoder, pooler, MLM and NSP heads)."""
    torch.manual_seed(seed)
    return randomized(transformers.BertForPreTraining(bert_config()), seed)


def write_vocabulary(directory, tokens=CASED_TOKENS):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")


class AuthorsLayerNorm(torch.nn.Module):
    """The authors' BertLayerNorm: `gamma`/`beta`, epsilon inside the square root."""

    def __init__(self, size, epsilon=1e-12):
        super().__init__()
        self.gamma = torch.nn.Parameter(torch.ones(size))
        self.beta = torch.nn.Parameter(torch.zeros(size))
        self.epsilon = epsilon

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        variance = (x - mean).pow(2).mean(-1, keepdim=True)
        return self.gamma * (x - mean) / torch.sqrt(variance + self.epsilon) + self.beta


class SpanBoundaryReference(torch.nn.Module):
    """SPEC section 3 written in PyTorch, with the authors' sub-module names.

        h0 = [x_{s-1}; x_{e+1}; p_{i-s}]
        h1 = LayerNorm(GeLU(W1 h0 + b1)); y = LayerNorm(GeLU(W2 h1 + b2))
        logits = y E^T + bias                (E: the tied word embeddings)
    """

    def __init__(self, word_embeddings, max_targets=PAIR_TARGETS, position_dim=POSITION_DIM):
        super().__init__()
        vocabulary, hidden = word_embeddings.shape
        self.position_embeddings = torch.nn.Embedding(max_targets, position_dim)
        self.mlp_layer_norm = torch.nn.Module()
        self.mlp_layer_norm.linear1 = torch.nn.Linear(2 * hidden + position_dim, hidden)
        self.mlp_layer_norm.layer_norm1 = AuthorsLayerNorm(hidden)
        self.mlp_layer_norm.linear2 = torch.nn.Linear(hidden, hidden)
        self.mlp_layer_norm.layer_norm2 = AuthorsLayerNorm(hidden)
        self.decoder = torch.nn.Linear(hidden, vocabulary, bias=False)
        self.decoder.weight = word_embeddings
        self.bias = torch.nn.Parameter(torch.zeros(vocabulary))

    def forward(self, sequence, boundaries, offsets):
        rows = torch.arange(sequence.shape[0])[:, None]
        left = sequence[rows, boundaries[..., 0]]
        right = sequence[rows, boundaries[..., 1]]
        h = torch.cat([left, right, self.position_embeddings(offsets)], dim=-1)
        mlp = self.mlp_layer_norm
        h = mlp.layer_norm1(torch.nn.functional.gelu(mlp.linear1(h)))
        h = mlp.layer_norm2(torch.nn.functional.gelu(mlp.linear2(h)))
        return self.decoder(h) + self.bias


def _authors_class(module, name, attributes=None):
    """A class pickled as the authors' `module.name` (it exists only while pickling)."""

    def __init__(self, **values):
        vars(self).update(attributes or {})
        vars(self).update(values)

    cls = type(name, (), {"__init__": __init__})
    cls.__module__ = module
    cls.__qualname__ = name
    return cls


# fairseq's meters (`fairseq/meters.py`) and the attributes their `reset` sets.
METERS = {
    "AverageMeter": {"val": 0, "avg": 0, "sum": 0, "count": 0},
    "TimeMeter": {"init": 0, "start": 0.0, "n": 0},
    "StopwatchMeter": {"sum": 0, "n": 0, "start_time": None},
}
# The meters the authors' trainer keeps (`Trainer.init_meters`) and their class.
TRAIN_METERS = {
    "train_loss": "AverageMeter", "train_nll_loss": "AverageMeter", "valid_loss": "AverageMeter",
    "valid_nll_loss": "AverageMeter", "wps": "TimeMeter", "ups": "TimeMeter",
    "wpb": "AverageMeter", "bsz": "AverageMeter", "gnorm": "AverageMeter", "clip": "AverageMeter",
    "oom": "AverageMeter", "wall": "TimeMeter", "train_wall": "StopwatchMeter",
}


def _trainer_state(bert, sbo, meter_classes):
    """What the authors' `Trainer.save_checkpoint` (`utils.save_state`) writes besides the model.

    A real Adam state after one step, the optimizer history, and
    `extra_state` with the iterator position and the trainer's meters (one
    holding a NumPy float64, as a meter fed a NumPy value does).
    """
    parameters = list({id(p): p for p in [*bert.parameters(), *sbo.parameters()]}.values())
    optimizer = torch.optim.Adam(parameters, lr=1e-4)
    for p in parameters:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    meters = collections.OrderedDict()
    for i, (name, kind) in enumerate(TRAIN_METERS.items()):
        meter = meter_classes[kind]()
        if kind == "AverageMeter":
            vars(meter).update(val=np.float64(1.5 + i) if name == "gnorm" else 1.5 + i,
                               sum=3.0 + i, count=2, avg=1.5 + i)
        meters[name] = meter
    return {
        "optimizer_history": [{
            "criterion_name": "SpanBertLoss", "optimizer_name": "FairseqBERTAdam",
            "lr_scheduler_state": {"best": 1.42}, "num_updates": 2400,
        }],
        "last_optimizer_state": optimizer.state_dict(),
        "extra_state": {
            "best": 1.42, "train_iterator": {"epoch": 3, "iterations_in_epoch": 17},
            "val_loss": 1.5, "train_meters": meters,
        },
    }


def write_fairseq_checkpoint(path, bert, sbo, monkeypatch):
    """Saves `bert` (a BertForPreTraining) and `sbo` as the authors' trainer saves `model.pt`.

    Keys `decoder.bert.*` (no pooler: SpanBERT has no NSP),
    `decoder.cls.predictions.*`, `decoder.cls.pair_target_predictions.*`,
    LayerNorm `gamma`/`beta`; `args` an `argparse.Namespace` holding their
    `BertConfig`; the trainer's state beside the weights (`optimizer_history`,
    `last_optimizer_state`, `extra_state` with `fairseq.meters` objects),
    pickled by their class paths in torch's legacy format.
    """
    state = {}
    for key, value in bert.state_dict().items():
        if key.startswith(("cls.seq_relationship.", "bert.pooler.")):
            continue
        key = key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        state["decoder." + key] = value
    for key, value in sbo.state_dict().items():
        state["decoder.cls.pair_target_predictions." + key] = value
    config_class = _authors_class("fairseq.models.pair_bert", "BertConfig")
    config = config_class()
    vars(config).update({k: v for k, v in bert.config.to_dict().items() if k in (
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
        "intermediate_size", "hidden_act", "hidden_dropout_prob",
        "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size")})
    args = argparse.Namespace(
        arch="cased_bert_pair", task="span_bert", max_pair_targets=PAIR_TARGETS,
        pair_positional_embedding_size=POSITION_DIM, hidden_size=None,
        num_attention_heads=None, lr=[0.0001], config=config,
    )
    meter_classes = {name: _authors_class("fairseq.meters", name, attributes)
                     for name, attributes in METERS.items()}
    checkpoint = {"args": args, "model": state, **_trainer_state(bert, sbo, meter_classes)}
    fairseq = types.ModuleType("fairseq")
    models = types.ModuleType("fairseq.models")
    pair_bert = types.ModuleType("fairseq.models.pair_bert")
    pair_bert.BertConfig = config_class
    meters = types.ModuleType("fairseq.meters")
    vars(meters).update(meter_classes)
    with monkeypatch.context() as patch:  # the classes exist only while pickling
        for module in (fairseq, models, pair_bert, meters):
            patch.setitem(sys.modules, module.__name__, module)
        # The legacy (pre-zip) format of torch 1.0-1.5, which the authors' fairseq wrote.
        torch.save(checkpoint, path, _use_new_zipfile_serialization=False)
    return path


def batch(vocabulary_size=VOCABULARY_SIZE, seed=0):
    """One span-masked batch (2 x 12, 3 target slots, one of them padding)."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, vocabulary_size, (2, 12)).astype("int32")
    token_ids[:, 0] = 2
    token_ids[0, 11], token_ids[1, 8] = 3, 3
    padding_mask = np.ones((2, 12), bool)
    padding_mask[1, 9:] = False
    token_ids[1, 9:] = 0
    mask_positions = np.array([[3, 4, 5], [6, 7, 0]], "int32")
    mask_ids = np.take_along_axis(token_ids, mask_positions, 1).copy()
    token_ids[0, 3:6], token_ids[1, 6:8] = 4, 4  # [MASK]
    return {
        "token_ids": token_ids,
        "padding_mask": padding_mask,
        "segment_ids": np.zeros((2, 12), "int32"),
        "mask_positions": mask_positions,
        "mask_ids": mask_ids,
        "mask_weights": np.array([[1, 1, 1], [1, 1, 0]], "float32"),
        "span_boundaries": np.array([[[2, 6]] * 3, [[5, 8], [5, 8], [0, 0]]], "int32"),
        "span_offsets": np.array([[0, 1, 2], [0, 1, 0]], "int32"),
        "sbo_weights": np.array([[1, 1, 1], [1, 1, 0]], "float32"),
    }


def torch_inputs(x):
    """`transformers` keyword arguments for a batch."""
    return dict(
        input_ids=torch.tensor(x["token_ids"], dtype=torch.long),
        attention_mask=torch.tensor(x["padding_mask"], dtype=torch.long),
        token_type_ids=torch.tensor(x["segment_ids"], dtype=torch.long),
    )


def write_hf_config(directory, config, drop=("architectures", "model_type", "dtype",
                                             "transformers_version")):
    """A `config.json` as the hub copies of SpanBERT have it (no architectures)."""
    values = {k: v for k, v in config.to_dict().items() if k not in drop}
    with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
        json.dump(values, f, indent=2)
