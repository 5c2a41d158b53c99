"""Keras -> save_pretrained -> transformers / the authors' SBO module / keras-hub, and back."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file
from test_case import assert_allclose
from test_case import tiny_model_config
from torch_reference import CASED_TOKENS
from torch_reference import SpanBoundaryReference
from torch_reference import batch
from torch_reference import torch_inputs

from spanbert_keras.checkpoints import load_pretrained
from spanbert_keras.checkpoints import save_pretrained
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.models.span_bert_backbone import SpanBertBackbone
from spanbert_keras.training.build import build_pretrainer

ENCODER_KEYS = ("token_ids", "padding_mask", "segment_ids")


@pytest.fixture(scope="module")
def model():
    """A tiny pre-trainer whose every weight is random at a scale where the heads matter."""
    model = build_pretrainer(tiny_model_config(), len(CASED_TOKENS))
    rng = np.random.default_rng(7)
    for variable in model.weights:
        noise = rng.normal(size=variable.shape).astype("float32")
        if variable.path.endswith("gamma"):
            noise = 1.0 + 0.2 * noise
        variable.assign(noise * (0.2 if not variable.path.endswith("gamma") else 1.0))
    return model


@pytest.fixture(scope="module")
def hf_dir(model, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("export") / "spanbert-hf")
    save_pretrained(model, path, Vocabulary(CASED_TOKENS))
    return path


def test_the_hf_directory_holds_the_pretraining_layout(hf_dir):
    assert sorted(os.listdir(hf_dir)) == [".spanbert-keras-output", "config.json",
                                          "model.safetensors", "tokenizer_config.json", "vocab.txt"]
    keys = set(load_file(os.path.join(hf_dir, "model.safetensors")))
    assert "bert.pooler.dense.weight" in keys and "cls.predictions.transform.dense.weight" in keys
    assert {k for k in keys if k.startswith("cls.pair_target_predictions.")} == {
        "cls.pair_target_predictions." + k for k in (
            "position_embeddings.weight", "bias",
            *(f"mlp_layer_norm.{layer}.{p}" for layer in ("linear1", "layer_norm1", "linear2",
                                                          "layer_norm2") for p in ("weight", "bias")))}
    tokenizer = transformers.BertTokenizer.from_pretrained(hf_dir)
    assert tokenizer.do_lower_case is False
    assert tokenizer.convert_tokens_to_ids(["W3", "w4"]) == [8, 9]


def test_transformers_computes_the_same(model, hf_dir):
    bert = transformers.BertForMaskedLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    x = batch()
    ours = model({k: x[k] for k in ENCODER_KEYS + ("mask_positions",)})
    with torch.no_grad():
        theirs = bert(**torch_inputs(x), output_hidden_states=True)
    assert_allclose(ours["sequence_output"], theirs.hidden_states[-1].numpy(), atol=1e-5, rtol=0)
    mlm = np.take_along_axis(theirs.logits.numpy(), x["mask_positions"][..., None], 1)
    assert_allclose(ours["mlm_logits"], mlm, atol=1e-5, rtol=0)


def test_the_authors_sbo_module_finds_its_head(model, hf_dir):
    tensors = load_file(os.path.join(hf_dir, "model.safetensors"))
    embeddings = torch.nn.Parameter(torch.tensor(tensors["bert.embeddings.word_embeddings.weight"]))
    head = SpanBoundaryReference(embeddings)
    prefix = "cls.pair_target_predictions."
    state = {k[len(prefix):].replace("layer_norm1.weight", "layer_norm1.gamma")
             .replace("layer_norm1.bias", "layer_norm1.beta")
             .replace("layer_norm2.weight", "layer_norm2.gamma")
             .replace("layer_norm2.bias", "layer_norm2.beta"): torch.tensor(v)
             for k, v in tensors.items() if k.startswith(prefix)}
    head.load_state_dict({**state, "decoder.weight": embeddings}, strict=True)
    x = batch()
    ours = model({k: x[k] for k in ENCODER_KEYS + ("span_boundaries", "span_offsets")})
    with torch.no_grad():
        theirs = head(torch.tensor(np.asarray(ours["sequence_output"])),
                      torch.tensor(x["span_boundaries"], dtype=torch.long),
                      torch.tensor(x["span_offsets"], dtype=torch.long))
    assert_allclose(ours["sbo_logits"], theirs.numpy(), atol=1e-5, rtol=0)


def test_back_into_keras_bit_identical(model, hf_dir):
    loaded = load_pretrained(hf_dir, log=None)
    assert loaded.import_report.from_file == ["encoder", "pooler", "mlm_head", "sbo_head"]
    assert loaded.import_report.lowercase_from == "tokenizer_config.json"
    assert [v.path for v in loaded.weights] == [v.path for v in model.weights]
    for ours, back in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(back.numpy(), ours.numpy(), err_msg=ours.path)


def test_keras_hub_preset_round_trip(model, tmp_path):
    path = str(tmp_path / "preset")
    save_pretrained(model, path, CASED_TOKENS, format="keras-hub")
    backbone = keras_hub.models.BertBackbone.from_preset(path)
    assert isinstance(backbone, SpanBertBackbone)
    x = batch()
    inputs = {k: x[k].astype("int32") for k in ENCODER_KEYS}
    assert_allclose(backbone(inputs)["sequence_output"], model.backbone(inputs)["sequence_output"],
                    atol=0, rtol=0)
    with open(os.path.join(path, "tokenizer.json")) as f:
        assert json.load(f)["config"]["lowercase"] is False
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=os.path.join(path, "assets", "tokenizer", "vocabulary.txt"), lowercase=False)
    assert tokenizer.vocabulary_size() == len(CASED_TOKENS)
    loaded = load_pretrained(path, log=None)
    assert loaded.import_report.from_file == ["encoder", "pooler"]
    assert loaded.import_report.vocabulary.tokens == CASED_TOKENS
    assert loaded.import_report.lowercase_from == "tokenizer.json"
    for ours, back in zip(model.backbone.weights, loaded.backbone.weights):
        np.testing.assert_array_equal(back.numpy(), ours.numpy(), err_msg=ours.path)


def test_keras_hub_own_converter_opens_the_hf_directory(model, hf_dir):
    # keras-hub's Hugging Face loader needs the pooler and a tokenizer config: both written.
    backbone = keras_hub.models.BertBackbone.from_preset(hf_dir)
    for ours, theirs in zip(model.backbone.weights, backbone.weights):
        np.testing.assert_array_equal(theirs.numpy(), ours.numpy(), err_msg=ours.path)
    assert keras_hub.models.BertTokenizer.from_preset(hf_dir).lowercase is False


def test_a_keras_hub_bert_preset_keeps_its_approximate_gelu(tmp_path):
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(CASED_TOKENS), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=12)
    backbone.save_to_preset(str(tmp_path))
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=CASED_TOKENS, lowercase=True)
    tokenizer.save_to_preset(str(tmp_path))
    loaded = load_pretrained(str(tmp_path), log=None)
    assert loaded.import_report.config.model.activation == "gelu_approximate"
    assert loaded.import_report.lowercase is True  # the tokenizer config wins over the vocabulary
    inputs = {k: np.ones((1, 5), "int32") for k in ENCODER_KEYS}
    inputs["segment_ids"] = np.zeros((1, 5), "int32")
    assert_allclose(loaded.backbone(inputs)["sequence_output"],
                    backbone(inputs)["sequence_output"], atol=0, rtol=0)
    assert keras.ops.is_tensor(loaded.backbone(inputs)["pooled_output"])
