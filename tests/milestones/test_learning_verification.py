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


def test_xor_learning():
    """1969 — Minsky & Papert's XOR: no single line separates it; one hidden layer does.

    Requires 00_setup … 03_nn: Linear, ReLU, Sigmoid, BinaryCrossEntropyLoss and SGD
    from module 03 (no Adam, no DataLoader). Five networks with five seeds train side by
    side on the 4 XOR points; every one must classify all four and reach loss < 0.1.
    """
    import numpy as np

    from tinytorch.core.tensor import Tensor
    from tinytorch.nn.modules import BinaryCrossEntropyLoss, Linear, ReLU, Sequential, Sigmoid
    from tinytorch.optim.sgd import SGD

    x = Tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]], dtype=np.float32)
    seeds, epochs = (0, 1, 2, 3, 4), 100
    loss_fn = BinaryCrossEntropyLoss()
    nets = []
    for seed in seeds:
        np.random.seed(seed)
        model = Sequential(Linear(2, 16), ReLU(), Linear(16, 1), Sigmoid())
        params = dict(model.named_parameters())
        nets.append((model, params, snapshot(params), SGD(model.parameters(), lr=0.5, momentum=0.9), []))

    def accuracy(model):
        return float(np.mean((model(x).data > 0.5) == (y > 0.5)))

    run = LearningRun("xor", epochs)
    for epoch in range(1, epochs + 1):
        for model, _, _, optimizer, losses in nets:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        latest = [losses[-1] for *_, losses in nets]
        # The bar follows the worst of the five networks: all of them must learn.
        run.step(epoch, max(latest), mean_loss=float(np.mean(latest)),
                 accuracy=min(accuracy(model) for model, *_ in nets))

    accuracies = [accuracy(model) for model, *_ in nets]
    finals = [losses[-1] for *_, losses in nets]
    run.finish(accuracy=min(accuracies), seeds=len(seeds),
               required={"accuracy": 1.0, "final_loss": 0.1, "loss_drop": 0.5})
    for seed, (model, params, before, _, losses), acc, final in zip(seeds, nets, accuracies, finals):
        assert_learned(losses, params, before, min_drop=0.5)
        assert acc == 1.0, f"seed {seed}: the network gets {acc:.0%} of the XOR points right (100 % required)."
        assert final < 0.1, f"seed {seed}: final loss {final:.4f} (below 0.1 required)."


def test_mlp_digits_learning():
    """1986 — Rumelhart, Hinton & Williams: backpropagation trains a multi-layer perceptron.

    Requires 00_setup … 04_training: an MLP 64-64-10 trained with Adam, mini-batches from
    DataLoader and the Trainer loop on TinyDigits; judged on 359 held-out digits.
    """
    import numpy as np

    from tinytorch.core.tensor import Tensor
    from tinytorch.core.training import Trainer, accuracy
    from tinytorch.data.loader import DataLoader, TensorDataset, load_tinydigits
    from tinytorch.nn.modules import CrossEntropyLoss, Linear, ReLU, Sequential
    from tinytorch.optim.adam import Adam

    (x_train, y_train), (x_test, y_test) = load_tinydigits()
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    np.random.seed(1986)
    model = Sequential(Linear(64, 64), ReLU(), Linear(64, 10))
    params = dict(model.named_parameters())
    before = snapshot(params)
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=1986)
    trainer = Trainer(model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.01))

    epochs = 12
    run = LearningRun("mlp_digits", epochs)
    trainer.fit(train_loader, epochs,
                callback=lambda epoch, stats: run.step(epoch, stats["loss"], train_accuracy=stats["accuracy"]))

    model.eval()
    test_accuracy = accuracy(model(Tensor(x_test)), y_test)
    run.finish(accuracy=test_accuracy, train_accuracy=trainer.evaluate(train_loader)["accuracy"],
               test_images=len(x_test), required={"accuracy": 0.90, "loss_drop": 0.5})
    assert_learned(run.losses, params, before, min_drop=0.5)
    assert test_accuracy >= 0.90, (
        f"The MLP recognizes {test_accuracy:.1%} of the held-out digits (90 % required)."
    )


def test_cnn_learning():
    """1998 — LeCun et al.'s convolutional networks: a small LeNet reads handwritten digits.

    Requires 00_setup … 05_spatial: two Conv2d → ReLU → MaxPool2d stages, Flatten and a
    Linear classifier, trained with Adam, DataLoader and the Trainer loop on TinyDigits;
    judged on 359 held-out digits. Every parameter — both convolutions' filters included —
    must receive a gradient and change.
    """
    import numpy as np

    from tinytorch.core.tensor import Tensor
    from tinytorch.core.training import Trainer, accuracy
    from tinytorch.data.loader import DataLoader, TensorDataset, load_tinydigits
    from tinytorch.nn.modules import CrossEntropyLoss, Linear, ReLU, Sequential
    from tinytorch.nn.spatial import Conv2d, Flatten, MaxPool2d
    from tinytorch.optim.adam import Adam

    (x_train, y_train), (x_test, y_test) = load_tinydigits()
    x_train, x_test = x_train[:, None], x_test[:, None]  # (N, 1, 8, 8): one channel
    np.random.seed(1998)
    model = Sequential(
        Conv2d(1, 16, 3, padding=1), ReLU(), MaxPool2d(2),   # (N, 16, 4, 4)
        Conv2d(16, 32, 3, padding=1), ReLU(), MaxPool2d(2),  # (N, 32, 2, 2)
        Flatten(), Linear(128, 10),
    )
    params = dict(model.named_parameters())
    before = snapshot(params)
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=1998)
    trainer = Trainer(model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.01))

    epochs = 10
    run = LearningRun("cnn", epochs)
    trainer.fit(train_loader, epochs,
                callback=lambda epoch, stats: run.step(epoch, stats["loss"], train_accuracy=stats["accuracy"]))

    model.eval()
    test_accuracy = accuracy(model(Tensor(x_test)), y_test)
    run.finish(accuracy=test_accuracy, train_accuracy=trainer.evaluate(train_loader)["accuracy"],
               test_images=len(x_test), parameters=sum(p.numel() for p in params.values()),
               required={"accuracy": 0.95, "loss_drop": 0.5})
    assert_learned(run.losses, params, before, min_drop=0.5)
    assert test_accuracy >= 0.95, (
        f"The CNN recognizes {test_accuracy:.1%} of the held-out digits (95 % required)."
    )


def test_transformer_learning():
    """2017 — Attention Is All You Need: a transformer learns to reverse sequences.

    Requires 00–04 and 06_embeddings, 07_attention, 08_transformer (not 05_spatial).
    Reversal is a task only attention can solve: the answer at position i is the token at
    position 7 - i, and attention is the one layer that moves information between
    positions (embeddings, LayerNorm, the feed-forward network and the head all work on
    each token alone). A non-causal encoder — token + learned position embeddings, one
    TransformerBlock, LayerNorm, a linear head — predicts the reversed token at every
    position; it is scored on held-out sequences it never saw.
    """
    import numpy as np

    from tinytorch.core.autograd import no_grad
    from tinytorch.models.transformer import LayerNorm, TransformerBlock
    from tinytorch.nn.modules import CrossEntropyLoss, Linear, Module
    from tinytorch.optim.adam import Adam
    from tinytorch.text.embeddings import Embedding, LearnedPositionalEmbedding

    vocab, length = 10, 8
    rng = np.random.default_rng(2017)
    codes = rng.choice(vocab**length, size=3000, replace=False)  # 3000 distinct sequences
    sequences = codes[:, None] // vocab ** np.arange(length) % vocab
    train, held_out = sequences[:2500], sequences[2500:]
    assert not set(codes[:2500]) & set(codes[2500:]), "held-out sequences must be unseen"

    class Reverser(Module):
        def __init__(self, embed_dim=32, num_heads=4):
            super().__init__()
            self.tokens = Embedding(vocab, embed_dim)
            self.positions = LearnedPositionalEmbedding(length, embed_dim)
            self.block = TransformerBlock(embed_dim, num_heads, ff_dim=2 * embed_dim)
            self.norm = LayerNorm(embed_dim)
            self.head = Linear(embed_dim, vocab)

        def forward(self, ids):
            return self.head(self.norm(self.block(self.positions(self.tokens(ids)))))

    np.random.seed(2017)  # the layers initialize from NumPy's global generator
    model = Reverser()
    params = dict(model.named_parameters())
    before = snapshot(params)
    optimizer = Adam(model.parameters(), lr=0.01)
    loss_fn = CrossEntropyLoss()

    def accuracy(batch):
        with no_grad():
            predicted = model(batch).data.argmax(axis=-1)
        return float(np.mean(predicted == batch[:, ::-1]))

    initial_accuracy = accuracy(held_out)
    epochs, steps_per_epoch, batch_size = 10, 10, 32
    run = LearningRun("transformer", epochs)
    for epoch in range(1, epochs + 1):
        total = 0.0
        for _ in range(steps_per_epoch):
            batch = train[rng.integers(0, len(train), batch_size)]
            optimizer.zero_grad()
            loss = loss_fn(model(batch), batch[:, ::-1])
            loss.backward()
            optimizer.step()
            total += loss.item()
        run.step(epoch, total / steps_per_epoch, accuracy=accuracy(held_out))

    acc = accuracy(held_out)
    run.finish(
        accuracy=acc, initial_accuracy=initial_accuracy, held_out_sequences=len(held_out),
        required={"accuracy": 0.95, "loss_drop": 0.5},
    )
    attention = model.block.attn
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        grad = getattr(attention, name).weight.grad
        assert grad is not None and np.any(grad.data), (
            f"The attention's {name} weights received no gradient: the backward pass through "
            "attention (softmax, batched @, transpose/reshape of the heads) is broken."
        )
    assert_learned(run.losses, params, before, min_drop=0.5)
    assert acc >= 0.95, (
        f"The transformer reverses only {acc:.1%} of held-out tokens (95 % required; "
        f"chance is 10 %). Check attention and its mask."
    )
