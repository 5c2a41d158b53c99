"""Bad checkpoints get a clear error naming the problem, and leave nothing behind."""

import json
import os

import pytest
import torch
import transformers
from command_checks import command_peak_memory
from torch_reference import CASED_TOKENS
from torch_reference import bert_for_pretraining
from torch_reference import write_vocabulary

from spanbert_keras.checkpoints import load_pretrained
from spanbert_keras.checkpoints import save_pretrained
from spanbert_keras.cli import main


@pytest.fixture()
def hf_dir(tmp_path):
    directory = tmp_path / "bert"
    bert_for_pretraining().save_pretrained(str(directory))
    write_vocabulary(str(directory))
    return directory


def edit_config(directory, **changes):
    path = directory / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def import_fails(capsys, source, output, *extra):
    """`spanbert-keras import` exits 2 and writes nothing: returns its error line."""
    parent = os.path.dirname(str(output))
    before = sorted(os.listdir(parent))
    assert main(["import", str(source), "--output", str(output), *extra]) == 2
    assert not os.path.exists(output) and sorted(os.listdir(parent)) == before
    return capsys.readouterr().err


def test_missing_checkpoint(tmp_path, capsys):
    error = import_fails(capsys, tmp_path / "nowhere", tmp_path / "run")
    assert "Checkpoint not found" in error and "nowhere" in error
    (tmp_path / "empty").mkdir()
    assert "holds no checkpoint" in import_fails(capsys, tmp_path / "empty", tmp_path / "run")


@pytest.mark.parametrize("changes,message", [
    ({"hidden_size": 32}, "says hidden_size=32, but bert.embeddings.word_embeddings.weight .* "
                          "has 16 columns"),
    ({"num_hidden_layers": 3}, "says num_hidden_layers=3, but .* holds 2 encoder layers"),
    ({"vocab_size": 50}, "says vocab_size=50, but bert.embeddings.word_embeddings.weight .* 43 rows"),
    ({"intermediate_size": 64}, "says intermediate_size=64, but "
                                "bert.encoder.layer.0.intermediate.dense.weight .* has 32 rows"),
    ({"hidden_act": "mish"}, "hidden_act='mish' is not supported"),
    ({"layer_norm_eps": 1e-5}, "layer_norm_epsilon=1e-05 is not supported"),
])
def test_config_that_disagrees_with_the_tensors(hf_dir, tmp_path, capsys, changes, message):
    edit_config(hf_dir, **changes)
    with pytest.raises(ValueError, match=message):
        load_pretrained(str(hf_dir), log=None)
    assert "config" in import_fails(capsys, hf_dir, tmp_path / "run")


def test_another_architecture(tmp_path, capsys):
    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=43, n_positions=32, n_embd=16, n_layer=1, n_head=2))
    gpt2.save_pretrained(str(tmp_path / "gpt2"))
    write_vocabulary(str(tmp_path / "gpt2"))
    error = import_fails(capsys, tmp_path / "gpt2", tmp_path / "run")
    assert "does not hold a BERT encoder" in error and "transformer.h.0" in error
    # A BERT encoder with parts of another model is refused too.
    bert = bert_for_pretraining()
    state = dict(bert.state_dict(), **{"bert.encoder.layer.0.attention.self.distance_embedding.weight":
                                       torch.zeros(3, 2)})
    os.makedirs(tmp_path / "variant")
    torch.save(state, tmp_path / "variant" / "pytorch_model.bin")
    bert.config.save_pretrained(str(tmp_path / "variant"))
    write_vocabulary(str(tmp_path / "variant"))
    with pytest.raises(ValueError, match="no place for: .*distance_embedding"):
        load_pretrained(str(tmp_path / "variant"), log=None)


def test_vocabulary_of_the_wrong_size(hf_dir, tmp_path, capsys):
    write_vocabulary(str(hf_dir), CASED_TOKENS[:40])
    error = import_fails(capsys, hf_dir, tmp_path / "run")
    assert "has 40 pieces" in error and "43 rows" in error
    with pytest.raises(ValueError, match="40 pieces but the model's word embeddings have 43 rows"):
        save_pretrained(load_pretrained(str(hf_dir), vocabulary=CASED_TOKENS, log=None),
                        tmp_path / "out", CASED_TOKENS[:40])
    assert not (tmp_path / "out").exists()


def test_an_untied_decoder_is_refused(tmp_path):
    bert = bert_for_pretraining()
    state = {k: v.clone() for k, v in bert.state_dict().items()}
    state["cls.predictions.decoder.weight"] += 1.0
    torch.save(state, tmp_path / "pytorch_model.bin")
    bert.config.save_pretrained(str(tmp_path))
    write_vocabulary(str(tmp_path))
    with pytest.raises(ValueError, match="cls.predictions.decoder.weight differs from "
                                         "bert.embeddings.word_embeddings.weight"):
        load_pretrained(str(tmp_path), log=None)


def test_no_name_in_a_checkpoint_reaches_outside_its_directory(hf_dir, tmp_path, capsys):
    os.rename(hf_dir / "model.safetensors", tmp_path / "outside.safetensors")
    (hf_dir / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"bert.embeddings.word_embeddings.weight": "../outside.safetensors"}}))
    error = import_fails(capsys, hf_dir, tmp_path / "run")
    assert "'../outside.safetensors', which is not a plain file name" in error


def test_an_existing_output_is_replaced_only_when_asked(hf_dir, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    assert main(["import", str(hf_dir), "--output", str(run)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert os.listdir(run) == ["notes.txt"]
    # --overwrite replaces only a run directory `import` wrote, never another folder.
    assert main(["import", str(hf_dir), "--output", str(run), "--overwrite"]) == 2
    assert "is not a directory that `spanbert-keras import` wrote" in capsys.readouterr().err
    assert os.listdir(run) == ["notes.txt"]
    imported = tmp_path / "imported"
    assert main(["import", str(hf_dir), "--output", str(imported)]) == 0
    (imported / "notes.txt").write_text("stale")
    assert main(["import", str(hf_dir), "--output", str(imported), "--overwrite"]) == 0
    assert "notes.txt" not in os.listdir(imported) and "imported.weights.h5" in os.listdir(imported)


def import_peak(source, output):
    return command_peak_memory(["import", str(source), "--output", str(output)])


@pytest.mark.parametrize("changes,message", [
    ({"max_position_embeddings": 8_000_000},
     "says max_position_embeddings=8000000, but bert.embeddings.position_embeddings.weight"),
    ({"hidden_size": 1_000_000_000}, "says hidden_size=1000000000, but "
                                     "bert.embeddings.word_embeddings.weight"),
    ({"intermediate_size": 4_000_000}, "says intermediate_size=4000000"),
    ({"num_attention_heads": 3}, "num_attention_heads=3, which does not divide hidden_size=16"),
])
def test_sizes_the_tensors_contradict_are_refused_before_any_allocation(
        hf_dir, tmp_path, changes, message):
    status, good_peak, _ = import_peak(hf_dir, tmp_path / "good")
    assert status == 0
    edit_config(hf_dir, **changes)
    status, peak, error = import_peak(hf_dir, tmp_path / "bad")
    assert status == 2 and message in error and str(hf_dir / "config.json") in error
    # Refused before TensorFlow loads (it alone takes 800 MB), and before anything of the
    # claimed size was allocated.
    assert peak < 500 * 1024 and peak < good_peak / 2, (peak, good_peak)
    assert not (tmp_path / "bad").exists()
