"""PyTorch semantics of tinytorch's samplers, IterableDataset, StackDataset, DataLoader's sampler= and
batch_sampler=, and tinytorch.nn.utils.rnn (pad_sequence): exact against PyTorch wherever the result is
deterministic; for random samplers, the sets, lengths, frequencies and reproducibility (NumPy's random
numbers cannot be PyTorch's).
"""

import sys
from collections import Counter

import numpy as np
import pytest

import tinytorch
from gradcheck import assert_gradients_match, assert_matches_torch, normal, torch
from tinytorch.core.tensor import Tensor
from tinytorch.data.loader import (
    BatchSampler, DataLoader, Dataset, IterableDataset, RandomSampler, Sampler, SequentialSampler, StackDataset,
    SubsetRandomSampler, TensorDataset, WeightedRandomSampler, get_worker_info,
)
from tinytorch.nn.utils.rnn import (
    pack_padded_sequence, pack_sequence, pad_packed_sequence, pad_sequence, unpad_sequence,
)


def _labels(loader):
    """The second array of every batch, as lists (the dataset's labels are its indices)."""
    return [batch[1].data.tolist() for batch in loader]


def _torch_labels(loader):
    return [batch[1].tolist() for batch in loader]


def _pair(th, n=10):
    """The same dataset twice: (features, label = index), tinytorch's and PyTorch's."""
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return TensorDataset(x, np.arange(n)), th.utils.data.TensorDataset(th.tensor(x), th.arange(n))


def _error_type(make):
    """The type of the exception that building and exhausting make() raises (None if it succeeds)."""
    try:
        result = make()
        if hasattr(result, "__iter__"):
            list(result)
    except Exception as err:  # noqa: BLE001 - the type is the answer
        return type(err)
    return None


# ---------------------------------------------------------------------------------------
# Deterministic samplers: exactly PyTorch's


@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False),
                                                      (2, 5, True), (0, 2, False)])
def test_sequential_and_batch_samplers_equal_torch(n, batch_size, drop_last):
    th = torch()
    data = list(range(n))
    ours, theirs = SequentialSampler(data), th.utils.data.SequentialSampler(data)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)
    ours = BatchSampler(ours, batch_size, drop_last)
    theirs = th.utils.data.BatchSampler(theirs, batch_size, drop_last)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)
    assert list(BatchSampler([5, 1, 4], 2, drop_last)) == list(th.utils.data.BatchSampler([5, 1, 4], 2, drop_last))
    assert all(isinstance(s, Sampler) for s in (ours, SequentialSampler(data), RandomSampler(data or [0])))


@pytest.mark.parametrize("make", [
    lambda m: m.BatchSampler(range(4), 0, False),
    lambda m: m.BatchSampler(range(4), True, False),
    lambda m: m.BatchSampler(range(4), 2.0, False),
    lambda m: m.BatchSampler(range(4), 2, 1),
    lambda m: m.RandomSampler(range(4), replacement=1),
    lambda m: m.RandomSampler(range(4), num_samples=0),
    lambda m: m.RandomSampler(range(4), num_samples=2.5),
    lambda m: m.RandomSampler([]),
    lambda m: m.WeightedRandomSampler([1.0, 2.0], 0),
    lambda m: m.WeightedRandomSampler([1.0, 2.0], True),
    lambda m: m.WeightedRandomSampler([1.0, 2.0], 2, replacement=0),
    lambda m: m.WeightedRandomSampler([[1.0, 2.0]], 2),
    lambda m: m.WeightedRandomSampler([1.0, -2.0], 2),
    lambda m: m.WeightedRandomSampler([3.0, -1.0], 2),
    lambda m: m.WeightedRandomSampler([0.0, 0.0], 2),
    lambda m: m.WeightedRandomSampler([1.0, float("nan")], 2),
    lambda m: m.WeightedRandomSampler([1.0, 2.0], 3, replacement=False),
    lambda m: m.Sampler().__iter__(),
])
def test_sampler_argument_errors_have_torchs_types(make):
    th = torch()
    import tinytorch.data.loader as ours

    expected = _error_type(lambda: make(th.utils.data))
    assert expected is not None
    assert _error_type(lambda: make(ours)) is expected


def test_torch_style_integers_and_messages():
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        BatchSampler(range(3), 1, None)
    with pytest.raises(ValueError, match=r"weights should be a 1d sequence but given weights have shape \(1, 2\)"):
        WeightedRandomSampler([[1.0, 2.0]], 2)
    assert list(BatchSampler(range(3), np.int64(2), False)) == [[0, 1], [2]], "NumPy integers are integers here"


# ---------------------------------------------------------------------------------------
# Random samplers: sets, lengths, frequencies, reproducibility


def test_random_sampler_permutations_lengths_and_seeds():
    th = torch()
    data = list(range(7))
    for kwargs in ({}, {"num_samples": 3}, {"num_samples": 17}, {"replacement": True, "num_samples": 40},
                   {"replacement": True}):
        ours, theirs = RandomSampler(data, generator=0, **kwargs), th.utils.data.RandomSampler(data, **kwargs)
        drawn = list(ours)
        assert len(ours) == len(theirs) == len(drawn) == len(list(theirs)) == ours.num_samples == theirs.num_samples
        assert all(type(i) is int and 0 <= i < 7 for i in drawn)
        if not kwargs.get("replacement"):
            for start in range(0, len(drawn), 7):  # whole permutations, the last one cut short
                chunk = drawn[start:start + 7]
                assert len(set(chunk)) == len(chunk)
            assert sorted(drawn[:7]) == (data if len(drawn) >= 7 else sorted(drawn[:7]))
    assert set(RandomSampler(range(3), replacement=True, num_samples=200, generator=1)) == {0, 1, 2}
    independent = list(RandomSampler(range(100), replacement=True, generator=2))
    assert 50 < len(set(independent)) < 80, "100 draws from 100 with replacement: about 63 distinct"
    epochs = RandomSampler(range(20), generator=5)
    first, second = list(epochs), list(epochs)
    assert first != second, "a new order every epoch"
    again = RandomSampler(range(20), generator=np.random.default_rng(5))
    assert [list(again), list(again)] == [first, second], "an int seed or a Generator: the same sequence of orders"
    tinytorch.manual_seed(3)
    global_draw = list(RandomSampler(range(20)))
    tinytorch.manual_seed(3)
    assert list(RandomSampler(range(20))) == global_draw, "without a generator: the seed of tinytorch.manual_seed"
    assert sorted(global_draw) == list(range(20))


def test_subset_random_sampler_keeps_the_given_indices():
    th = torch()
    indices = [7, 2, 9, 4]
    ours, theirs = SubsetRandomSampler(indices, generator=0), th.utils.data.SubsetRandomSampler(indices)
    assert len(ours) == len(theirs) == 4 and sorted(ours) == sorted(theirs) == [2, 4, 7, 9]
    assert all(type(i) is int for i in ours)
    assert list(SubsetRandomSampler(indices, generator=3)) == list(SubsetRandomSampler(indices, generator=3))
    orders = {tuple(SubsetRandomSampler(indices)) for _ in range(30)}
    assert len(orders) > 1, "shuffled"
    ds = TensorDataset(np.arange(10.0), np.arange(10))
    loader = DataLoader(ds, batch_size=2, sampler=SubsetRandomSampler(indices, generator=1))
    assert sorted(sum(_labels(loader), [])) == [2, 4, 7, 9] and len(loader) == 2


def test_weighted_random_sampler_frequencies_and_no_replacement():
    th = torch()
    weights = [0.0, 1.0, 0.0, 3.0, 4.0]
    ours, theirs = WeightedRandomSampler(weights, 8000, generator=0), th.utils.data.WeightedRandomSampler(weights, 8000)
    counts = Counter(ours)
    assert len(ours) == len(theirs) == 8000 and set(counts) == set(Counter(list(theirs))) == {1, 3, 4}
    np.testing.assert_allclose([counts[i] / 8000 for i in (1, 3, 4)], [0.125, 0.375, 0.5], atol=0.025)
    np.testing.assert_array_equal(ours.weights.data, theirs.weights.numpy())
    assert ours.weights.dtype == np.float64 and ours.replacement is True
    # without replacement: distinct; the first pick follows the weights; zero weights only after the rest
    firsts = Counter(next(iter(WeightedRandomSampler([1.0, 3.0], 1, replacement=False, generator=g)))
                     for g in np.random.default_rng(0).integers(1 << 30, size=4000).tolist())
    assert abs(firsts[1] / 4000 - 0.75) < 0.03
    for g in range(20):
        drawn = list(WeightedRandomSampler([2.0, 0.0, 5.0, 0.0, 1.0], 5, replacement=False, generator=g))
        assert sorted(drawn) == [0, 1, 2, 3, 4] and set(drawn[:3]) == {0, 2, 4}
        torch_drawn = list(th.utils.data.WeightedRandomSampler([2.0, 0.0, 5.0, 0.0, 1.0], 5, replacement=False))
        assert set(torch_drawn[:3]) == {0, 2, 4}
    assert list(WeightedRandomSampler(Tensor([1.0, 2.0]), 6, generator=4)) == \
        list(WeightedRandomSampler(np.array([1.0, 2.0]), 6, generator=np.random.default_rng(4)))


# ---------------------------------------------------------------------------------------
# DataLoader with sampler= / batch_sampler=


@pytest.mark.parametrize("sampler, batch_size, drop_last", [
    ([9, 0, 5, 5, 2], 2, False), ([9, 0, 5, 5, 2], 2, True), ([3], 4, False), (range(9, -1, -3), 3, False),
])
def test_dataloader_with_a_sampler_fetches_its_indices_like_torch(sampler, batch_size, drop_last):
    th = torch()
    ours, theirs = _pair(th)
    ours = DataLoader(ours, batch_size=batch_size, sampler=sampler, drop_last=drop_last)
    theirs = th.utils.data.DataLoader(theirs, batch_size=batch_size, sampler=sampler, drop_last=drop_last)
    assert _labels(ours) == _torch_labels(theirs) and len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a[0].data, b[0].numpy())
    assert ours.sampler is sampler and isinstance(ours.batch_sampler, BatchSampler)
    assert (ours.batch_size, ours.drop_last) == (theirs.batch_size, theirs.drop_last)


def test_dataloader_with_a_batch_sampler_like_torch():
    th = torch()
    ours, theirs = _pair(th)
    batches = [[3, 1], [0, 0, 7], [9]]
    ours, theirs = DataLoader(ours, batch_sampler=batches), th.utils.data.DataLoader(theirs, batch_sampler=batches)
    assert _labels(ours) == _torch_labels(theirs) == batches and len(ours) == len(theirs) == 3
    assert ours.batch_size is theirs.batch_size is None and ours.drop_last is theirs.drop_last is False
    assert ours.batch_sampler is batches
    grouped = BatchSampler(SequentialSampler(range(10)), 4, drop_last=True)
    ours, theirs = _pair(th)
    assert _labels(DataLoader(ours, batch_sampler=grouped)) == \
        _torch_labels(th.utils.data.DataLoader(theirs, batch_sampler=grouped)) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_sampler_indices_reach_any_dataset_and_collate_fn():
    class Keyed(Dataset):  # PyTorch's map-style datasets may take keys other than 0..n-1
        def __getitem__(self, key):
            return {"key": key, "value": len(key)}

        def __len__(self):
            return 3

    batch = next(iter(DataLoader(Keyed(), batch_size=3, sampler=["ab", "c", "def"])))
    assert batch["key"] == ["ab", "c", "def"] and batch["value"].data.tolist() == [2, 1, 3]
    ds = TensorDataset(np.arange(6.0), np.arange(6))
    assert list(DataLoader(ds, batch_sampler=[[4, 2]], collate_fn=len)) == [2]


def test_default_samplers_are_the_loaders_own_orders():
    th = torch()
    ours, theirs = _pair(th)
    plain, reference = DataLoader(ours, batch_size=4), th.utils.data.DataLoader(theirs, batch_size=4)
    assert type(plain.sampler).__name__ == type(reference.sampler).__name__ == "SequentialSampler"
    assert list(plain.batch_sampler) == list(reference.batch_sampler) and len(plain.batch_sampler) == 3
    shuffled = DataLoader(ours, batch_size=4, shuffle=True, seed=7, drop_last=True)
    assert isinstance(shuffled.sampler, RandomSampler) and len(shuffled.batch_sampler) == len(shuffled) == 2
    twin = DataLoader(ours, batch_size=4, shuffle=True, seed=7, drop_last=True)
    assert _labels(shuffled) == list(twin.batch_sampler), "loader.batch_sampler gives the loader's own batches"
    assert _labels(shuffled) == list(twin.batch_sampler), "... epoch after epoch"
    tinytorch.manual_seed(2)
    from_loader = _labels(DataLoader(ours, batch_size=10, shuffle=True))
    tinytorch.manual_seed(2)
    assert from_loader == [list(DataLoader(ours, batch_size=10, shuffle=True).sampler)]


@pytest.mark.parametrize("kwargs", [
    {"sampler": [0, 1], "shuffle": True},
    {"batch_sampler": [[0, 1]], "batch_size": 2},
    {"batch_sampler": [[0, 1]], "shuffle": True},
    {"batch_sampler": [[0, 1]], "sampler": [0, 1]},
    {"batch_sampler": [[0, 1]], "drop_last": True},
])
def test_dataloader_refuses_what_torch_refuses(kwargs):
    th = torch()
    ours, theirs = _pair(th)
    with pytest.raises(ValueError, match="mutually exclusive") as torch_error:
        th.utils.data.DataLoader(theirs, **kwargs)
    with pytest.raises(ValueError, match="mutually exclusive") as our_error:
        DataLoader(ours, **kwargs)
    assert str(our_error.value) == str(torch_error.value)
    with pytest.raises(NotImplementedError, match="batch_size=None"):
        DataLoader(ours, batch_size=None)


# ---------------------------------------------------------------------------------------
# IterableDataset, StackDataset, get_worker_info


def _streams(th, n=7, sized=False):
    class Ours(IterableDataset):
        def __iter__(self):
            return ((np.float32(i) / 2, i) for i in range(n))

    class Theirs(th.utils.data.IterableDataset):
        def __iter__(self):
            return ((np.float32(i) / 2, i) for i in range(n))

    if sized:
        Ours.__len__ = Theirs.__len__ = lambda self: n
    return Ours(), Theirs()


@pytest.mark.parametrize("batch_size, drop_last", [(3, False), (3, True), (7, False), (10, True), (1, False)])
def test_iterable_dataset_batches_in_stream_order_like_torch(batch_size, drop_last):
    th = torch()
    ours, theirs = _streams(th)
    ours = list(DataLoader(ours, batch_size=batch_size, drop_last=drop_last))
    theirs = list(th.utils.data.DataLoader(theirs, batch_size=batch_size, drop_last=drop_last))
    assert len(ours) == len(theirs)
    for (x, y), (tx, ty) in zip(ours, theirs):
        np.testing.assert_array_equal(x.data, tx.numpy())
        assert y.data.tolist() == ty.tolist() and y.dtype == np.int64


def test_iterable_dataset_length_options_and_collate():
    th = torch()
    ours, theirs = _streams(th)
    assert isinstance(ours, Dataset)
    for make in (len, lambda d: len(DataLoader(d, batch_size=2)) if isinstance(d, IterableDataset)
                 else len(th.utils.data.DataLoader(d, batch_size=2))):
        with pytest.raises(TypeError):
            make(ours)
        with pytest.raises(TypeError):
            make(theirs)
    sized, sized_torch = _streams(th, sized=True)
    for drop_last in (False, True):
        assert len(DataLoader(sized, batch_size=3, drop_last=drop_last)) == \
            len(th.utils.data.DataLoader(sized_torch, batch_size=3, drop_last=drop_last))
    for name, value in (("shuffle", True), ("sampler", [0]), ("batch_sampler", [[0]])):
        with pytest.raises(ValueError, match=f"expected unspecified {name} option") as torch_error:
            th.utils.data.DataLoader(theirs, **{name: value})
        with pytest.raises(ValueError, match=f"expected unspecified {name} option") as our_error:
            DataLoader(ours, **{name: value})
        assert str(our_error.value) == str(torch_error.value)
    assert DataLoader(ours, shuffle=False).sampler is None
    assert list(DataLoader(ours, batch_size=3, collate_fn=lambda b: [y for _, y in b])) == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(NotImplementedError):
        iter(IterableDataset())


def test_stack_dataset_like_torch():
    th = torch()
    images, labels = np.arange(8.0).reshape(4, 2), np.arange(4) * 10
    ours = StackDataset(TensorDataset(images), labels)
    theirs = th.utils.data.StackDataset(th.utils.data.TensorDataset(th.tensor(images)), labels)
    assert len(ours) == len(theirs) == 4
    assert ours[2][0][0].data.tolist() == theirs[2][0][0].tolist() and ours[2][1] == theirs[2][1] == 20
    (x,), y = next(iter(DataLoader(ours, batch_size=3)))
    (tx,), ty = next(iter(th.utils.data.DataLoader(theirs, batch_size=3)))
    np.testing.assert_array_equal(x.data, tx.numpy())
    assert y.data.tolist() == ty.tolist() == [0, 10, 20]
    named, named_torch = StackDataset(x=images, y=labels), th.utils.data.StackDataset(x=images, y=labels)
    assert set(named[1]) == set(named_torch[1]) == {"x", "y"} and named[1]["y"] == named_torch[1]["y"]
    batch = next(iter(DataLoader(named, batch_size=4)))
    assert batch["x"].shape == (4, 2) and batch["y"].data.tolist() == [0, 10, 20, 30]
    for args, kwargs in (((images,), {"y": labels}), ((images, labels[:3]), {}), ((), {}), ((), {"a": [1], "b": []})):
        with pytest.raises(ValueError):
            th.utils.data.StackDataset(*args, **kwargs)
        with pytest.raises(ValueError):
            StackDataset(*args, **kwargs)


def test_get_worker_info_is_none_in_process():
    th = torch()
    assert get_worker_info() is None and th.utils.data.get_worker_info() is None
    from tinytorch.utils.data import SequentialSampler as from_utils
    assert from_utils is SequentialSampler and tinytorch.data.get_worker_info is get_worker_info


# ---------------------------------------------------------------------------------------
# tinytorch.nn.utils.rnn


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("lengths, trailing", [((3, 1, 4), ()), ((2, 5), (3,)), ((1,), (2, 2)), ((0, 2), (2,))])
def test_pad_sequence_values_and_gradients_match_torch(batch_first, padding_side, lengths, trailing):
    th = torch()
    arrays = [normal(length, *trailing) for length in lengths]
    assert_matches_torch(
        lambda *s: pad_sequence(list(s), batch_first=batch_first, padding_value=-2.5, padding_side=padding_side),
        lambda *s: th.nn.utils.rnn.pad_sequence(list(s), batch_first=batch_first, padding_value=-2.5,
                                                padding_side=padding_side),
        *arrays)


def test_pad_sequence_gradient_against_finite_differences_and_dtypes():
    assert_gradients_match(lambda a, b: pad_sequence([a, b], padding_side="left"), normal(2, 3), normal(4, 3))
    th = torch()
    ints = [np.array([1, 2, 3]), np.array([4])]
    ours = pad_sequence([Tensor(a, dtype=a.dtype) for a in ints], batch_first=True, padding_value=9)
    theirs = th.nn.utils.rnn.pad_sequence([th.tensor(a) for a in ints], batch_first=True, padding_value=9)
    assert ours.dtype == np.int64 and ours.data.tolist() == theirs.tolist()
    mixed = pad_sequence([Tensor([1.5, 2.0], dtype=np.float32), Tensor([3.0], dtype=np.float64)])
    reference = th.nn.utils.rnn.pad_sequence([th.tensor([1.5, 2.0]), th.tensor([3.0], dtype=th.float64)])
    assert mixed.dtype == reference.numpy().dtype == np.float32, "the first sequence's dtype"
    whole = normal(3, 2)
    np.testing.assert_array_equal(pad_sequence(Tensor(whole, dtype=np.float64)).data,
                                  th.nn.utils.rnn.pad_sequence(th.tensor(whole)).numpy())


@pytest.mark.parametrize("make", [
    lambda m, T: m.pad_sequence([]),
    lambda m, T: m.pad_sequence([T(np.zeros((2, 3))), T(np.zeros((2, 4)))]),
    lambda m, T: m.pad_sequence([T(np.zeros(2))], padding_side="middle"),
])
def test_pad_sequence_errors_have_torchs_types(make):
    th = torch()
    import tinytorch.nn.utils.rnn as ours

    expected = _error_type(lambda: make(th.nn.utils.rnn, th.tensor))
    assert expected is not None and _error_type(lambda: make(ours, Tensor)) is expected
    with pytest.raises(RuntimeError, match="Expected padding_side to be one of left or right, but got middle."):
        pad_sequence([Tensor([1.0])], padding_side="middle")
    with pytest.raises(TypeError):
        pad_sequence([[1.0, 2.0]])


def test_unpad_sequence_and_refused_packing():
    th = torch()
    arrays = [normal(3, 2), normal(1, 2), normal(2, 2)]
    for batch_first in (False, True):
        padded = pad_sequence([Tensor(a, dtype=np.float64) for a in arrays], batch_first=batch_first)
        theirs = th.nn.utils.rnn.unpad_sequence(th.tensor(padded.data), th.tensor([3, 1, 2]), batch_first=batch_first)
        ours = unpad_sequence(padded, Tensor([3, 1, 2], dtype=np.int64), batch_first=batch_first)
        assert len(ours) == 3
        for a, b, c in zip(ours, theirs, arrays):
            np.testing.assert_array_equal(a.data, b.numpy())
            np.testing.assert_array_equal(a.data, c)
    for refused in (lambda: pack_padded_sequence(Tensor(np.zeros((3, 2))), [3, 1]),
                    lambda: pad_packed_sequence(None), lambda: pack_sequence([Tensor([1.0])])):
        with pytest.raises(NotImplementedError, match="padded"):
            refused()


def test_rnn_namespace_is_importable_like_torchs():
    import tinytorch.nn.utils
    import tinytorch.nn.utils.rnn as rnn

    assert rnn is tinytorch.nn.utils.rnn is sys.modules["tinytorch.nn.utils.rnn"]
    assert rnn.pad_sequence is pad_sequence and set(rnn.__all__) >= {"pad_sequence", "pack_padded_sequence",
                                                                     "pad_packed_sequence"}
    assert rnn.__name__ == "tinytorch.nn.utils.rnn"
