"""Configuration: YAML files, overrides, and run directories written by earlier releases."""

import os

import pytest
import yaml

from spanbert_keras.config import ModelConfig
from spanbert_keras.config import PretrainConfig
from spanbert_keras.config import apply_overrides
from spanbert_keras.config import load_config

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pipelines", "configs")


def test_every_shipped_config_loads():
    for name in ("tiny", "small", "demo", "base", "large"):
        config = load_config(os.path.join(CONFIGS, f"{name}.yaml"))
        assert config.data.sequence_length <= config.model.max_sequence_length


def test_the_published_configs_use_the_authors_recipe():
    for name in ("base", "large"):
        training = load_config(os.path.join(CONFIGS, f"{name}.yaml")).training
        assert training.clip_mode == "authors" and training.decay_norms_and_biases


def test_earlier_key_names_still_load(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"data": {"max_seq_length": 64, "vocab_size": 300}}))
    config = load_config(path)
    assert (config.data.sequence_length, config.data.vocabulary_size) == (64, 300)
    config = apply_overrides(PretrainConfig(), ["data.max_seq_length=32"])
    assert config.data.sequence_length == 32
    with pytest.raises(ValueError, match="both 'max_seq_length' and its new name"):
        PretrainConfig.from_dict({"data": {"max_seq_length": 64, "sequence_length": 64}})


def test_max_pair_targets_lives_in_the_model_section():
    config = PretrainConfig.from_dict({"masking": {"max_pair_targets": 6}})
    assert config.model.max_pair_targets == 6
    assert apply_overrides(config, ["masking.max_pair_targets=7"]).model.max_pair_targets == 7
    with pytest.raises(ValueError, match="disagrees"):
        PretrainConfig.from_dict({"masking": {"max_pair_targets": 6},
                                  "model": {"max_pair_targets": 5}})


def test_unknown_keys_and_wrong_types_are_refused():
    with pytest.raises(ValueError, match="Unknown key 'sequence_lenght'"):
        PretrainConfig.from_dict({"data": {"sequence_lenght": 64}})
    with pytest.raises(ValueError, match="must be of type int"):
        apply_overrides(PretrainConfig(), ["data.sequence_length=long"])
    with pytest.raises(ValueError, match="true or false"):
        apply_overrides(PretrainConfig(), ["training.decay_norms_and_biases=1"])


def test_union_typed_fields_are_checked():
    config = apply_overrides(PretrainConfig(), ["masking.max_predictions=20.0",
                                                "data.vocabulary=vocab.txt"])
    assert config.masking.max_predictions == 20 and isinstance(config.masking.max_predictions, int)
    assert config.data.vocabulary == "vocab.txt"
    assert apply_overrides(config, ["masking.max_predictions=null"]).masking.max_predictions is None
    with pytest.raises(ValueError, match=r"max_predictions must be of type int or null .* "
                                         r"Received: 'many'"):
        apply_overrides(PretrainConfig(), ["masking.max_predictions=many"])
    with pytest.raises(ValueError, match="vocabulary must be of type str or null"):
        PretrainConfig.from_dict({"data": {"vocabulary": ["a.txt"]}})


@pytest.mark.parametrize("value,expected", [("true", True), ("false", False), ("auto", "auto")])
def test_jit_compile_takes_true_false_or_auto(value, expected):
    jit_compile = apply_overrides(PretrainConfig(), [f"training.jit_compile={value}"]
                                  ).training.jit_compile
    assert type(jit_compile) is type(expected) and jit_compile == expected


@pytest.mark.parametrize("value,received", [("maybe", "'maybe'"), ("1", "1"), ("null", "null"),
                                            ("Auto", "'Auto'")])
def test_jit_compile_refuses_anything_else_naming_the_allowed_values(value, received):
    with pytest.raises(ValueError) as error:
        apply_overrides(PretrainConfig(), [f"training.jit_compile={value}"])
    assert str(error.value) == (
        "overrides [training] jit_compile must be one of true, false, 'auto' (default 'auto'). "
        f"Received: {received}")


def test_dtype_policy_is_one_training_supports(tmp_path):
    for policy in ("float32", "mixed_float16", "mixed_bfloat16"):
        assert apply_overrides(PretrainConfig(), [f"training.dtype_policy={policy}"]
                               ).training.dtype_policy == policy
    path = tmp_path / "config.yaml"
    path.write_text("training:\n  dtype_policy: float64\n", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        load_config(str(path))
    assert str(error.value) == (
        f"{path} [training] dtype_policy must be one of 'float32', 'mixed_float16', "
        "'mixed_bfloat16' (default 'float32'). Received: 'float64'")
    for policy in ("bfloat16", "float16", 32):  # one dtype throughout fails in the float32 losses
        with pytest.raises(ValueError, match="dtype_policy must be one of"):
            apply_overrides(PretrainConfig(), [f"training.dtype_policy={policy}"])


def test_finetuning_settings_are_checked_the_same_way():
    from spanbert_keras.tasks.base import finetune_config

    assert finetune_config({"jit_compile": False, "steps_per_epoch": 10.0}).steps_per_epoch == 10
    with pytest.raises(ValueError, match=r"^--set jit_compile must be one of true, false, 'auto'"):
        finetune_config({"jit_compile": "maybe"}, source="--set")
    with pytest.raises(ValueError, match=r"^--set dtype_policy must be one of 'float32'"):
        finetune_config({"dtype_policy": "float64"}, source="--set")
    with pytest.raises(ValueError, match="steps_per_epoch must be of type int or null"):
        finetune_config({"steps_per_epoch": "all"}, source="--set")


def test_a_model_size_was_called_preset_and_still_reads(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("model:\n  preset: tiny\n  dropout: 0.0\n", encoding="utf-8")
    old = load_config(str(path))
    assert (old.model.size, old.model.hidden_dim, old.model.dropout) == ("tiny", 128, 0.0)
    path.write_text("model:\n  size: tiny\n  dropout: 0.0\n", encoding="utf-8")
    assert load_config(str(path)) == old
    path.write_text("model:\n  size: tiny\n  preset: small\n", encoding="utf-8")
    with pytest.raises(ValueError, match="sets both 'preset' and its new name 'size'"):
        load_config(str(path))
    with pytest.warns(DeprecationWarning, match="renamed from_size"):
        assert ModelConfig.from_preset("tiny") == ModelConfig.from_size("tiny")
