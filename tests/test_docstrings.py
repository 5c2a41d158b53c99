"""Every docstring example of the package runs (doctest), one test per module."""

import doctest
import importlib
import pathlib
import pkgutil

import pytest

import spanbert_keras

MODULES = [spanbert_keras.__name__] + sorted(
    info.name
    for info in pkgutil.walk_packages(spanbert_keras.__path__, spanbert_keras.__name__ + ".")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    if ">>>" in pathlib.Path(module.__file__).read_text(encoding="utf-8"):
        assert result.attempted > 0, f"{name} has `>>>` examples but none was collected"
