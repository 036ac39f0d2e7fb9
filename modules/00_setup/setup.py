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
# ## Provided: how NumPy uses the machine
#
# Two settings decide how fast NumPy runs the arithmetic of a network. Both are made
# here, once, when `tinytorch` is imported; you need not touch them (module 13 measures
# why they matter, and how to see their effect yourself).
#
# **Memory that stays.** Every NumPy operation returns a new array, and a training step
# makes the same big arrays again at every step. The C library's `malloc` hands out
# large blocks as fresh memory from the operating system and gives them back when they
# are freed, so the next step's array is fresh memory again — and the first write to
# every 4 KB page of fresh memory is a *page fault*, a trip into the kernel. Measured on
# a LeNet-5 training step (28×28 images, batch 64): 2,900 page faults, half of the
# step's time. `_keep_freed_memory()` asks glibc's `malloc` (Linux) to keep freed blocks
# up to 256 MiB for reuse: the faults drop to 0 and the step takes half the time. (A
# `MALLOC_*` variable of your own in the environment wins.)
#
# **Cores that pay.** A matrix product runs in the BLAS library NumPy is built on
# (OpenBLAS), which can split one product over all the cores. That pays for large
# products; for small ones, waking the other cores costs more than it saves, and on a
# machine busy with other programs a product that waits for a second core can take a
# thousand times longer. So tinytorch runs a product on all the BLAS's cores only when
# one matrix product has at least `PARALLEL_MACS` multiply-adds (about 256×256×256,
# a third of a millisecond on one core), and on one core otherwise: `_blas_matmul(a, b)`
# below is `a @ b` for NumPy arrays with that rule, and the operations of modules 02–05
# use it for their big products. `set_num_threads(n)` and `get_num_threads()` (PyTorch's names) set
# and read how many cores a large product may use: by default all the BLAS starts with
# (`OPENBLAS_NUM_THREADS=1` in the environment, or `set_num_threads(1)`, keeps everything
# on one core — the right choice on a machine shared with other jobs). Outside those
# products, NumPy's BLAS runs on one thread once tinytorch is imported. The switching
# needs the small `threadpoolctl` package; without it, NumPy's BLAS keeps its defaults.
#
# **Memory that is near.** A chain of elementwise operations (`u = x * x; u *= k; u += 1;
# ...`) does little arithmetic per number, so its speed is the speed at which the numbers
# reach the core. A core's own cache (its L2) holds one or two megabytes; a GPT's hidden
# layer of (16, 128, 512) float32 numbers is 4 MB, so every operation of the chain streams
# the whole array from main memory and back. `in_blocks(fn, x, ...)` runs the same
# function on blocks of `x`'s rows of about `CACHE_BLOCK` numbers (128 KB), so that the
# whole chain works on one block while it is in the cache: measured on GELU's forward
# pass with its derivative (14 operations) on that layer, 6.0 ms as one array, 2.4 ms in
# blocks (one thread of a 2-core Xeon). Modules 03 and 04 use it for their longest chains
# (GELU, Adam's update); arrays smaller than one block are computed whole, at the cost of
# one function call. Module 13 measures where it pays and where it does not.

# %%
#| export
import ctypes
import os

PARALLEL_MACS = 1 << 24  # multiply-adds of one matrix product from which it runs on every BLAS thread


def _keep_freed_memory(limit=256 << 20):
    """Let glibc's malloc keep freed blocks (up to ``limit`` bytes) for reuse; True if it agreed."""
    if not sys.platform.startswith("linux") or any(key.startswith("MALLOC_") for key in os.environ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    return bool(mallopt(m_mmap_threshold, limit)) and bool(mallopt(m_trim_threshold, limit))


def _find_blas():
    """NumPy's BLAS as a threadpoolctl controller (None without threadpoolctl, or if it cannot tell)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    blas = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    return blas[0] if len(blas) == 1 and blas[0].get_num_threads() else None


_blas = _find_blas()
_max_threads = _blas.get_num_threads() if _blas is not None else 1
if _max_threads > 1:
    _blas.set_num_threads(1)  # small products: one thread; _blas_matmul() raises it for large ones
_keep_freed_memory()


def set_num_threads(n):
    """The number of BLAS threads a large matrix product may use (torch.set_num_threads)."""
    global _max_threads
    if int(n) < 1:
        raise ValueError(f"set_num_threads: the number of threads must be at least 1, got {n}")
    if _blas is None:
        return  # nothing to control: NumPy's BLAS keeps its own setting
    _max_threads = int(n)
    _blas.set_num_threads(1)


def get_num_threads():
    """How many BLAS threads a large matrix product uses (torch.get_num_threads)."""
    return _max_threads


def _blas_matmul(a, b):
    """``a @ b`` for NumPy arrays, on every BLAS thread if one product has >= PARALLEL_MACS multiply-adds."""
    if _max_threads == 1 or a.ndim == 0 or b.ndim == 0:
        return a @ b
    rows = a.shape[-2] if a.ndim > 1 else 1
    columns = b.shape[-1] if b.ndim > 1 else 1
    if rows * a.shape[-1] * columns < PARALLEL_MACS:
        return a @ b
    _blas.set_num_threads(_max_threads)
    try:
        return a @ b
    finally:
        _blas.set_num_threads(1)


CACHE_BLOCK = 1 << 15  # numbers in one block of in_blocks (128 KB of float32): several fit in a core's L2 cache


def in_blocks(fn, *arrays):
    """``fn(*arrays)``, computed block by block: every argument of the first one's shape is cut
    into the same blocks of rows (of its last axis), any other argument is passed whole (a
    LayerNorm's weight, a number). ``fn`` returns an array of that shape, a tuple of them, or
    None (when it updates its blocks in place); so does ``in_blocks``. Small (0-d and empty
    too) or non-contiguous inputs are computed whole (a block of a copy could not be updated
    in place)."""
    first = arrays[0]
    split = [isinstance(a, np.ndarray) and a.shape == first.shape for a in arrays]
    if first.ndim == 0:  # a ufunc of 0-d arrays returns a NumPy number, which `out=` cannot write into
        part = fn(*[a.reshape(1) if cut else a for a, cut in zip(arrays, split)])
        if part is None or not isinstance(part, tuple):
            return None if part is None else part.reshape(())
        return tuple(p.reshape(()) for p in part)
    if first.size <= CACHE_BLOCK or not all(a.flags.c_contiguous for a, cut in zip(arrays, split) if cut):
        return fn(*arrays)
    rows = first.size // first.shape[-1]
    step = max(1, CACHE_BLOCK // first.shape[-1])
    flat = [a.reshape(rows, -1) if cut else a for a, cut in zip(arrays, split)]
    outputs = single = None
    for start in range(0, rows, step):
        part = fn(*[a[start:start + step] if cut else a for a, cut in zip(flat, split)])
        if part is None:
            continue
        single = not isinstance(part, tuple)
        part = (part,) if single else part
        if outputs is None:
            outputs = [np.empty((rows,) + p.shape[1:], dtype=p.dtype) for p in part]
        for out, p in zip(outputs, part):
            out[start:start + step] = p
    if outputs is None:
        return None
    outputs = [out.reshape(first.shape) for out in outputs]
    return outputs[0] if single else tuple(outputs)


# %%
def test_unit_in_blocks():
    """in_blocks gives what one call gives (outputs, tuples, in-place updates), for arrays
    larger and smaller than a block. Provided code, like _blas_matmul."""
    rng = np.random.default_rng(0)
    for shape in [(3, 5), (CACHE_BLOCK + 7,), (40, 7, 300), (3, CACHE_BLOCK * 2)]:
        x, y = rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)
        weight = rng.normal(size=shape[-1]).astype(np.float32)
        both = in_blocks(lambda a, b, w: (a * b + w, (a - a.max(axis=-1, keepdims=True)).astype(np.float64)), x, y, weight)
        assert np.array_equal(both[0], x * y + weight) and both[1].dtype == np.float64
        assert np.array_equal(both[1], (x - x.max(axis=-1, keepdims=True)).astype(np.float64))
        expected = x + 2 * y

        def add_twice(a, b):
            a += 2 * b

        assert in_blocks(add_twice, x, y) is None
        assert np.array_equal(x, expected)  # updated in place, block by block
    transposed = rng.normal(size=(300, 400)).T
    assert np.array_equal(in_blocks(np.exp, transposed), np.exp(transposed))

    def exp_in_place(a):  # as GELU computes: a ufunc writing into its own result
        b = a * 1.0
        np.exp(b, out=b)
        return b, -b

    point = np.array(0.5)  # 0-d: `a * 1.0` is a NumPy number there, and `out=` needs an array
    result, negated = in_blocks(exp_in_place, point)
    assert result.shape == negated.shape == () and np.isclose(result, np.exp(0.5))


def test_unit_matmul_threads():
    """_blas_matmul gives exactly `a @ b` (vectors too), on one thread or many, and
    set_num_threads/get_num_threads agree. This code is provided: if it fails, your
    NumPy or threadpoolctl install is unusual (check `python -m threadpoolctl -i numpy`).
    """
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 5))
    assert np.array_equal(_blas_matmul(a, b), a @ b) and _blas_matmul(a[0], b).shape == (5,)
    assert get_num_threads() >= 1
    before = get_num_threads()
    try:
        set_num_threads(1)
        assert get_num_threads() == 1 or _blas is None
        big = np.ones((256, 256), dtype=np.float32)
        assert np.array_equal(_blas_matmul(big, big), big @ big)
    finally:
        set_num_threads(before)


if __name__ == "__main__":
    test_unit_in_blocks()
    test_unit_matmul_threads()

# %% [markdown]
# ## Done
#
# Run `tito module complete 00`: it runs these tests, exports `system_info` and
# `check_environment` into `tinytorch/core/setup.py`, and records your progress.
# Next comes the heart of everything: the `Tensor`.
