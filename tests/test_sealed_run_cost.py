"""What a sealed test run costs, as behaviour (nothing here is timed):

* pytest rewrites the asserts of the module under test and of no other file (a ``*.py``
  pattern once rewrote all of NumPy on every ``tito module test``);
* tito's bytecode cache that lost its library part is warmed again, instead of compiling
  pytest and NumPy from source on every run from then on.
"""

import os
import shutil
import sys

import pytest

from conftest import write_module

PROBE = '''
# %% [markdown]
# # Module 00 — Probe

# %%
#| default_exp probe.loaders
#| export
import sys

import numpy


def loader_name(module):
    return type(module.__spec__.loader).__name__

# %%
def test_unit_only_this_module_is_rewritten():
    assert loader_name(sys.modules[__name__]) == "AssertionRewritingHook"
    assert loader_name(numpy) != "AssertionRewritingHook"
    assert loader_name(sys.modules["numpy.linalg"]) != "AssertionRewritingHook"
'''


@pytest.fixture
def probe(bare_project):
    write_module(bare_project, "00_probe", PROBE)
    return bare_project


def test_only_the_module_under_test_has_its_asserts_rewritten(tito, probe):
    result = tito("module", "test", "00", cwd=probe)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def _compiled_pytest(cache):
    return [path for path in cache.rglob(f"__init__.{sys.implementation.cache_tag}.pyc")
            if path.parent.name == "pytest"]


def test_a_cache_that_lost_its_library_bytecode_is_warmed_again(tito, probe, tmp_path, monkeypatch):
    cache = tmp_path / "tito-cache"
    monkeypatch.setenv("TITO_CACHE_DIR", str(cache))
    first = tito("module", "test", "00", cwd=probe)
    assert first.returncode == 0, first.stdout + first.stderr
    (folder,) = (cache / "bytecode").iterdir()
    assert _compiled_pytest(folder), "the first run warms the cache with pytest's bytecode"
    for entry in folder.iterdir():  # everything but the marker of the finished warm-up
        if entry.name != ".warm":
            shutil.rmtree(entry) if entry.is_dir() else os.remove(entry)
    again = tito("module", "test", "00", cwd=probe)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _compiled_pytest(folder), "the emptied cache was warmed again"
