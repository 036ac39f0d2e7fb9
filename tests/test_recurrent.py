"""tinytorch.nn's recurrent layers (module 06, given): RNN, LSTM, GRU and their cells give
PyTorch's outputs, final states and gradients (inputs, initial states and every weight) from
the same weights, with PyTorch's parameter names; and backpropagation through time agrees
with finite differences."""

import numpy as np
import pytest

import tinytorch.nn as nn
from gradcheck import assert_gradients_match, normal, torch
from tinytorch.core.tensor import Tensor

CASES = {  # name: (make the layer from a module holding the classes, input shape, initial state shapes or None)
    "rnn": (lambda m: m.RNN(3, 4), (5, 2, 3), None),
    "rnn_relu_two_layers_bidirectional": (lambda m: m.RNN(3, 4, 2, nonlinearity="relu", bidirectional=True),
                                          (5, 2, 3), (4, 2, 4)),
    "lstm": (lambda m: m.LSTM(3, 4), (5, 2, 3), None),
    "lstm_two_layers_bidirectional_batch_first": (lambda m: m.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True),
                                                  (2, 5, 3), ((4, 2, 4), (4, 2, 4))),
    "lstm_unbatched": (lambda m: m.LSTM(3, 4), (5, 3), ((1, 4), (1, 4))),
    "gru": (lambda m: m.GRU(3, 4, num_layers=2), (5, 2, 3), (2, 2, 4)),
    "gru_bidirectional_without_bias": (lambda m: m.GRU(3, 4, bias=False, bidirectional=True), (5, 2, 3), None),
    "rnn_cell": (lambda m: m.RNNCell(3, 4), (2, 3), (2, 4)),
    "lstm_cell": (lambda m: m.LSTMCell(3, 4), (2, 3), ((2, 4), (2, 4))),
    "gru_cell_unbatched": (lambda m: m.GRUCell(3, 4), (3,), (4,)),
}


def _flat(result):
    """The tensors a recurrent layer returns, in order: output, h_n (, c_n)."""
    if not isinstance(result, tuple):
        return [result]
    out, state = result
    return [out] + (list(state) if isinstance(state, tuple) else [state])


def _same_weights(ours, theirs, th):
    with th.no_grad():
        for (name, mine), (their_name, reference) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert name == their_name
            mine.data = mine.data.astype(np.float64)
            reference.copy_(th.tensor(mine.data))


@pytest.mark.parametrize("name", CASES)
def test_recurrent_layers_match_torch(name):
    th = torch()
    make, shape, state_shapes = CASES[name]
    np.random.seed(0)
    ours, theirs = make(nn), make(th.nn).double()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)
    _same_weights(ours, theirs, th)
    x = normal(*shape)
    states = None if state_shapes is None else (
        tuple(normal(*s) for s in state_shapes) if isinstance(state_shapes[0], tuple) else normal(*state_shapes))

    def inputs(wrap):
        made = [wrap(x)] + ([] if states is None else [tuple(map(wrap, states)) if isinstance(states, tuple) else wrap(states)])
        return made

    mine = inputs(lambda a: Tensor(a, dtype=np.float64, requires_grad=True))
    reference = inputs(lambda a: th.tensor(a, requires_grad=True))
    got, expected = _flat(ours(*mine)), _flat(theirs(*reference))
    assert len(got) == len(expected)
    weights = [np.random.default_rng(k).normal(size=e.shape) for k, e in enumerate(expected)]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.data, e.detach().numpy(), atol=1e-10)
    sum((g * Tensor(w, dtype=np.float64)).sum() for g, w in zip(got, weights)).backward()
    sum((e * th.tensor(w)).sum() for e, w in zip(expected, weights)).backward()
    leaves = lambda made: [made[0]] + ([] if states is None else list(made[1]) if isinstance(made[1], tuple) else [made[1]])  # noqa: E731
    for a, b in zip(leaves(mine), leaves(reference)):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), atol=1e-10)
    for (n, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy(), atol=1e-10, err_msg=n)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_backpropagation_through_time_matches_finite_differences(kind):
    np.random.seed(1)
    layer = getattr(nn, kind)(2, 3, num_layers=2, bidirectional=True)
    for p in layer.parameters():
        p.data = p.data.astype(np.float64)
    assert_gradients_match(lambda x: layer(x)[0], normal(4, 2, 2))
    x = Tensor(normal(4, 2, 2), dtype=np.float64)

    def output_for(weight):  # a recurrent weight deep in the stack: its gradient sums over every step
        layer.weight_hh_l1_reverse = weight
        return layer(x)[0]

    assert_gradients_match(output_for, layer.weight_hh_l1_reverse.data.copy())


def test_recurrent_layers_check_their_inputs_and_drop_out_between_layers_in_training():
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size"):
        nn.GRU(3, 4)(Tensor(np.zeros((5, 2, 3))), Tensor(np.zeros((1, 3, 4))))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    np.random.seed(0)
    layer = nn.LSTM(3, 4, num_layers=2, dropout=0.9)
    x = Tensor(np.ones((6, 2, 3)))
    layer.eval()
    first, second = layer(x)[0].data, layer(x)[0].data
    assert np.array_equal(first, second), "no dropout in eval mode"
    layer.train()
    assert not np.array_equal(layer(x)[0].data, first), "dropout between the layers in training"
