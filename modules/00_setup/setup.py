# %% [markdown]
# # Module 00 — Setup
#
# Before we build a deep-learning library, we make sure the ground holds: the right
# Python, the one numerical library everything stands on (NumPy), and the package our
# modules export into.
#
# **How the course works.** Every module is a file like this one. Prose explains *why*;
# code cells marked `#| export` become part of your own package, `tinytorch`, when you
# run `tito module complete NN`; cells that define `test_unit_*` functions check your
# work. The code between `### BEGIN SOLUTION` and `### END SOLUTION` is what you write.
#
# **Why NumPy?** A neural network is arithmetic on arrays. NumPy runs that arithmetic
# in compiled loops over contiguous memory, which is ~100× faster than Python loops.
# Everything in TinyTorch is NumPy underneath; what we add is the *structure*:
# tensors that remember how they were made, layers, optimizers, training.

# %%
#| default_exp core.setup
#| export
import platform
import sys

import numpy as np

# %% [markdown]
# ## What are we running on?
#
# When a result differs between your machine and a classmate's, the first question is
# always "which versions?". `system_info()` answers it in one call.

# %%
#| export
MIN_PYTHON = (3, 10)
MIN_NUMPY = (1, 24)


def system_info():
    """Versions and platform, as a dict: python, numpy, platform, machine."""
    ### BEGIN SOLUTION
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.system(),
        "machine": platform.machine(),
    }
    ### END SOLUTION


# %%
def test_unit_system_info():
    """Checks `system_info()`: a dict with at least the keys python, numpy, platform and machine,
    whose versions are the ones actually running. Ask the `platform` module and NumPy itself at call
    time; a version typed in by hand passes on your machine and fails on the next one.
    """
    info = system_info()
    assert set(info) >= {"python", "numpy", "platform", "machine"}
    assert info["python"] == platform.python_version()
    assert info["numpy"] == np.__version__


if __name__ == "__main__":
    test_unit_system_info()

# %% [markdown]
# ## Is this environment good enough?
#
# `check_environment()` returns the list of problems it finds (an empty list means all
# is well) rather than raising at the first one: a student fixing a setup wants to see
# every problem at once.

# %%
#| export
def _version_tuple(text):
    """'1.26.4' -> (1, 26); '2.0.0rc1' -> (2, 0)."""
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_environment():
    """A list of human-readable problems with this Python environment ([] when ready)."""
    ### BEGIN SOLUTION
    problems = []
    if sys.version_info[:2] < MIN_PYTHON:
        problems.append(f"Python {platform.python_version()} is too old: TinyTorch needs {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+")
    if _version_tuple(np.__version__) < MIN_NUMPY:
        problems.append(f"NumPy {np.__version__} is too old: TinyTorch needs {MIN_NUMPY[0]}.{MIN_NUMPY[1]}+")
    return problems
    ### END SOLUTION


# %%
def test_unit_check_environment():
    """Checks `check_environment()`: on a working setup it returns an empty *list* (not None, not
    True), and it collects every problem instead of raising at the first. Compare versions as tuples
    of numbers (the running Python's `sys.version_info`, the provided `_version_tuple`), never as
    strings: as text, "1.9" sorts after "1.24".
    """
    assert check_environment() == [], check_environment()
    assert _version_tuple("1.26.4") == (1, 26)
    assert _version_tuple("2.0.0rc1") == (2, 0)


if __name__ == "__main__":
    test_unit_check_environment()

# %% [markdown]
# ## Done
#
# Run `tito module complete 00`: it runs these tests, exports `system_info` and
# `check_environment` into `tinytorch/core/setup.py`, and records your progress.
# Next comes the heart of everything: the `Tensor`.
