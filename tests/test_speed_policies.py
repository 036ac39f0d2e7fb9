"""What the speed work of issue 14 promises, as behaviour (no test here times anything):

* a float32 graph computes every gradient in float32 (NumPy 2 turns ``float32 / np.float64(n)``
  into float64, which once made every backward upstream of a ``.mean()`` run in float64);
* tinytorch's BLAS thread rule (module 00): a product of at least ``PARALLEL_MACS``
  multiply-adds runs on every thread, a smaller one on one, and NumPy's BLAS is left on one
  thread afterwards;
* freed memory is reused, not faulted in again at every step (module 00's malloc setting);
* operations keep only what their backward reads (MaxPool2d a winner index, ``x * 2`` no copy of x).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import tinytorch.core.setup as setup
from tinytorch.core.autograd import Function
from tinytorch.core.tensor import Tensor

from conftest import REPO


def _functions(cls=Function):
    for sub in cls.__subclasses__():
        yield sub
        yield from _functions(sub)


@pytest.fixture
def backward_dtypes(monkeypatch):
    """Records (op, gradient dtype, input dtype) for every gradient a backward returns."""
    seen = []
    for cls in set(_functions()):
        if "backward" not in cls.__dict__:
            continue
        original = cls.__dict__["backward"].__func__

        def checked(ctx, grad, original=original, name=cls.__name__):
            grads = original(ctx, grad)
            for g, x in zip(grads if isinstance(grads, tuple) else (grads,), ctx.inputs):
                if g is not None and isinstance(x, Tensor):
                    seen.append((name, np.result_type(g), x.dtype))
            return grads

        monkeypatch.setattr(cls, "backward", staticmethod(checked))
    return seen


def _float32_graphs():
    """Forward passes that touch every kind of op, all in float32; returns the leaves."""
    import tinytorch as tt
    import tinytorch.nn as nn
    import tinytorch.nn.functional as F
    from tinytorch.models.transformer import GPT

    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(4, 6)), requires_grad=True)
    losses = [
        x.mean(), x.mean(dim=1).sum(), x.var(dim=0).sum() + x.std(), (x.sum(dim=1, keepdim=True) / 3).sum(),
        nn.MSELoss()(x, np.zeros((4, 6))), nn.BCELoss()(x.sigmoid(), np.ones((4, 6))),
        nn.BCEWithLogitsLoss()(x, np.ones((4, 6))), nn.CrossEntropyLoss(label_smoothing=0.1)(x, np.arange(4)),
        nn.NLLLoss()(nn.LogSoftmax(dim=1)(x), np.arange(4)), (nn.Softmax(dim=1)(x) * x).sum(),
        nn.GELU()(x).sum() + nn.GELU(approximate="tanh")(x).sum() + nn.SiLU()(x).sum() + nn.LeakyReLU()(x).sum(),
        (x.abs() ** 1.5).mean() + x.clamp(-0.5, 0.5).exp().sum() + (x * x + 1).log().sum() + (x * x).sqrt().sum(),
        (x.tanh() * x.relu() - x.sigmoid() / 2).mean() + x.max(dim=1).values.sum() + x.amin(),
        (tt.where(x > 0, x, x * 2) + tt.maximum(x, x.T.reshape(4, 6)) + tt.minimum(x, 0.5)).sum(),
        (tt.cat([x, x * 2], dim=1).sum() + tt.stack([x, x]).permute(1, 0, 2).mean()
         + x.masked_fill(x < 0, 0.0).sum() + x[1:, [0, 2]].sum() + x.unsqueeze(0).expand(2, 4, 6).sum()
         + x.repeat(2, 1).sum() + (x @ x.T).sum() + x.to(tt.float64).float().sum()),
        nn.LayerNorm(6)(x).mean(), nn.BatchNorm1d(6)(x).mean(), nn.Dropout(0.5)(x).mean(),
        nn.Linear(6, 3)(x).mean(),
    ]
    images = Tensor(rng.normal(size=(2, 3, 8, 8)), requires_grad=True)
    conv = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(4),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16, 2))
    losses.append(F.cross_entropy(conv(images), np.array([0, 1])))
    losses.append(nn.Conv1d(3, 2, 3, padding=1)(images[:, :, 0]).mean())
    seq = Tensor(rng.normal(size=(2, 5, 8)), requires_grad=True)
    attention = nn.MultiHeadAttention(8, 2)
    padding = np.array([[False] * 5, [False] * 3 + [True] * 2])
    losses.append(nn.MSELoss()(attention(seq, is_causal=True, key_padding_mask=padding), np.zeros((2, 5, 8))))
    gpt = GPT(vocab_size=7, embed_dim=8, num_heads=2, num_layers=1, max_len=6)
    ids = rng.integers(0, 7, (2, 6))
    losses.append(F.cross_entropy(gpt(ids).reshape(-1, 7), ids.reshape(-1)))
    for loss in losses:
        assert loss.dtype == np.float32, loss
        loss.backward()
    return [x, images, seq] + conv.parameters() + attention.parameters() + gpt.parameters()


def test_every_backward_of_a_float32_graph_stays_float32(backward_dtypes):
    leaves = _float32_graphs()
    promoted = sorted({f"{name}: {g} gradient for a {x} input" for name, g, x in backward_dtypes if g != x})
    assert not promoted, "backward passes that left float32:\n" + "\n".join(promoted)
    assert len({name for name, _, _ in backward_dtypes}) >= 25, "the graphs should touch most ops"
    assert all(leaf.grad is not None and leaf.grad.dtype == np.float32 for leaf in leaves)


def test_mean_backward_divides_by_a_python_number():
    from tinytorch.core.autograd import MeanOp

    x = Tensor(np.ones((4, 3), dtype=np.float32), requires_grad=True)
    for y in ((x * 2).mean(), (x * 2).mean(dim=1)):
        assert MeanOp.backward(y._ctx, np.ones(y.shape, dtype=np.float32)).dtype == np.float32


class _RecordingBLAS:
    """Stands in for threadpoolctl's controller of NumPy's BLAS."""

    def __init__(self):
        self.calls = []

    def set_num_threads(self, n):
        self.calls.append(n)

    def get_num_threads(self):
        return self.calls[-1] if self.calls else 1


def test_large_products_run_on_every_thread_small_ones_on_one(monkeypatch):
    blas = _RecordingBLAS()
    monkeypatch.setattr(setup, "_blas", blas)
    monkeypatch.setattr(setup, "_max_threads", 2)
    side = round(setup.PARALLEL_MACS ** (1 / 3)) + 1
    big = np.ones((side, side), dtype=np.float32)
    small = np.ones((8, 8), dtype=np.float32)
    assert np.array_equal(setup._blas_matmul(small, small), small @ small)
    assert blas.calls == [], "a small product never touches the thread count"
    assert np.array_equal(setup._blas_matmul(big, big), big @ big)
    assert blas.calls == [2, 1], "a large one raises it, then puts NumPy's BLAS back on one thread"
    batch = np.ones((64, 32, 32), dtype=np.float32)
    setup._blas_matmul(batch, batch)
    assert blas.calls == [2, 1], "a batch of small products counts one product at a time"
    setup.set_num_threads(1)
    setup._blas_matmul(big, big)
    assert setup.get_num_threads() == 1 and blas.calls[-1] == 1 and 2 not in blas.calls[2:]
    with pytest.raises(ValueError):
        setup.set_num_threads(0)


def test_importing_tinytorch_leaves_blas_on_one_thread_and_remembers_the_rest():
    pytest.importorskip("threadpoolctl")
    code = (
        "import threadpoolctl, tinytorch\n"
        "from tinytorch.core import setup\n"
        "blas = [i for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas']\n"
        "print(setup._blas is not None, blas[0]['num_threads'] if blas else None, tinytorch.get_num_threads())\n"
    )
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    controlled, now, maximum = out.stdout.split()
    if controlled != "True":
        pytest.skip("threadpoolctl cannot control this NumPy's BLAS")
    assert now == "1" and maximum == "2", out.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_memory_is_reused_without_page_faults():
    code = (
        "import resource, tinytorch, numpy as np\n"
        "from tinytorch.core import setup\n"
        "a = np.ones(4_000_000, np.float32)\n"
        "step = lambda: (a * 2.0) + 1.0\n"
        "step()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(20): step()\n"
        "print(setup._keep_freed_memory(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", code], env=dict(env, PYTHONPATH=str(REPO)), capture_output=True,
                         text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    agreed, faults = out.stdout.split()
    if agreed != "True":
        pytest.skip("not glibc: malloc keeps its own policy")
    assert int(faults) < 200, f"{faults} page faults for 20 steps of 16 MB arrays: freed memory is not reused"


def test_max_pool_keeps_a_winner_index_not_the_windows():
    from tinytorch.nn.spatial import MaxPool2d

    x = Tensor(np.random.default_rng(0).normal(size=(4, 3, 8, 8)), requires_grad=True)
    y = MaxPool2d(2)(x)
    saved = y._ctx.saved_tensors
    assert sum(a.nbytes for a in saved) <= y.data.size, "one byte per output: which element of the window won"
    y.sum().backward()
    assert x.grad.data.sum() == y.data.size, "each window passes its gradient to one element"


def test_products_with_a_constant_keep_no_copy_of_the_tensor():
    x = Tensor(np.ones(3), requires_grad=True)
    assert (x * 2)._ctx.saved_tensors == (None, 2) or (x * 2)._ctx.saved_tensors[0] is None
    assert (x / 2)._ctx.saved_tensors[0] is None
    w = Tensor(np.ones(3), requires_grad=True)
    saved = (x * w)._ctx.saved_tensors
    assert saved[0] is x.data and saved[1] is w.data


def test_leaf_gradients_are_never_shared_even_when_not_copied():
    a, b = Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()  # AddOp hands one array to both inputs
    a.grad.data *= 10  # what clip_grad_norm_ and optimizers may do
    assert b.grad.data.tolist() == [1.0, 1.0, 1.0] and not np.shares_memory(a.grad.data, b.grad.data)
    for grad in (a.grad.data, b.grad.data):
        assert grad.flags.writeable and grad.base is None, "a leaf owns its gradient array"
    g = np.full(3, 2.0, dtype=np.float32)
    x = Tensor(np.ones(3), requires_grad=True)
    x.backward(gradient=g)
    (x * 1).backward(gradient=g)
    assert not np.shares_memory(x.grad.data, g) and g.tolist() == [2.0, 2.0, 2.0]
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    w.reshape(3, 2).sum().backward()  # a broadcast view, reshaped: copied into w's own array
    w.grad.data[0, 0] = 5.0
    assert w.grad.data.sum() == 10.0 and w.grad.data.flags.owndata
    layer_w = Tensor(np.ones((4, 3)), requires_grad=True)
    out = Tensor(np.ones((2, 4))) @ layer_w
    out.sum().backward()
    fresh = layer_w.grad.data
    out2 = Tensor(np.ones((2, 4))) @ layer_w
    out2.sum().backward()
    assert np.allclose(layer_w.grad.data, 2 * fresh) and layer_w.grad.data is not fresh, "accumulating makes a new array"


def test_gelu_saves_its_derivative_and_nothing_under_no_grad():
    from tinytorch.core.autograd import no_grad
    from tinytorch.nn.modules import GELU

    for form in ("none", "tanh"):
        x = Tensor(np.linspace(-3, 3, 12), requires_grad=True)
        y = GELU(form)(x)
        saved = y._ctx.saved_tensors
        assert len(saved) == 1 and saved[0].shape == x.shape, "one array: dGELU/dx"
        y.sum().backward()
        assert np.allclose(x.grad.data, saved[0] if saved[0] is not None else 0)
        with no_grad():
            assert GELU(form)(x)._ctx is None
        z = GELU(form)(Tensor(np.ones(3)))  # no gradient wanted: nothing computed for a backward pass
        assert z._ctx is None
