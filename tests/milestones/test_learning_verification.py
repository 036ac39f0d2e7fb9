"""Learning verification: one test per milestone, each training a real network on the
student's own ``tinytorch`` and *asserting* that it learned.

``tito milestone run ID`` runs one of these tests in a subprocess against the project's
``tinytorch`` (see ``milestone_tracker.MILESTONES[ID]["test"]``).

Honesty rule: a test imports only what its milestone's required modules export, and it
imports them inside the test function, so each test can be checked on its own. With
exactly the required modules exported it passes; with one missing or broken it fails.

The student's code trains; it never grades. Each test builds or loads its data itself
(``.npz`` files, never the student's loader or split), and measures every loss and accuracy
with NumPy on the model's raw outputs (``learning_checks``). The bars come from the
tracker (``MILESTONES[id]["required"]``); ``tito`` checks them again itself. The last line of
each test is ``run.complete()``: tito counts a run only if the test reached it.
"""

from learning_checks import (
    LearningRun, accuracy, assert_learned, binary_cross_entropy, cross_entropy, load_tinydigits_arrays, snapshot,
    unlocked,
)


def test_perceptron_learning():
    """1957 — Rosenblatt's perceptron: one sigmoid unit separates two Gaussian clusters.

    Requires 00_setup, 01_tensor, 02_autograd: only Tensor and autograd, no nn, no optim —
    binary cross-entropy and gradient descent are written out by hand.
    """
    import numpy as np

    with unlocked("perceptron"):
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

    def separated():
        with no_grad():
            logits = x @ w + b
        return float(np.mean((np.asarray(logits.data) > 0) == (labels[order] > 0.5)))

    initial_accuracy = separated()
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
        run.step(epoch, binary_cross_entropy(prob, labels[order]), accuracy=separated())

    acc = separated()
    run.finish(accuracy=acc, initial_accuracy=initial_accuracy)
    assert_learned(run.losses, params, before, min_drop=0.5)
    assert acc >= 0.95, f"The perceptron separates only {acc:.0%} of the two clusters (95 % required)."
    run.assert_required()
    run.complete()


def test_xor_learning():
    """1969 — Minsky & Papert's XOR: no single line separates it; one hidden layer does.

    Requires 00_setup … 03_nn: Linear, ReLU, Sigmoid, BinaryCrossEntropyLoss and SGD
    from module 03 (no Adam, no DataLoader). Five networks with five seeds train side by
    side on the 4 XOR points; every one must classify all four and reach loss < 0.1.
    """
    import numpy as np

    with unlocked("xor"):
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

    def correct(model):
        return float(np.mean((np.asarray(model(x).data) > 0.5) == (y > 0.5)))

    run = LearningRun("xor", epochs)
    for epoch in range(1, epochs + 1):
        for model, _, _, optimizer, losses in nets:
            optimizer.zero_grad()
            output = model(x)
            loss = loss_fn(output, y)
            loss.backward()
            optimizer.step()
            losses.append(binary_cross_entropy(output, y))
        latest = [losses[-1] for *_, losses in nets]
        # The bar follows the worst of the five networks: all of them must learn.
        run.step(epoch, max(latest), mean_loss=float(np.mean(latest)),
                 accuracy=min(correct(model) for model, *_ in nets))

    accuracies = [correct(model) for model, *_ in nets]
    finals = [losses[-1] for *_, losses in nets]
    run.finish(accuracy=min(accuracies), seeds=len(seeds))
    for seed, (model, params, before, _, losses), acc, final in zip(seeds, nets, accuracies, finals):
        assert_learned(losses, params, before, min_drop=0.5)
        assert acc == 1.0, f"seed {seed}: the network gets {acc:.0%} of the XOR points right (100 % required)."
        assert final < 0.1, f"seed {seed}: final loss {final:.4f} (below 0.1 required)."
    run.assert_required()
    run.complete()


def test_mlp_digits_learning():
    """1986 — Rumelhart, Hinton & Williams: backpropagation trains a multi-layer perceptron.

    Requires 00_setup … 04_training: an MLP 64-64-10 trained with Adam, mini-batches from
    DataLoader and the Trainer loop on TinyDigits; judged on 359 held-out digits.
    """
    import numpy as np

    with unlocked("mlp_digits"):
        from tinytorch.core.autograd import no_grad
        from tinytorch.core.tensor import Tensor
        from tinytorch.core.training import Trainer
        from tinytorch.data.loader import DataLoader, TensorDataset
        from tinytorch.nn.modules import CrossEntropyLoss, Linear, ReLU, Sequential
        from tinytorch.optim.adam import Adam

    (x_train, y_train), (x_test, y_test) = load_tinydigits_arrays()
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    np.random.seed(1986)
    model = Sequential(Linear(64, 64), ReLU(), Linear(64, 10))
    params = dict(model.named_parameters())
    before = snapshot(params)
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=1986)
    trainer = Trainer(model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.01))

    def logits(images):
        with no_grad():
            return model(Tensor(images)).data

    epochs = 12
    run = LearningRun("mlp_digits", epochs)

    def measure(epoch, _stats):
        train_logits = logits(x_train)
        run.step(epoch, cross_entropy(train_logits, y_train), train_accuracy=accuracy(train_logits, y_train))

    trainer.fit(train_loader, epochs, callback=measure)

    test_accuracy = accuracy(logits(x_test), y_test)
    run.finish(accuracy=test_accuracy, train_accuracy=accuracy(logits(x_train), y_train), test_images=len(x_test))
    assert_learned(run.losses, params, before, min_drop=0.5)
    assert test_accuracy >= 0.90, (
        f"The MLP recognizes {test_accuracy:.1%} of the held-out digits (90 % required)."
    )
    run.assert_required()
    run.complete()


def test_cnn_learning():
    """1998 — LeCun et al.'s convolutional networks: a small LeNet reads handwritten digits.

    Requires 00_setup … 05_spatial: two Conv2d → ReLU → MaxPool2d stages, Flatten and a
    Linear classifier, trained with Adam, DataLoader and the Trainer loop on TinyDigits;
    judged on 359 held-out digits. Every parameter — both convolutions' filters included —
    must receive a gradient and change.
    """
    import numpy as np

    with unlocked("cnn"):
        from tinytorch.core.autograd import no_grad
        from tinytorch.core.tensor import Tensor
        from tinytorch.core.training import Trainer
        from tinytorch.data.loader import DataLoader, TensorDataset
        from tinytorch.nn.modules import CrossEntropyLoss, Linear, ReLU, Sequential
        from tinytorch.nn.spatial import Conv2d, Flatten, MaxPool2d
        from tinytorch.optim.adam import Adam

    (x_train, y_train), (x_test, y_test) = load_tinydigits_arrays()
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

    def logits(images):
        with no_grad():
            return model(Tensor(images)).data

    epochs = 10
    run = LearningRun("cnn", epochs)

    def measure(epoch, _stats):
        train_logits = logits(x_train)
        run.step(epoch, cross_entropy(train_logits, y_train), train_accuracy=accuracy(train_logits, y_train))

    trainer.fit(train_loader, epochs, callback=measure)

    test_accuracy = accuracy(logits(x_test), y_test)
    run.finish(accuracy=test_accuracy, train_accuracy=accuracy(logits(x_train), y_train), test_images=len(x_test),
               parameters=sum(int(np.asarray(p.data).size) for p in params.values()))
    assert_learned(run.losses, params, before, min_drop=0.5)
    assert test_accuracy >= 0.95, (
        f"The CNN recognizes {test_accuracy:.1%} of the held-out digits (95 % required)."
    )
    run.assert_required()
    run.complete()


def test_transformer_learning():
    """2017 — Attention Is All You Need: a transformer learns to reverse sequences.

    Requires 00–04 and 06_embeddings, 07_attention, 08_transformer (not 05_spatial).
    Reversal is a task only attention can solve: the answer at position i is the token at
    position 7 - i, and attention is the one layer that moves information between
    positions (embeddings, LayerNorm, the feed-forward network and the head all work on
    each token alone). A non-causal encoder — token + learned position embeddings, one
    TransformerBlock, LayerNorm, a linear head — predicts the reversed token at every
    position; it is scored on held-out sequences it never saw, and a few of its answers
    are shown.
    """
    import numpy as np

    with unlocked("transformer"):
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

    def logits(batch):
        with no_grad():
            return model(batch).data

    initial_accuracy = accuracy(logits(held_out), held_out[:, ::-1])
    epochs, steps_per_epoch, batch_size = 10, 10, 32
    run = LearningRun("transformer", epochs)
    for epoch in range(1, epochs + 1):
        total = 0.0
        for _ in range(steps_per_epoch):
            batch = train[rng.integers(0, len(train), batch_size)]
            optimizer.zero_grad()
            output = model(batch)
            loss = loss_fn(output.reshape(-1, vocab), batch[:, ::-1].reshape(-1))
            loss.backward()
            optimizer.step()
            total += cross_entropy(output, batch[:, ::-1])
        run.step(epoch, total / steps_per_epoch, accuracy=accuracy(logits(held_out), held_out[:, ::-1]))

    predicted = np.asarray(logits(held_out)).argmax(axis=-1)
    acc = float(np.mean(predicted == held_out[:, ::-1]))
    samples = [{"input": " ".join(map(str, seq)), "output": " ".join(map(str, out)),
                "expected": " ".join(map(str, seq[::-1]))} for seq, out in zip(held_out[:3], predicted[:3])]
    run.finish(accuracy=acc, initial_accuracy=initial_accuracy, held_out_sequences=len(held_out), samples=samples)
    attention = model.block.attn
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        grad = getattr(attention, name).weight.grad
        assert grad is not None and np.any(np.asarray(grad.data)), (
            f"The attention's {name} weights received no gradient: the backward pass through "
            "attention (softmax, batched @, transpose/reshape of the heads) is broken."
        )
    assert_learned(run.losses, params, before, min_drop=0.5)
    assert acc >= 0.95, (
        f"The transformer reverses only {acc:.1%} of held-out tokens (95 % required; "
        f"chance is 10 %). Check attention and its mask."
    )
    run.assert_required()
    run.complete()


def test_mlperf_learning():
    """2018 — MLPerf: the optimization era. A trained GPT made smaller and faster, keeping what it learned.

    Requires 00–04, 06–08 and the optimization modules 09–14 (not 05_spatial); like an
    MLPerf result it records the system it ran on (00_setup). The student's GPT learns to sort six digits (``314159>`` → ``113459``), graded on 500
    held-out sequences. Then, with the student's own tools, the test profiles it (its
    parameters, bytes and multiply-adds per token must equal the counts on paper),
    quantizes it to int8 (the Linear weights' bytes ≤ 30 % of float32, accuracy within
    1 point), prunes half of its weights (measured sparsity ≥ 50 %, accuracy within 2
    points after a short fine-tune with the masks), fuses it for inference (the same
    logits), generates 64 tokens with the KV cache (the very tokens of uncached greedy
    generation, one position of work per new token) and times the variants with the
    benchmark harness. Bytes, sparsity, positions and accuracy are measured here from the
    arrays, the layer calls and the logits, never taken from a student's report; the
    speed-ups are metrics, not bars.
    """
    import copy

    import numpy as np

    with unlocked("mlperf"):
        from tinytorch.compress.pruning import prune_model
        from tinytorch.core.autograd import no_grad
        from tinytorch.core.setup import check_environment, system_info
        from tinytorch.models.kv_cache import KVCache
        from tinytorch.models.transformer import GPT
        from tinytorch.nn.modules import CrossEntropyLoss, Linear, Module
        from tinytorch.optim.adam import Adam
        from tinytorch.perf.acceleration import fuse_for_inference
        from tinytorch.perf.benchmark import BenchmarkResult, benchmark
        from tinytorch.perf.profiling import count_macs, count_parameters, model_bytes
        from tinytorch.quant.int8 import quantize_model

    # MLPerf reports every result with the system it ran on.
    assert check_environment() == [], f"The environment is not ready: {check_environment()}"
    system = system_info()

    # The task: sort six digits. ">" (id 10) ends the question; the logits at positions
    # 6..11 predict the sorted digits 7..12.
    digits, sep = 6, 10
    rng = np.random.default_rng(2018)
    codes = rng.choice(10**digits, size=3000, replace=False)  # 3000 distinct questions
    questions = codes[:, None] // 10 ** np.arange(digits) % 10
    sequences = np.concatenate([questions, np.full((3000, 1), sep), np.sort(questions, axis=1)], axis=1)
    train, held_out = sequences[:2500], sequences[2500:]
    answer, targets = slice(digits, 2 * digits), held_out[:, digits + 1:]

    vocab, embed, heads, layers, ff, max_len = 11, 32, 4, 2, 64, 72
    np.random.seed(2018)
    model = GPT(vocab, embed, heads, layers, max_len, ff_dim=ff)
    params = dict(model.named_parameters())
    before = snapshot(params)
    loss_fn = CrossEntropyLoss()

    def accuracy(network):
        with no_grad():
            predicted = network(held_out[:, :-1]).data[:, answer].argmax(axis=-1)
        return float(np.mean(predicted == targets))

    def train_steps(network, optimizer, lrs):
        total = 0.0
        for lr in lrs:
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = train[rng.integers(0, len(train), 32)]
            optimizer.zero_grad()
            output = network(batch[:, :-1])[:, answer]
            loss = loss_fn(output.reshape(-1, vocab), batch[:, digits + 1:].reshape(-1))
            loss.backward()
            optimizer.step()
            total += cross_entropy(output, batch[:, digits + 1:])
        return total / len(lrs)

    epochs, steps = 8, 20
    schedule = [0.02 * min(1.0, (s + 1) / 30) * (1 - s / (epochs * steps)) for s in range(epochs * steps)]  # warm-up, decay
    optimizer = Adam(model.parameters(), lr=0.02)
    initial_accuracy = accuracy(model)
    run = LearningRun("mlperf", epochs)
    for epoch in range(1, epochs + 1):
        loss = train_steps(model, optimizer, schedule[(epoch - 1) * steps:epoch * steps])
        run.step(epoch, loss, accuracy=accuracy(model))
    float_accuracy = accuracy(model)

    # What the test measures itself: each module's arrays, found by walking attributes and lists.
    def submodules(module, path=""):
        yield path, module
        for name, value in vars(module).items():
            if isinstance(value, dict):  # containers keep their children in a dict (_modules)
                children = [(f"{key}.", child) for key, child in value.items()]
            elif isinstance(value, (list, tuple)):
                children = [(f"{name}.{i}.", child) for i, child in enumerate(value)]
            else:
                children = [(f"{name}.", value)]
            for prefix, child in children:
                if isinstance(child, Module):
                    yield from submodules(child, f"{path}{prefix}")

    def arrays(module):
        for name, value in vars(module).items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                array = item if isinstance(item, np.ndarray) else getattr(item, "data", None)
                if isinstance(array, np.ndarray):
                    yield name, array

    def total_bytes(network):
        unique = {id(a): a for _, m in submodules(network) for _, a in arrays(m)}
        return sum(a.nbytes for a in unique.values())

    # Profile: parameters, bytes and multiply-adds against the counts on paper.
    per_block = 2 * 2 * embed + 4 * (embed * embed + embed) + (embed * ff + ff) + (ff * embed + embed)
    expected_parameters = (vocab + max_len) * embed + layers * per_block + 2 * embed + embed * vocab + vocab
    ids = held_out[:8, :-1]
    batch, seq = ids.shape
    expected_macs = layers * (4 * ids.size * embed**2 + 2 * batch * seq**2 * embed + 2 * ids.size * embed * ff)
    expected_macs += ids.size * embed * vocab
    with no_grad():
        measured_macs = count_macs(lambda: model(ids))
    counted_parameters, counted_bytes = count_parameters(model), model_bytes(model)
    float_bytes = total_bytes(model)

    # int8: the bytes of what each quantized layer stores in place of its weight.
    linears = {path: m for path, m in submodules(model) if isinstance(m, Linear)}
    float_weight_bytes = sum(m.weight.data.nbytes for m in linears.values())
    quantized = quantize_model(model)
    quantized_layers = dict(submodules(quantized))
    int8_weight_bytes, not_int8 = 0, []
    for path, linear in linears.items():
        stored = [(name, a) for name, a in arrays(quantized_layers[path]) if name != "bias"]
        int8_weight_bytes += sum(a.nbytes for _, a in stored)
        if not any(a.dtype == np.int8 and a.shape == linear.weight.shape for _, a in stored):
            not_int8.append(f"{path} stores {[(n, a.dtype.name, a.shape) for n, a in stored]}")
    int8_accuracy = accuracy(quantized)

    # Pruning: zeros counted in the weights, right after pruning and after a fine-tune.
    pruned = prune_model(copy.deepcopy(model), 0.5)
    pruned_layers = dict(submodules(pruned))

    def zero_fraction():
        weights = [pruned_layers[path].weight.data for path in linears]
        return sum(int(np.count_nonzero(w == 0)) for w in weights) / sum(w.size for w in weights)

    sparsity_after_pruning = zero_fraction()
    train_steps(pruned, Adam(pruned.parameters(), lr=0.003), [0.003] * 50)
    sparsity, pruned_accuracy = zero_fraction(), accuracy(pruned)

    # KV cache: 64 new tokens for 8 prompts; each block's query projection counts the
    # positions it processes at every step.
    prompts, new_tokens = held_out[:8, :digits + 1], 64
    counts = [[] for _ in model.blocks]
    for calls, block in zip(counts, model.blocks):
        layer, forward = block.attn.q_proj, block.attn.q_proj.forward
        layer.forward = lambda x, calls=calls, forward=forward: calls.append(int(np.prod(x.shape[:-1]))) or forward(x)
    generated, positions, timings = {}, {}, {}
    for use_cache in (False, True):
        for calls in counts:
            calls.clear()
        timings[use_cache] = benchmark(f"generate, use_cache={use_cache}", lambda: generated.__setitem__(
            use_cache, model.generate(prompts, new_tokens, greedy=True, use_cache=use_cache).data), repeat=1, warmup=0)
        positions[use_cache] = [list(calls) for calls in counts]
    for block in model.blocks:
        del block.attn.q_proj.forward
    plain, cached = generated[False], generated[True]
    tokens_identical = float(np.mean(cached == plain)) if cached.shape == plain.shape else 0.0
    per_new_token = [n for calls in positions[True] for n in calls[1:]]  # after the prompt
    one_position = float(np.mean([n == len(prompts) for n in per_new_token])) if per_new_token else 0.0
    cache_bytes = KVCache.for_model(model, len(prompts)).nbytes

    # The harness times every variant the same way, in alternating rounds so that all see
    # the same machine load (metrics, not bars); its percentiles must be those of its own
    # raw timings.
    fused = fuse_for_inference(model)
    inputs = held_out[:64, :-1]
    networks = {"float32": model, "int8": quantized, "pruned": pruned, "fused": fused}
    with no_grad():
        fused_error = float(np.abs(fused(inputs).data - model(inputs).data).max())
        rounds = [[benchmark(name, lambda network=network: network(inputs), items=len(inputs), repeat=1, warmup=1)
                   for name, network in networks.items()] for _ in range(7)]
    results = [BenchmarkResult(name, np.concatenate([r[i].times for r in rounds]), items=len(inputs))
               for i, name in enumerate(networks)]
    for result in [r for round_results in rounds for r in round_results] + list(timings.values()):
        assert np.allclose([result.latency[k] for k in ("p50", "p90", "p99")],
                           np.percentile(result.times, [50, 90, 99]) * 1e3), f"{result.name}: wrong percentiles"
    median = {result.name: float(np.median(result.times)) for result in results}
    sorted_by_generation = np.all(cached[:, digits + 1:2 * digits + 1] == np.sort(prompts[:, :digits], axis=1), axis=1)

    profile_counts_match = float(counted_parameters == expected_parameters
                                 and counted_bytes == float_bytes == 4 * expected_parameters
                                 and measured_macs == expected_macs)
    run.finish(
        accuracy=float_accuracy, initial_accuracy=initial_accuracy, held_out_sequences=len(held_out),
        parameters=counted_parameters, macs_per_token=measured_macs // ids.size,
        profile_counts_match=profile_counts_match,
        int8_accuracy=int8_accuracy, int8_accuracy_drop=float_accuracy - int8_accuracy,
        int8_weight_fraction=int8_weight_bytes / float_weight_bytes,
        int8_size_reduction=float_bytes / total_bytes(quantized),
        sparsity=min(sparsity_after_pruning, sparsity), pruned_accuracy=pruned_accuracy,
        pruned_accuracy_drop=float_accuracy - pruned_accuracy,
        kv_cache_tokens_identical=tokens_identical, kv_cache_one_position_per_token=one_position,
        cached_positions=sum(positions[True][0]), uncached_positions=sum(positions[False][0]),
        kv_cache_bytes=cache_bytes, kv_cache_speedup=float(timings[False].times.sum() / timings[True].times.sum()),
        int8_speedup=median["float32"] / median["int8"], pruned_speedup=median["float32"] / median["pruned"],
        fused_speedup=median["float32"] / median["fused"], sorted_by_generation=float(np.mean(sorted_by_generation)),
        system=system,
    )
    assert_learned(run.losses, params, before, min_drop=0.5)
    assert float_accuracy >= 0.9, f"The GPT sorts only {float_accuracy:.1%} of held-out digits (90 % required)."
    assert counted_parameters == expected_parameters, (
        f"count_parameters says {counted_parameters:,}; the GPT has {expected_parameters:,} parameters."
    )
    assert counted_bytes == float_bytes == 4 * expected_parameters, (
        f"model_bytes says {counted_bytes:,}; the GPT's float32 arrays hold {float_bytes:,} bytes."
    )
    assert measured_macs == expected_macs, (
        f"The profiler counted {measured_macs:,} multiply-adds for a forward pass; on paper it is {expected_macs:,}."
    )
    assert not not_int8, f"Quantized layers hold no int8 array of their weight's shape: {not_int8[:2]}"
    assert int8_weight_bytes <= 0.30 * float_weight_bytes, (
        f"The int8 model stores its Linear weights in {int8_weight_bytes:,} bytes, "
        f"{int8_weight_bytes / float_weight_bytes:.0%} of float32's {float_weight_bytes:,} (at most 30 %)."
    )
    assert int8_accuracy >= float_accuracy - 0.01, (
        f"Quantized to int8 the GPT sorts {int8_accuracy:.1%} (float32: {float_accuracy:.1%}; 1 point allowed)."
    )
    assert min(sparsity_after_pruning, sparsity) >= 0.5, (
        f"Pruning left {sparsity_after_pruning:.1%} of the weights zero, {sparsity:.1%} after fine-tuning (50 % required)."
    )
    assert pruned_accuracy >= float_accuracy - 0.02, (
        f"Pruned and fine-tuned the GPT sorts {pruned_accuracy:.1%} (float32: {float_accuracy:.1%}; 2 points allowed)."
    )
    assert fused_error <= 1e-3, f"The fused model's logits differ from the float model's by up to {fused_error}."
    assert tokens_identical == 1.0, "generate(use_cache=True) returned other tokens than uncached greedy generation."
    assert positions[False][0] == [len(prompts) * (digits + 1 + step) for step in range(new_tokens)], (
        f"Without the cache each step must process the whole sequence, not {positions[False][0][:5]} ... positions."
    )
    expected_steps = [len(prompts) * (digits + 1)] + [len(prompts)] * (new_tokens - 1)
    assert all(calls == expected_steps for calls in positions[True]), (
        "With the KV cache each new token must cost one position per sequence in every block; the blocks "
        f"processed {[calls[:5] for calls in positions[True]]} ... positions per step."
    )
    assert cache_bytes == 2 * layers * len(prompts) * embed * max_len * 4, f"KVCache holds {cache_bytes:,} bytes."
    run.assert_required()
    run.complete()
