"""Configuration: YAML files, overrides, and run directories written by earlier releases."""

import os

import pytest
import yaml

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
