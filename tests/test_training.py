"""Module 04 (training): DataLoader, accuracy, Trainer, checkpoints."""

import sys

import numpy as np
import pytest

from tinytorch.core.autograd import is_grad_enabled
from tinytorch.core.tensor import Tensor
from tinytorch.core.training import Trainer, accuracy, load_state_dict, save_state_dict
from tinytorch.data.loader import DataLoader, TensorDataset
from tinytorch.nn.modules import CrossEntropyLoss, Linear, Module, MSELoss, ReLU, Sequential
from tinytorch.optim.adam import Adam
from tinytorch.optim.sgd import SGD


def _dataset(n=10):
    x = np.arange(n * 2, dtype=np.float64).reshape(n, 2)
    return TensorDataset(x, np.arange(n))


class _Probe(Module):
    """A Linear layer that calls ``record(self)`` on every forward pass."""

    def __init__(self, in_features, out_features, record):
        super().__init__()
        self.fc = Linear(in_features, out_features)
        self._record = record

    def forward(self, x):
        self._record(self)
        return self.fc(x)


# ---------------------------------------------------------------------------------------
# TensorDataset and DataLoader


def test_dataset_items_and_tensor_inputs():
    ds = TensorDataset(Tensor(np.ones((3, 2))), np.array([4, 5, 6]))
    assert len(ds) == 3
    x, y = ds[1]
    assert isinstance(x, Tensor) and x.shape == (2,) and y.item() == 5
    assert np.issubdtype(y.dtype, np.integer)
    with pytest.raises(ValueError, match="same length"):
        TensorDataset(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError):
        TensorDataset()


@pytest.mark.parametrize("n, batch, drop_last, sizes", [
    (10, 4, False, [4, 4, 2]), (10, 4, True, [4, 4]), (8, 4, False, [4, 4]), (3, 5, False, [3]), (3, 5, True, []),
])
def test_batches_and_len(n, batch, drop_last, sizes):
    loader = DataLoader(_dataset(n), batch_size=batch, drop_last=drop_last)
    assert len(loader) == len(sizes)
    batches = list(loader)
    assert [len(y) for _, y in batches] == sizes
    if not drop_last:  # without shuffle, order is kept and nothing is lost
        assert np.concatenate([y.data for _, y in batches]).tolist() == list(range(n))


def test_batches_are_tensors_with_kept_label_dtype():
    x, y = next(iter(DataLoader(_dataset(), batch_size=3)))
    assert isinstance(x, Tensor) and isinstance(y, Tensor)
    assert x.dtype == np.float32 and x.shape == (3, 2)
    assert y.dtype == np.int64


def test_shuffle_with_seed_is_reproducible_and_changes_every_epoch():
    loader = DataLoader(_dataset(50), batch_size=50, shuffle=True, seed=3)
    epochs = [next(iter(loader))[1].data.tolist() for _ in range(3)]
    assert all(sorted(order) == list(range(50)) for order in epochs)
    assert epochs[0] != epochs[1] != epochs[2]
    again = DataLoader(_dataset(50), batch_size=50, shuffle=True, seed=3)
    assert [next(iter(again))[1].data.tolist() for _ in range(3)] == epochs
    other = DataLoader(_dataset(50), batch_size=50, shuffle=True, seed=4)
    assert next(iter(other))[1].data.tolist() != epochs[0]


def test_shuffle_keeps_inputs_with_their_labels():
    for x, y in DataLoader(_dataset(20), batch_size=7, shuffle=True, seed=0):
        np.testing.assert_array_equal(x.data[:, 0], 2 * y.data)


def test_unseeded_shuffle_follows_numpy_global_seed():
    def order():
        return next(iter(DataLoader(_dataset(30), batch_size=30, shuffle=True)))[1].data.tolist()

    np.random.seed(11)
    first = order()
    np.random.seed(11)
    assert order() == first
    assert first != list(range(30))


def test_any_indexable_dataset_is_collated():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float64), i

    batches = list(DataLoader(Squares(), batch_size=2))
    assert [b[0].shape for b in batches] == [(2, 2), (2, 2), (1, 2)]
    assert batches[1][0].data.tolist() == [[2, 4], [3, 9]]
    assert np.issubdtype(batches[1][1].dtype, np.integer) and batches[1][1].data.tolist() == [2, 3]


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_dataset(), batch_size=0)


# ---------------------------------------------------------------------------------------
# accuracy


def test_accuracy_multiclass_and_binary():
    assert accuracy(Tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), Tensor([1, 0, 0], dtype=np.int64)) == pytest.approx(2 / 3)
    assert accuracy(np.array([[5.0, -1.0, 2.0]]), np.array([0])) == 1.0  # logits work like probabilities
    assert accuracy(Tensor([[0.9], [0.4]]), np.array([[1.0], [1.0]])) == 0.5
    assert accuracy(np.array([0.2, 0.6, 0.51]), np.array([0, 1, 0])) == pytest.approx(2 / 3)
    seq = np.zeros((2, 3, 4))
    seq[..., 1] = 1.0
    assert accuracy(seq, np.ones((2, 3), dtype=np.int64)) == 1.0  # (N, T, C) scores, (N, T) labels


# ---------------------------------------------------------------------------------------
# Trainer


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    labels = rng.integers(0, 3, 150)
    return (centers[labels] + rng.normal(scale=0.7, size=(150, 2))).astype(np.float32), labels


def test_fit_learns_and_records_history():
    np.random.seed(0)
    x, y = _blobs()
    model = Sequential(Linear(2, 16), ReLU(), Linear(16, 3))
    trainer = Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1, momentum=0.9))
    calls = []
    history = trainer.fit(
        DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=0), epochs=8,
        val_loader=DataLoader(TensorDataset(x, y), batch_size=64),
        callback=lambda epoch, stats: calls.append((epoch, stats)),
    )
    assert list(history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(values) == 8 for values in history.values())
    assert [epoch for epoch, _ in calls] == list(range(1, 9))
    assert calls[-1][1] == {key: values[-1] for key, values in history.items()}
    assert history["loss"][-1] < 0.3 * history["loss"][0]
    assert history["val_accuracy"][-1] >= 0.95
    assert history["val_accuracy"][-1] == trainer.evaluate(DataLoader(TensorDataset(x, y), batch_size=7))["accuracy"]


def test_fit_epoch_loss_is_the_example_weighted_mean():
    class Constant(Module):  # predicts 0 everywhere; its loss is known in closed form
        def __init__(self):
            super().__init__()
            self.fc = Linear(1, 1)

        def forward(self, x):
            return self.fc(x) * 0.0

    x = np.zeros((5, 1))
    y = np.arange(5, dtype=np.float64).reshape(5, 1)
    model = Constant()
    trainer = Trainer(model, MSELoss(), SGD(model.parameters(), lr=0.0), metric=None)
    history = trainer.fit(DataLoader(TensorDataset(x, y), batch_size=2), epochs=1)
    assert history == {"loss": [pytest.approx(np.mean(y**2))]}  # (0+1)/2, (4+9)/2, 16: weighted by batch size


def test_evaluate_builds_no_graph_and_restores_mode():
    seen = []
    model = _Probe(2, 3, lambda module: seen.append((is_grad_enabled(), module.training)))
    trainer = Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1))
    stats = trainer.evaluate(DataLoader(TensorDataset(np.ones((4, 2)), np.array([0, 1, 2, 0])), batch_size=4))
    assert set(stats) == {"loss", "accuracy"}
    assert seen == [(False, False)]
    assert model.training and is_grad_enabled()
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    trainer.evaluate(DataLoader(TensorDataset(np.ones((4, 2)), np.array([0, 1, 2, 0])), batch_size=4))
    assert not model.training, "evaluate leaves the mode as it found it"


def test_fit_runs_in_training_mode():
    modes = []
    model = _Probe(2, 2, lambda module: modes.append(module.training)).eval()
    Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1)).fit(
        DataLoader(TensorDataset(np.ones((2, 2)), np.array([0, 1])), batch_size=2), epochs=2)
    assert modes == [True, True]


def test_empty_loader_is_a_clear_error():
    model = Linear(2, 2)
    trainer = Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="no batches"):
        trainer.fit(DataLoader(TensorDataset(np.ones((1, 2)), np.array([0])), batch_size=2, drop_last=True), epochs=1)


def test_progress_bar_with_rich(capsys):
    pytest.importorskip("rich")
    model = Linear(2, 2)
    trainer = Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1))
    history = trainer.fit(DataLoader(TensorDataset(np.ones((4, 2)), np.array([0, 1, 0, 1])), batch_size=2),
                          epochs=3, progress=True)
    assert len(history["loss"]) == 3
    assert "3/3" in capsys.readouterr().out


def test_progress_without_rich_still_trains(monkeypatch):
    monkeypatch.setitem(sys.modules, "rich", None)  # `import rich...` now raises ImportError
    monkeypatch.setitem(sys.modules, "rich.progress", None)
    model = Linear(2, 2)
    trainer = Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1))
    history = trainer.fit(DataLoader(TensorDataset(np.ones((4, 2)), np.array([0, 1, 0, 1])), batch_size=2),
                          epochs=2, progress=True)
    assert len(history["loss"]) == 2


def test_tinytorch_does_not_import_rich():
    import subprocess

    code = "import sys, tinytorch; from tinytorch.core.training import Trainer; print('rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ---------------------------------------------------------------------------------------
# Adam on a real problem, and checkpoints


def test_adam_trains_faster_than_plain_sgd_on_a_badly_scaled_problem():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(128, 2)) * np.array([1.0, 20.0])).astype(np.float32)
    y = (x @ np.array([[2.0], [-0.1]]) + 0.5).astype(np.float32)

    def final_loss(make_optimizer):
        np.random.seed(0)
        model = Linear(2, 1)
        opt = make_optimizer(model.parameters())
        for _ in range(150):
            opt.zero_grad()
            loss = MSELoss()(model(Tensor(x)), y)
            loss.backward()
            opt.step()
        return loss.item()

    adam = final_loss(lambda ps: Adam(ps, lr=0.05))
    sgd = final_loss(lambda ps: SGD(ps, lr=0.002))  # near the largest stable rate for the steep axis
    assert adam < 1e-2 and adam < 0.1 * sgd, (adam, sgd)


def test_checkpoint_round_trip(tmp_path):
    np.random.seed(0)
    a = Sequential(Linear(3, 4), ReLU(), Linear(4, 2))
    np.random.seed(1)
    b = Sequential(Linear(3, 4), ReLU(), Linear(4, 2))
    path = tmp_path / "ckpt.npz"
    save_state_dict(a, path)
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(a.state_dict())
    assert load_state_dict(b, path) is b
    x = Tensor(np.random.rand(5, 3))
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_checkpoint_suffix_and_mismatch(tmp_path):
    model = Linear(3, 2)
    save_state_dict(model, tmp_path / "weights")  # NumPy appends .npz
    assert (tmp_path / "weights.npz").is_file()
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        load_state_dict(Linear(4, 2), tmp_path / "weights.npz")
    with pytest.raises(FileNotFoundError):
        load_state_dict(model, tmp_path / "missing.npz")


def test_mlp_benchmark_runs_and_agrees_with_pytorch():
    """A smoke run of benchmarks/bench_mlp.py (it checks that both frameworks compute the
    same first loss from the same weights); no time is asserted."""
    import subprocess

    from conftest import REPO

    script = REPO / "benchmarks" / "bench_mlp.py"
    result = subprocess.run(
        [sys.executable, str(script), "--optimizer", "adam", "--repeat", "5", "--warmup", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "train step (adam): tinytorch" in result.stdout
