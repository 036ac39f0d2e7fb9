# %% [markdown]
# # Module 04 — Training
#
# Module 03 gave you layers, losses and plain SGD: enough to solve XOR with four data
# points. Real data sets are bigger and real loss surfaces are less friendly. This
# module adds what turns "it can learn" into "it trains, reliably, on real data":
#
# - **Better optimizers** — SGD with momentum and weight decay (you built them into
#   `SGD` in module 03; here is why they work), then **Adam** and **AdamW**.
# - **Data pipelines** — `TensorDataset` and `DataLoader`: mini-batches, shuffled
#   every epoch.
# - **A training loop** — `Trainer.fit()` with per-epoch loss/accuracy history and a
#   progress bar; `accuracy()`; `evaluate()`.
# - **Checkpoints** — saving a model's `state_dict()` to a `.npz` file and loading it back.
# - **TinyDigits** — 1,797 handwritten 8×8 digits, your first real data set.
#
# Completing it unlocks the **MLP on real digits** milestone: a network you wrote,
# trained by a loop you wrote, reading handwriting it has never seen.

# %%
#| default_exp core.training
#| requires 00_setup 01_tensor 02_autograd 03_nn
#| export
import numpy as np

from tinytorch.core.autograd import no_grad
from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Why plain SGD is not enough
#
# Picture the loss as a long, narrow valley. The gradient points mostly across the
# valley (steep walls), barely along it (gentle floor). Plain SGD bounces from wall to
# wall and crawls towards the minimum. Two fixes:
#
# **Momentum** (module 03's `SGD(..., momentum=0.9)`) averages gradients over time,
# $v \leftarrow \mu v + g$, $p \leftarrow p - \eta v$. The bounces cancel out; the
# consistent push along the floor accumulates.
#
# **Adaptive step sizes** (Adam, Kingma & Ba 2015) go further: they give *each
# parameter its own* step size. Adam keeps two running averages per parameter,
#
# $$m \leftarrow \beta_1 m + (1-\beta_1)\,g, \qquad v \leftarrow \beta_2 v + (1-\beta_2)\,g^2,$$
#
# the mean and the uncentred variance of recent gradients, and steps by
# $\eta\,\hat m / (\sqrt{\hat v} + \epsilon)$. Dividing by $\sqrt{v}$ normalizes each
# parameter's step: a parameter with large, noisy gradients moves cautiously, a rarely
# updated one moves boldly, and the step size is roughly $\eta$ whatever the gradient's
# scale — which is why `lr=1e-3` works for so many models.
#
# **Bias correction.** $m$ and $v$ start at zero, so early on they underestimate the
# true averages (after one step, $m = 0.1\,g$). Dividing by $1-\beta^t$ undoes exactly
# that: $\hat m = m/(1-\beta_1^t)$, $\hat v = v/(1-\beta_2^t)$.
#
# **Weight decay, coupled or decoupled.** `Adam(weight_decay=λ)` adds $\lambda p$ to the
# gradient as SGD does — but then Adam's normalization shrinks that pull for parameters
# with large gradients. **AdamW** (Loshchilov & Hutter 2019) *decouples* it: it first
# shrinks every weight by $p \leftarrow p(1 - \eta\lambda)$, then takes the plain Adam step.
# That is the optimizer transformers are trained with.

# %%
#| export optim.adam
import numpy as np

from tinytorch.optim.sgd import Optimizer


class Adam(Optimizer):
    """Adam (PyTorch semantics): bias-corrected moments; weight_decay adds wd * p to the gradient."""

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params)
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError("need lr >= 0, eps >= 0, weight_decay >= 0 and 0 <= betas < 1")
        self.lr, self.betas, self.eps, self.weight_decay = lr, tuple(betas), eps, weight_decay
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.steps = [0] * len(self.params)

    def step(self):
        ### BEGIN SOLUTION
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad.data
            if self.weight_decay:
                if self.decoupled_weight_decay:
                    p.data *= 1.0 - self.lr * self.weight_decay
                else:
                    g = g + self.weight_decay * p.data
            self.steps[i] += 1
            t = self.steps[i]
            self.m[i] = beta1 * self.m[i] + (1.0 - beta1) * g
            self.v[i] = beta2 * self.v[i] + (1.0 - beta2) * (g * g)
            m_hat = self.m[i] / (1.0 - beta1**t)
            v_hat = self.v[i] / (1.0 - beta2**t)
            p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        ### END SOLUTION


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before each Adam step."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


# %%
from tinytorch.nn.modules import Linear, MSELoss, Parameter


def test_unit_adam():
    # One step from zero moments: m_hat = g, v_hat = g^2, so the step is lr * sign(g).
    p = Parameter(np.array([1.0, -1.0, 0.5]))
    opt = Adam([p], lr=0.1)
    (p * Tensor([2.0, -3.0, 0.0])).sum().backward()
    opt.step()
    assert np.allclose(p.data, [0.9, -0.9, 0.5], atol=1e-6)

    # Decoupled decay shrinks the weight even with a zero gradient; Adam's L2 does not
    # (its normalized step is lr * sign(wd * p), whatever wd is).
    w1, w2 = Parameter(np.array([2.0])), Parameter(np.array([2.0]))
    adamw = AdamW([w1], lr=0.1, weight_decay=0.5)
    (w1 * 0.0).sum().backward()
    adamw.step()
    assert np.isclose(w1.data[0], 2.0 * (1 - 0.1 * 0.5))
    adam = Adam([w2], lr=0.1, weight_decay=0.5)
    (w2 * 0.0).sum().backward()
    adam.step()
    assert np.isclose(w2.data[0], 2.0 - 0.1, atol=1e-6)

    # Adam minimizes a badly scaled quadratic.
    np.random.seed(0)
    model = Linear(2, 1)
    x = Tensor(np.random.randn(64, 2) * np.array([1.0, 10.0]))
    y = x.data @ np.array([[3.0], [-0.5]]) + 1.0
    opt = Adam(model.parameters(), lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        loss = MSELoss()(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3, loss.item()


if __name__ == "__main__":
    test_unit_adam()

# %% [markdown]
# ## Datasets and loaders
#
# A `TensorDataset` zips arrays that belong together — images and their labels — so
# that `dataset[i]` is the i-th example. A `DataLoader` serves them in mini-batches.
#
# **Why mini-batches?** The gradient over the whole data set is exact but costs a full
# pass per step. The gradient of 32–256 random examples is a noisy but unbiased
# estimate, at a tiny fraction of the cost: you take many more steps per epoch, and the
# noise even helps to escape sharp minima.
#
# **Why shuffle?** If the batches come in the same order every epoch, or sorted by
# label, consecutive steps all pull the same way and the model chases the most recent
# batch. A fresh random order each epoch makes every batch a fair sample. With a
# `seed`, the loader has its own random generator: the order changes every epoch, but
# two runs see the same sequence of orders — reproducible experiments.
#
# The loader indexes whole batches at once (`images[batch_indices]`), which NumPy does
# in one vectorized copy rather than one Python call per example. Labels keep their
# integer dtype; everything else becomes a float32 `Tensor`.

# %%
#| export data.loader
import os
from pathlib import Path

import numpy as np

import tinytorch
from tinytorch.core.tensor import Tensor


def _as_batch_tensor(array):
    """A Tensor for one batch: integer arrays (labels) keep their dtype, floats become float32."""
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        return Tensor(array, dtype=array.dtype)
    return Tensor(array)


class TensorDataset:
    """Arrays (or Tensors) of equal length; item i is the tuple of their i-th entries."""

    def __init__(self, *arrays):
        ### BEGIN SOLUTION
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = [a.data if isinstance(a, Tensor) else np.asarray(a) for a in arrays]
        lengths = {len(a) for a in self.arrays}
        if len(lengths) != 1:
            raise ValueError(f"TensorDataset arrays must have the same length, got {[len(a) for a in self.arrays]}")
        ### END SOLUTION

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(_as_batch_tensor(np.asarray(a[index])) for a in self.arrays)


class DataLoader:
    """Mini-batches of a dataset, as tuples of Tensors; reshuffled every epoch if shuffle=True."""

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        # Own generator when seeded (reproducible); otherwise NumPy's global one, so
        # np.random.seed() controls it as torch.manual_seed controls PyTorch's loader.
        self._rng = np.random.default_rng(seed) if seed is not None else np.random

    def __len__(self):
        ### BEGIN SOLUTION
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        ### END SOLUTION

    def __iter__(self):
        ### BEGIN SOLUTION
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self._fetch(idx)
        ### END SOLUTION

    def _fetch(self, idx):
        if isinstance(self.dataset, TensorDataset):  # one vectorized copy per array
            return tuple(_as_batch_tensor(a[idx]) for a in self.dataset.arrays)
        items = [self.dataset[int(i)] for i in idx]  # any dataset with __getitem__
        return tuple(
            _as_batch_tensor(np.stack([np.asarray(x.data if isinstance(x, Tensor) else x) for x in column]))
            for column in zip(*items)
        )


# %% [markdown]
# ## TinyDigits
#
# The 8×8 handwritten digits from the UCI *optdigits* data set (as bundled with
# scikit-learn, CC BY 4.0), scaled to [0, 1] and split once into 1,438 training and
# 359 held-out test images (a stratified 20 % of every digit). The files ship with the
# course in `datasets/tinydigits/` as plain `.npz` arrays — no pickle, so loading
# a data file can never run code. `load_tinydigits()` finds them from any working
# directory (next to the `tinytorch` package), or from the folder named by the
# `TINYTORCH_DATA` environment variable.

# %%
#| export data.loader
def tinydigits_dir():
    """Where load_tinydigits() looks: $TINYTORCH_DATA, else <project>/datasets/tinydigits."""
    override = os.environ.get("TINYTORCH_DATA")
    if override:
        return Path(override)
    return Path(tinytorch.__file__).resolve().parent.parent / "datasets" / "tinydigits"


def load_tinydigits():
    """((X_train, y_train), (X_test, y_test)): X (N, 8, 8) float32 in [0, 1], y (N,) int64."""
    folder = tinydigits_dir()
    splits = []
    for name in ("train", "test"):
        path = folder / f"{name}.npz"
        if not path.is_file():
            raise FileNotFoundError(
                f"TinyDigits file not found: {path}. Rebuild it with "
                "`python datasets/tinydigits/build_tinydigits.py` (needs scikit-learn), "
                "or point TINYTORCH_DATA at a folder holding train.npz and test.npz."
            )
        with np.load(path, allow_pickle=False) as data:
            splits.append((data["images"].astype(np.float32), data["labels"].astype(np.int64)))
    return tuple(splits)


# %%
from tinytorch.nn.modules import CrossEntropyLoss


def test_unit_dataloader():
    x = np.arange(10 * 3, dtype=np.float64).reshape(10, 3)
    y = np.arange(10)
    ds = TensorDataset(x, y)
    assert len(ds) == 10
    xi, yi = ds[3]
    assert xi.data.tolist() == [9.0, 10.0, 11.0] and yi.item() == 3

    loader = DataLoader(ds, batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4, 3), (4, 3), (2, 3)]
    xb, yb = batches[0]
    assert isinstance(xb, Tensor) and xb.dtype == np.float32
    assert np.issubdtype(yb.dtype, np.integer), "labels keep an integer dtype"
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert [len(b[1]) for b in DataLoader(ds, batch_size=4, drop_last=True)] == [4, 4]

    shuffled = DataLoader(ds, batch_size=10, shuffle=True, seed=0)
    first, second = next(iter(shuffled))[1].data, next(iter(shuffled))[1].data
    assert sorted(first.tolist()) == list(range(10)), "a shuffle is a permutation"
    assert first.tolist() != second.tolist(), "a new order every epoch"
    again = DataLoader(ds, batch_size=10, shuffle=True, seed=0)
    assert next(iter(again))[1].data.tolist() == first.tolist(), "same seed, same orders"
    pairs = next(iter(shuffled))
    assert np.allclose(pairs[0].data[:, 0] / 3, pairs[1].data), "images stay with their labels"

    try:
        TensorDataset(np.zeros(3), np.zeros(4))
        raise AssertionError("arrays of different lengths must be refused")
    except ValueError:
        pass


if __name__ == "__main__":
    test_unit_dataloader()


def test_unit_load_tinydigits():
    (x_train, y_train), (x_test, y_test) = load_tinydigits()
    assert x_train.shape[1:] == (8, 8) and x_train.dtype == np.float32
    assert y_train.dtype == np.int64 and len(x_train) == len(y_train)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert set(np.unique(y_test)) == set(range(10))
    assert len(x_test) > 0.15 * (len(x_train) + len(x_test))


if __name__ == "__main__":
    test_unit_load_tinydigits()

# %% [markdown]
# ## Accuracy
#
# The loss is what we optimize; accuracy is what we care about. For class scores
# `(N, C)` — logits or probabilities, it makes no difference — the prediction is the
# highest-scoring class. For a single probability per example (`(N,)` or `(N, 1)`, the
# output of a `Sigmoid`), the prediction is "class 1" when it exceeds 0.5.

# %%
#| export
def accuracy(logits_or_probs, labels):
    """Fraction of correct predictions: argmax of (N, C) scores, or probability > 0.5 for (N,) / (N, 1)."""
    ### BEGIN SOLUTION
    scores = logits_or_probs.data if isinstance(logits_or_probs, Tensor) else np.asarray(logits_or_probs)
    labels = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if scores.ndim >= 2 and scores.shape[-1] > 1:
        predicted = scores.argmax(axis=-1)
    else:
        predicted = (scores > 0.5).astype(np.int64)
    labels = labels.reshape(predicted.shape)
    return float(np.mean(predicted == labels))
    ### END SOLUTION


# %%
def test_unit_accuracy():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [9.0, 0.0, 0.0]])
    assert accuracy(Tensor(logits), np.array([0, 1, 2, 1])) == 0.75
    assert accuracy(Tensor([[0.9], [0.2], [0.6]]), np.array([[1.0], [0.0], [0.0]])) == 2 / 3
    assert accuracy(np.array([0.1, 0.7]), Tensor([0, 1], dtype=np.int64)) == 1.0


if __name__ == "__main__":
    test_unit_accuracy()

# %% [markdown]
# ## The training loop
#
# Every training loop in every library is the same five lines per batch:
#
# ```python
# optimizer.zero_grad()          # 1. forget last step's gradients
# output = model(x)              # 2. forward
# loss = loss_fn(output, y)      # 3. how wrong?
# loss.backward()                # 4. who is to blame?
# optimizer.step()               # 5. fix it a little
# ```
#
# `Trainer` wraps them with the bookkeeping you always end up writing: average loss
# and accuracy per epoch, an optional validation pass, a history you can plot, a
# callback (the milestones use it to draw their live progress), and a progress bar.
#
# `evaluate()` switches the model to `eval()` mode and runs under `no_grad()`: no graph
# is built, so evaluation is faster and uses less memory, and layers such as dropout
# behave as they should at test time.
#
# The progress bar uses the `rich` library when it is installed; `tinytorch` itself
# never requires it.

# %%
#| export
def _progress_bar(total):
    """A started rich Progress and its task id, or (None, None) when rich is not installed."""
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    except ImportError:
        return None, None
    bar = Progress(
        TextColumn("[bold]epoch"), MofNCompleteColumn(), BarColumn(),
        TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), transient=False,
    )
    bar.start()
    return bar, bar.add_task("train", total=total, stats="")


class Trainer:
    """Trains ``model`` with ``loss_fn`` and ``optimizer``; ``metric`` (default accuracy, None: off)."""

    def __init__(self, model, loss_fn, optimizer, metric=accuracy):
        self.model, self.loss_fn, self.optimizer, self.metric = model, loss_fn, optimizer, metric

    def train_epoch(self, loader):
        """One pass over ``loader``; returns {'loss': mean loss, 'accuracy': ...}."""
        ### BEGIN SOLUTION
        self.model.train()
        total_loss, total_metric, count = 0.0, 0.0, 0
        for x, y in loader:
            self.optimizer.zero_grad()
            output = self.model(x)
            loss = self.loss_fn(output, y)
            loss.backward()
            self.optimizer.step()
            n = len(x)
            total_loss += loss.item() * n
            if self.metric is not None:
                total_metric += self.metric(output, y) * n
            count += n
        ### END SOLUTION
        return self._summary(total_loss, total_metric, count)

    def evaluate(self, loader):
        """Mean loss (and metric) over ``loader`` in eval mode, without building a graph."""
        was_training = self.model.training
        self.model.eval()
        total_loss, total_metric, count = 0.0, 0.0, 0
        with no_grad():
            for x, y in loader:
                output = self.model(x)
                n = len(x)
                total_loss += self.loss_fn(output, y).item() * n
                if self.metric is not None:
                    total_metric += self.metric(output, y) * n
                count += n
        self.model.train(was_training)
        return self._summary(total_loss, total_metric, count)

    def _summary(self, total_loss, total_metric, count):
        if count == 0:
            raise ValueError("the data loader yielded no batches")
        summary = {"loss": total_loss / count}
        if self.metric is not None:
            summary["accuracy"] = total_metric / count
        return summary

    def fit(self, train_loader, epochs, val_loader=None, callback=None, progress=False):
        """Train for ``epochs``; returns the history {'loss': [...], 'accuracy': [...], 'val_accuracy': [...]}.

        ``callback(epoch, stats)`` runs after every epoch (epochs count from 1), with
        ``stats`` the epoch's numbers ('loss', 'accuracy', 'val_loss', 'val_accuracy').
        """
        history = {}
        bar, task = _progress_bar(epochs) if progress else (None, None)
        try:
            for epoch in range(1, epochs + 1):
                stats = self.train_epoch(train_loader)
                if val_loader is not None:
                    stats.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
                for key, value in stats.items():
                    history.setdefault(key, []).append(value)
                if callback is not None:
                    callback(epoch, dict(stats))
                if bar is not None:
                    bar.update(task, advance=1, stats="  ".join(f"{k} {v:.4f}" for k, v in stats.items()))
        finally:
            if bar is not None:
                bar.stop()
        return history


# %%
from tinytorch.nn.modules import ReLU, Sequential


def test_unit_trainer():
    np.random.seed(0)
    x = np.random.randn(200, 2).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)  # quadrant parity: needs a hidden layer
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, seed=0)
    model = Sequential(Linear(2, 32), ReLU(), Linear(32, 2))
    trainer = Trainer(model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.05))
    seen = []
    history = trainer.fit(loader, epochs=30, val_loader=DataLoader(TensorDataset(x, y), batch_size=100),
                          callback=lambda epoch, stats: seen.append(epoch))
    assert seen == list(range(1, 31))
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history["loss"]) == 30
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["val_accuracy"][-1] > 0.9, history["val_accuracy"][-1]
    assert model.training, "fit leaves the model in training mode"


if __name__ == "__main__":
    test_unit_trainer()

# %% [markdown]
# ## Checkpoints
#
# Training takes minutes to days; you want to keep the result. `save_state_dict`
# writes `model.state_dict()` — parameter names to arrays — into one `.npz` file, and
# `load_state_dict` reads it back into a model of the same architecture. We never use
# pickle: unpickling a file can run arbitrary code, loading an `.npz` with
# `allow_pickle=False` cannot.

# %%
#| export
def save_state_dict(module, path):
    """Write module.state_dict() to ``path`` as .npz (NumPy adds the .npz suffix if missing)."""
    ### BEGIN SOLUTION
    np.savez(path, **module.state_dict())
    ### END SOLUTION


def load_state_dict(module, path):
    """Load a .npz written by save_state_dict into ``module`` (names and shapes must match)."""
    ### BEGIN SOLUTION
    with np.load(path, allow_pickle=False) as data:
        module.load_state_dict({name: data[name] for name in data.files})
    ### END SOLUTION
    return module


# %%
def test_unit_checkpoint():
    import tempfile
    from pathlib import Path

    np.random.seed(0)
    a = Sequential(Linear(4, 3), ReLU(), Linear(3, 2))
    b = Sequential(Linear(4, 3), ReLU(), Linear(3, 2))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.npz"
        save_state_dict(a, path)
        load_state_dict(b, path)
    x = Tensor(np.random.randn(5, 4))
    assert np.allclose(a(x).data, b(x).data)


if __name__ == "__main__":
    test_unit_checkpoint()

# %% [markdown]
# ## Done
#
# Run `tito module complete 04`. It exports `Adam`/`AdamW` into
# `tinytorch/optim/adam.py`, `TensorDataset`, `DataLoader` and `load_tinydigits` into
# `tinytorch/data/loader.py`, and the training loop into `tinytorch/core/training.py`,
# and it unlocks `tito milestone run mlp_digits`: an MLP trained on real handwriting.
