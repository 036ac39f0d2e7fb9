"""The shared harness of the learning-verification tests (one per milestone).

A learning test trains a small network on the student's own ``tinytorch`` and then
*asserts* that it learned. This file gives every test the same tools:

* :class:`LearningRun` — reports progress while training (``tito milestone run`` shows it
  as a live bar over epochs), the metrics at the end (``tito`` shows them as a table, checks
  them against the milestone's bars itself and keeps them in the run history), asserts the
  bars (:meth:`LearningRun.assert_required`) and marks the end of the test
  (:meth:`LearningRun.complete`, the last line of every learning test);
* :func:`snapshot` — copies of the parameters before training;
* :func:`assert_learned` — the checks every milestone shares: the loss fell, every
  parameter received a gradient, every parameter changed;
* :func:`cross_entropy`, :func:`binary_cross_entropy`, :func:`accuracy` — the metrics,
  computed here with NumPy on the model's raw outputs. The student's code trains; it
  never grades: a test loads its data itself and measures losses and accuracies with these.

Reports reach ``tito`` through its sealed pytest plugin (``_tito_seal``), when the test runs
under ``tito milestone run``; under plain ``pytest`` nothing is sent. The bars live in
``milestone_tracker.MILESTONES[id]["required"]`` — the one place milestones are defined.

Zero the gradients *before* each ``backward`` (as PyTorch's ``optimizer.zero_grad()``), not
after the update: :func:`assert_learned` checks the gradients of the last ``backward``.

This file never imports ``tinytorch``: it works on anything with ``.data`` (a numpy
array) and ``.grad`` (``None`` or an object with ``.data``), so each test imports only
what its milestone's modules export (the honesty rule).
"""

import contextlib
import json
import math
import sys
from collections.abc import Mapping

import numpy as np

import milestone_tracker

PLUGIN = "_tito_seal"


def _send(event, **fields):
    """One report for tito's plugin; nothing under plain pytest."""
    plugin = sys.modules.get(PLUGIN)
    if plugin is not None:
        plugin.send(event, **fields)


def _number(value):
    """A plain float from a float, a numpy scalar/array of one element, or a Tensor."""
    if hasattr(value, "item"):
        value = value.item()
    return float(value)


def _plain(value):
    """JSON-ready: numpy scalars and Tensors become Python numbers, containers recurse."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (bool, str, type(None))):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        number = _number(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else str(number)


def _raw(output):
    """The NumPy array behind a model output (a Tensor's ``.data``, or an array)."""
    return np.asarray(getattr(output, "data", output), dtype=np.float64)


def cross_entropy(logits, labels):
    """Mean cross-entropy of raw ``logits`` (..., classes) against integer ``labels`` (...)."""
    logits = _raw(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    labels = np.asarray(labels, dtype=np.int64)
    return float(-np.take_along_axis(log_probs, labels[..., None], axis=-1).mean())


def binary_cross_entropy(probabilities, targets, eps=1e-7):
    """Mean binary cross-entropy of ``probabilities`` in (0, 1) against 0/1 ``targets``."""
    p = np.clip(_raw(probabilities), eps, 1 - eps)
    t = np.asarray(targets, dtype=np.float64).reshape(p.shape)
    return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))


def accuracy(logits, labels):
    """The fraction of positions whose largest logit is the label."""
    return float(np.mean(_raw(logits).argmax(axis=-1) == np.asarray(labels)))


def load_tinydigits_arrays():
    """TinyDigits as the learning tests read it: straight from the course's ``.npz`` files.

    ``((X_train, y_train), (X_test, y_test))``: X (N, 8, 8) float32 in [0, 1], y (N,) int64.
    """
    folder = milestone_tracker.PROJECT_ROOT / "datasets" / "tinydigits"
    splits = []
    for name in ("train", "test"):
        with np.load(folder / f"{name}.npz", allow_pickle=False) as data:
            splits.append((np.asarray(data["images"], dtype=np.float32), np.asarray(data["labels"], dtype=np.int64)))
    return tuple(splits)


def _exporting_module(package):
    """The course module that exports ``package`` (from the project's catalog), or None."""
    catalog = milestone_tracker.PROJECT_ROOT / "tinytorch" / "_catalog.json"
    try:
        entries = json.loads(catalog.read_text(encoding="utf-8")).values()
    except (OSError, ValueError):
        return None
    return next((e["module"] for e in entries if e.get("target") == package or
                 str(e.get("target", "")).startswith(package + ".")), None)


@contextlib.contextmanager
def unlocked(milestone_id):
    """Wrap a learning test's ``tinytorch`` imports: a package that is not exported yet skips
    the test as *locked* (naming the module to complete) instead of failing on the import.

    Under plain ``pytest`` that is the honest answer for a student part-way through the
    course; under ``tito milestone run`` a skip is never a pass (and tito refuses a locked
    milestone before it runs)."""
    try:
        yield
    except ModuleNotFoundError as err:  # not a bare ImportError: an export that lacks a name is broken
        missing = err.name or ""
        if not (missing == "tinytorch" or missing.startswith("tinytorch.")):
            raise
        import pytest

        module = _exporting_module(missing)
        todo = f"complete {module} first (`tito module complete {module.split('_')[0]}`)" if module else \
            "complete the module that exports it first"
        pytest.skip(f"{milestone_id} is locked: {missing} is not exported yet — {todo}.")


class LearningRun:
    """One milestone training run: per-epoch progress for tito's live bar, metrics at the end."""

    def __init__(self, milestone_id, epochs):
        self.milestone_id = milestone_id
        self.required = milestone_tracker.milestone(milestone_id)["required"]
        self.epochs = int(epochs)
        self.losses = []
        self.metrics = None

    def step(self, epoch, loss, **extra):
        """Record one epoch's loss (call once per epoch; ``epoch`` counts from 1)."""
        loss = _number(loss)
        self.losses.append(loss)
        _send("epoch", epoch=int(epoch), epochs=self.epochs, loss=_plain(loss), **_plain(extra))

    def finish(self, **metrics):
        """The run's metrics (reported to tito); returns them."""
        if not self.losses:
            raise AssertionError("LearningRun.finish() before any step(): the test trained nothing.")
        initial, final = self.losses[0], self.losses[-1]
        drop = 1.0 - final / initial if initial > 0 else 0.0
        self.metrics = {
            "milestone": self.milestone_id,
            "epochs": len(self.losses),
            "initial_loss": _plain(initial),
            "final_loss": _plain(final),
            "loss_drop": _plain(drop),
            **_plain(metrics),
            "required": {metric: list(bar) for metric, bar in self.required.items()},
        }
        _send("metrics", metrics=self.metrics)
        return self.metrics

    def assert_required(self):
        """Assert every bar of the milestone (``milestone_tracker.MILESTONES[id]["required"]``)."""
        __tracebackhide__ = True
        if self.metrics is None:
            _fail("LearningRun.assert_required() before finish(): no metrics to check.")
        unmet = milestone_tracker.unmet_bars(self.milestone_id, self.metrics)
        if unmet:
            _fail(f"{self.milestone_id}: " + "; ".join(unmet) + ".")

    def complete(self):
        """The last line of a learning test: it ran to its end (tito requires this report)."""
        _send("finished", milestone=self.milestone_id)


def snapshot(params):
    """Copies of each parameter's ``.data`` (call before training)."""
    return [np.array(p.data, copy=True) for _, p in _named(params)]


def _fail(message):
    __tracebackhide__ = True  # pytest shows the test's line, not this helper's
    raise AssertionError(message)


def _named(params):
    """``[(name, parameter)]`` from a list, a generator (``model.parameters()``) or a dict."""
    if isinstance(params, Mapping):
        return [(str(name), p) for name, p in params.items()]
    params = list(params)
    return [(f"parameter #{i} {tuple(np.shape(p.data))}", p) for i, p in enumerate(params)]


def assert_learned(losses, params, before, min_drop=0.5):
    """Assert what every milestone must show: the network learned, through every parameter.

    * the loss fell by at least ``min_drop`` (``losses[-1] <= (1 - min_drop) * losses[0]``);
    * every parameter has a gradient from the last ``backward`` that is not all zeros;
    * every parameter's data differs from its ``before`` snapshot.
    """
    __tracebackhide__ = True
    losses = [_number(loss) for loss in losses]
    named = _named(params)
    if not losses:
        _fail("No losses were recorded: the training loop never ran.")
    if not all(math.isfinite(loss) for loss in losses):
        _fail(f"The loss became {losses[-1]} (not finite) — training diverged.")
    initial, final = losses[0], losses[-1]
    if not final <= (1.0 - min_drop) * initial:
        drop = (1.0 - final / initial) * 100 if initial else 0.0
        _fail(
            f"The loss did not fall enough: {initial:.4f} -> {final:.4f} ({drop:.1f} % drop, "
            f"at least {min_drop * 100:.0f} % required). Check your backward passes."
        )
    if not named:
        _fail("No parameters were given to check.")
    if len(named) != len(before):
        _fail(f"{len(named)} parameters but {len(before)} snapshots: snapshot the same list you train.")
    for (name, param), old in zip(named, before):
        grad = getattr(param, "grad", None)
        if grad is None:
            _fail(f"{name} received no gradient (.grad is None): it is not connected to the loss.")
        grad = np.asarray(getattr(grad, "data", grad))
        if not np.all(np.isfinite(grad)):
            _fail(f"{name} has a gradient that is not finite.")
        if not np.any(grad):
            _fail(f"{name} received an all-zero gradient: its backward pass returns nothing.")
        if np.array_equal(np.asarray(param.data), old):
            _fail(f"{name} did not change during training: the update never reached it.")
