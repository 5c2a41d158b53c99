"""Hugging Face layouts (hub copies, the authors' tarballs, `transformers`' own files) load,
and compute what `transformers` computes from the same file."""

import os

import numpy as np
import pytest
import torch
import transformers
from test_case import assert_allclose
from torch_reference import CASED_TOKENS
from torch_reference import batch
from torch_reference import bert_config
from torch_reference import bert_for_pretraining
from torch_reference import randomized
from torch_reference import torch_inputs
from torch_reference import write_hf_config
from torch_reference import write_vocabulary

from spanbert_keras.checkpoints import load_pretrained

INPUT_KEYS = ("token_ids", "padding_mask", "segment_ids", "mask_positions")
NSP_KEYS = ["cls.seq_relationship.bias", "cls.seq_relationship.weight"]


def keras_outputs(model, x):
    outputs = model({k: x[k] for k in INPUT_KEYS})
    return {"sequence_output": outputs["sequence_output"], "mlm_logits": outputs["mlm_logits"]}


def torch_outputs(model, x):
    """Sequence output and the MLM logits at the mask positions of a transformers model."""
    with torch.no_grad():
        outputs = model(**torch_inputs(x), output_hidden_states=True)
    result = {"sequence_output": outputs.hidden_states[-1].numpy()}
    logits = getattr(outputs, "prediction_logits", None)
    if logits is None:
        logits = getattr(outputs, "logits", None)
    if logits is not None:
        result["mlm_logits"] = np.take_along_axis(logits.numpy(), x["mask_positions"][..., None], 1)
    return result


@pytest.mark.parametrize("storage", ["safetensors", "bin-float32", "bin-float16"])
def test_bert_for_pretraining_loads_with_transformers_outputs(tmp_path, storage):
    bert = bert_for_pretraining()
    directory = str(tmp_path / "bert")
    if storage == "safetensors":
        bert.save_pretrained(directory)
        path = directory
    else:  # as `transformers` 4 and the released files have them
        half = storage.endswith("float16")
        os.makedirs(directory)
        bert.config.save_pretrained(directory)
        path = os.path.join(directory, "pytorch_model.bin")  # the file itself
        torch.save({k: v.half() if half else v for k, v in bert.state_dict().items()}, path)
    write_vocabulary(directory)
    model = load_pretrained(path, log=None)

    report = model.import_report
    assert report.from_file == ["encoder", "pooler", "mlm_head"]
    assert report.fresh == ["sbo_head"]
    assert report.cast == (["float16"] if storage == "bin-float16" else [])
    assert report.ignored == NSP_KEYS
    assert report.lowercase is False and report.vocabulary.tokens == CASED_TOKENS
    assert model.backbone.activation.__name__ == "gelu"
    # The reference: transformers itself reading the same file, in float32.
    reference = transformers.BertForPreTraining.from_pretrained(directory, dtype=torch.float32)
    x = batch()
    assert_allclose(keras_outputs(model, x), torch_outputs(reference.eval(), x), atol=1e-5, rtol=0)


def test_hub_copy_layout_encoder_only_float16_no_tokenizer_config(tmp_path):
    # spanbert-base-cased on the hub: `bert.`-prefixed encoder keys, no pooler, no heads,
    # float16, a config.json without `architectures`, no tokenizer config.
    encoder = randomized(transformers.BertModel(bert_config(), add_pooling_layer=False))
    directory = tmp_path / "spanbert-base-cased"
    directory.mkdir()
    state = {"bert." + k: v.half() for k, v in encoder.state_dict().items()}
    state["bert.embeddings.position_ids"] = torch.arange(32)[None]  # saved by older transformers
    torch.save(state, directory / "pytorch_model.bin")
    write_hf_config(directory, encoder.config)
    os.rename(directory / "config.json", directory / "bert_config.json")  # pytorch_pretrained_bert's name
    write_vocabulary(directory)
    printed = []
    model = load_pretrained(str(directory), log=printed.append)

    report = model.import_report
    assert report.from_file == ["encoder"]
    assert report.fresh == ["pooler", "mlm_head", "sbo_head"]
    assert report.cast == ["float16"] and report.layout == "Hugging Face PyTorch"
    assert report.ignored == ["bert.embeddings.position_ids"]
    assert report.lowercase is False and report.lowercase_from == "inferred from the vocabulary"
    assert "pooler, MLM head, SBO head initialised fresh" in printed[0]
    os.rename(directory / "bert_config.json", directory / "config.json")  # for transformers
    reference = transformers.BertModel.from_pretrained(str(directory), dtype=torch.float32,
                                                       add_pooling_layer=False)
    x = batch()
    assert_allclose(keras_outputs(model, x)["sequence_output"],
                    torch_outputs(reference.eval(), x)["sequence_output"], atol=1e-5, rtol=0)
    # The model is complete: the fresh heads run.
    assert model(x)["sbo_logits"].shape == (2, 3, len(CASED_TOKENS))


@pytest.mark.parametrize("architecture,parts", [
    ("BertForMaskedLM", ["encoder", "mlm_head"]),
    ("BertModel", ["encoder", "pooler"]),  # keys without any prefix
])
def test_other_transformers_architectures(tmp_path, architecture, parts):
    torch.manual_seed(1)
    bert = randomized(getattr(transformers, architecture)(bert_config()), seed=1)
    bert.save_pretrained(str(tmp_path))
    write_vocabulary(str(tmp_path))
    model = load_pretrained(str(tmp_path / "model.safetensors"), log=None)
    assert model.import_report.from_file == parts
    x = batch()
    expected = torch_outputs(bert, x)
    actual = keras_outputs(model, x)
    if "mlm_logits" not in expected:
        del actual["mlm_logits"]
    assert_allclose(actual, expected, atol=1e-5, rtol=0)
