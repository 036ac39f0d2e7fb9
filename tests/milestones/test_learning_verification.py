"""Learning verification: one test per milestone, each training a real network on the
student's own ``tinytorch`` and *asserting* that it learned.

``tito milestone run ID`` runs one of these tests in a subprocess against the project's
``tinytorch`` (see ``milestone_tracker.MILESTONES[ID]["test"]``).

Honesty rule: a test imports only what its milestone's required modules export, and it
imports them inside the test function, so each test can be checked on its own. With
exactly the required modules exported it passes; with one missing or broken it fails.
"""

from learning_checks import LearningRun, assert_learned, snapshot


def test_perceptron_learning():
    """1957 — Rosenblatt's perceptron: one sigmoid unit separates two Gaussian clusters.

    Requires 00_setup, 01_tensor, 02_autograd: only Tensor and autograd, no nn, no optim —
    binary cross-entropy and gradient descent are written out by hand.
    """
    import numpy as np

    from tinytorch.core.autograd import no_grad
    from tinytorch.core.tensor import Tensor

    rng = np.random.default_rng(1957)
    half = 50
    points = np.concatenate([
        rng.normal(loc=(-1.5, -1.0), scale=0.9, size=(half, 2)),
        rng.normal(loc=(1.5, 1.0), scale=0.9, size=(half, 2)),
    ])
    labels = np.concatenate([np.zeros(half), np.ones(half)]).reshape(-1, 1)
    order = rng.permutation(2 * half)
    x, y = Tensor(points[order]), Tensor(labels[order])

    # Start from a guess no better than a coin flip (46 % of the points right).
    w = Tensor([[-0.2], [0.3]], requires_grad=True)
    b = Tensor([0.0], requires_grad=True)
    params = [w, b]
    before = snapshot(params)

    def accuracy():
        with no_grad():
            logits = x @ w + b
        return float(np.mean((logits.data > 0) == (y.data > 0.5)))

    initial_accuracy = accuracy()
    epochs, lr, eps = 40, 0.5, 1e-7
    run = LearningRun("perceptron", epochs)
    for epoch in range(1, epochs + 1):
        for p in params:
            p.zero_grad()
        prob = (x @ w + b).sigmoid()
        loss = -(y * (prob + eps).log() + (1 - y) * (1 - prob + eps).log()).mean()
        loss.backward()
        with no_grad():
            for p in params:
                p.data -= lr * p.grad.data
        run.step(epoch, loss.item(), accuracy=accuracy())

    acc = accuracy()
    run.finish(accuracy=acc, initial_accuracy=initial_accuracy, required={"accuracy": 0.95, "loss_drop": 0.5})
    assert_learned(run.losses, params, before, min_drop=0.5)
    assert acc >= 0.95, f"The perceptron separates only {acc:.0%} of the two clusters (95 % required)."
