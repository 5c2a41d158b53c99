"""Private Keras / keras-hub / TensorFlow APIs are reached only through `spanbert_keras.compat`,
which fails with one clear message when an installed version lacks one."""

import os
import re
import warnings

import keras
import pytest

from spanbert_keras import compat

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "spanbert_keras")
# The private names compat reaches for, and the private modules of the dependencies.
PRIVATE = re.compile(r"keras_hub\.src|keras\.src|tensorflow\.python|\b_(maybe_)?symbolic_build\b"
                     r"|\b_loss_tracker\b|_in_multi_worker_mode|_distribute_strategy"
                     r"|_feedforward_intermediate_dense|\._intermediate_(dense|layer_norm)\b"
                     r"|_compile_(metrics|loss)\b|\._learning_rate\b")


def test_no_module_but_compat_names_a_private_api_of_a_dependency():
    found = []
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            path = os.path.join(folder, name)
            if name.endswith(".py") and path != compat.__file__:
                with open(path, encoding="utf-8") as f:
                    found += [f"{os.path.relpath(path, PACKAGE)}:{number}: {line.strip()}"
                              for number, line in enumerate(f, 1) if PRIVATE.search(line)]
    assert found == []
    with open(compat.__file__, encoding="utf-8") as f:
        assert len(PRIVATE.findall(f.read())) >= 10  # the scan sees what compat holds


def test_the_installed_versions_are_the_tested_ones_and_pass_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compat.check_private_apis()
    assert keras.__version__.startswith(compat.TESTED["keras"] + ".")


def test_a_missing_private_api_fails_naming_it_and_the_versions_to_install(monkeypatch):
    owner = next(c for c in keras.Model.__mro__ if "_symbolic_build" in vars(c))
    monkeypatch.delattr(owner, "_symbolic_build")
    with pytest.raises(compat.PrivateApiError) as error:
        compat.check_private_apis()
    message = str(error.value)
    assert "`_symbolic_build`" in message
    assert f"keras {keras.__version__}" in message and "'keras==3.15.*'" in message


def test_another_version_warns_with_the_tested_ones(monkeypatch):
    monkeypatch.setattr(keras, "__version__", "3.99.0")
    with pytest.warns(UserWarning, match=r"not tested with keras 3\.99\.0.*'keras==3\.15\.\*'"):
        compat.check_private_apis()


def test_accessors_answer_on_real_objects():
    from spanbert_keras.layers.masked_lm_head import BertMaskedLMHead
    from spanbert_keras.models.span_bert_backbone import SpanBertBackbone

    backbone = SpanBertBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
                                intermediate_dim=16, max_sequence_length=16)
    dense = compat.feedforward_intermediate_dense(backbone.transformer_layers[0])
    assert dense.activation is backbone.activation  # exact GeLU set through compat
    head = BertMaskedLMHead(token_embedding=backbone.token_embedding)
    head.build((None, 4, 8), (None, 2))
    dense, norm, _, bias = compat.masked_lm_head_parts(head)
    assert (dense.units, tuple(bias.shape)) == (8, (50,))
    with pytest.raises(compat.PrivateApiError, match="MaskedLMHead"):
        compat.masked_lm_head_parts(keras.layers.Dense(2))
    assert compat.masked_lm_head_parts(head)[2] is None  # tied: no kernel of its own
