"""The shared harness of the learning-verification tests (one per milestone).

A learning test trains a small network on the student's own ``tinytorch`` and then
*asserts* that it learned. This file gives every test the same three tools:

* :class:`LearningRun` — reports progress while training (``tito milestone run`` shows
  it as a live bar over epochs) and the metrics at the end (``tito`` shows them as a
  table and keeps them in the milestone's run history);
* :func:`snapshot` — copies of the parameters before training;
* :func:`assert_learned` — the checks every milestone shares: the loss fell, every
  parameter received a gradient, every parameter changed.

Communication with ``tito`` goes through two environment variables, both optional
(under plain ``pytest`` nothing is written):

``TINYTORCH_PROGRESS_FILE``
    one JSON line per epoch: ``{"epoch": 3, "epochs": 60, "loss": 0.41, ...extra}``
``TINYTORCH_METRICS_FILE``
    one JSON object at the end: ``{"milestone", "epochs", "initial_loss",
    "final_loss", "loss_drop", ...metrics}``

Call :meth:`LearningRun.finish` *before* the assertions, so a failed run still reports
what it reached. Zero the gradients *before* each ``backward`` (as PyTorch's
``optimizer.zero_grad()``), not after the update: :func:`assert_learned` checks the
gradients of the last ``backward``. By convention a test passes the bars it must meet as
``required={"accuracy": 0.95, "loss_drop": 0.5}``; ``tito`` shows them beside the metrics.

This file never imports ``tinytorch``: it works on anything with ``.data`` (a numpy
array) and ``.grad`` (``None`` or an object with ``.data``), so each test imports only
what its milestone's modules export (the honesty rule).
"""

import json
import math
import os
from collections.abc import Mapping

import numpy as np

PROGRESS_ENV = "TINYTORCH_PROGRESS_FILE"
METRICS_ENV = "TINYTORCH_METRICS_FILE"


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


class LearningRun:
    """One milestone training run: per-epoch progress for tito's live bar, metrics at the end."""

    def __init__(self, milestone_id, epochs):
        self.milestone_id = milestone_id
        self.epochs = int(epochs)
        self.losses = []
        self.metrics = None
        self._progress = os.environ.get(PROGRESS_ENV)
        self._metrics = os.environ.get(METRICS_ENV)

    def step(self, epoch, loss, **extra):
        """Record one epoch's loss (call once per epoch; ``epoch`` counts from 1)."""
        loss = _number(loss)
        self.losses.append(loss)
        if self._progress:
            line = {"epoch": int(epoch), "epochs": self.epochs, "loss": _plain(loss), **_plain(extra)}
            with open(self._progress, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(line) + "\n")

    def finish(self, **metrics):
        """The run's metrics (written to ``$TINYTORCH_METRICS_FILE`` when set); returns them."""
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
        }
        if self._metrics:
            temp = f"{self._metrics}.tmp"
            with open(temp, "w", encoding="utf-8") as handle:
                json.dump(self.metrics, handle)
            os.replace(temp, self._metrics)
        return self.metrics


def _named(params):
    """``[(name, parameter)]`` from a list, a generator (``model.parameters()``) or a dict."""
    if isinstance(params, Mapping):
        return [(str(name), p) for name, p in params.items()]
    params = list(params)
    return [(f"parameter #{i} {tuple(np.shape(p.data))}", p) for i, p in enumerate(params)]


def snapshot(params):
    """Copies of each parameter's ``.data`` (call before training)."""
    return [np.array(p.data, copy=True) for _, p in _named(params)]


def _fail(message):
    __tracebackhide__ = True  # pytest shows the test's line, not this helper's
    raise AssertionError(message)


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
