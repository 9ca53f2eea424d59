"""The runnable examples in public docstrings run."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["ogmbench.generators.families", "ogmbench.generate"])
def test_docstring_examples(name):
    # import_module: `ogmbench.generate` the attribute is the function, not the module.
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
