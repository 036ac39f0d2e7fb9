"""tinytorch against PyTorch for the torch.nn / torch.nn.functional names added last: the in-place
activations (F.relu_ & co.), the *_with_indices pooling forms, 1-D/3-D unpooling, AdaptiveMaxPool3d,
LPPool3d, ConvTranspose3d, AlphaDropout / FeatureAlphaDropout, F.pdist, TripletMarginWithDistanceLoss,
LazyLinear and the forward-hook options (prepend, with_kwargs, always_call). Values, dtypes, shapes,
gradients of float64 inputs, reprs and exception classes are compared on the same inputs and weights.

Deliberate differences (not tested as equal):
  - LazyLinear before its first call holds a (out_features, 0) Parameter, not an UninitializedParameter.
  - AlphaDropout draws its mask from NumPy's generator: only its statistics and its form are compared.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch.nn as nn
import tinytorch.nn.functional as F
from tinytorch.core.tensor import Tensor

torch = pytest.importorskip("torch")
TF = torch.nn.functional

SOME = settings(derandomize=True, max_examples=25, deadline=None)


def pair(array, requires_grad=False):
    """The same float64 (or int) array as a tinytorch and a torch tensor."""
    array = np.asarray(array)
    return (Tensor(array.copy(), dtype=array.dtype, requires_grad=requires_grad),
            torch.tensor(array.copy(), requires_grad=requires_grad))


def T(array, requires_grad=False):
    """A tinytorch tensor of the array's own dtype (Tensor() alone makes float64 data float32)."""
    array = np.asarray(array)
    return Tensor(array, dtype=array.dtype, requires_grad=requires_grad)


def same(tiny, ref, atol=1e-10):
    ref = ref.detach().numpy()
    assert tiny.shape == ref.shape and tiny.dtype == ref.dtype, (tiny.shape, ref.shape, tiny.dtype, ref.dtype)
    np.testing.assert_allclose(tiny.data, ref, atol=atol, rtol=1e-9)


def backward_both(tiny_out, ref_out, seed=0):
    upstream = np.random.default_rng(seed).normal(size=tuple(ref_out.shape))
    (tiny_out * Tensor(upstream, dtype=tiny_out.dtype)).sum().backward()
    (ref_out * torch.tensor(upstream)).sum().backward()


# ---------------------------------------------------------------- in-place activations

INPLACE = [
    ("relu_", (), {}), ("elu_", (0.7,), {}), ("leaky_relu_", (0.2,), {}), ("hardtanh_", (-0.5, 0.8), {}),
    ("threshold_", (0.1, -2.0), {}), ("selu_", (), {}), ("celu_", (1.3,), {}),
    ("rrelu_", (0.1, 0.3), {"training": False}),
]


@pytest.mark.parametrize("name, args, kwargs", INPLACE)
def test_inplace_activations_write_into_the_input_with_torchs_values_and_gradients(name, args, kwargs):
    x = np.random.default_rng(1).normal(size=(3, 4)) * 2
    tiny_leaf, ref_leaf = pair(x, requires_grad=True)
    tiny, ref = tiny_leaf * 1.0, ref_leaf * 1.0
    tiny_version = tiny._version if hasattr(tiny, "_version") else None
    tiny_out, ref_out = getattr(F, name)(tiny, *args, **kwargs), getattr(TF, name)(ref, *args, **kwargs)
    assert tiny_out is tiny and ref_out is ref
    if tiny_version is not None:
        assert tiny._version > tiny_version
    same(tiny, ref)
    backward_both(tiny, ref)
    # PyTorch's celu_ backward works from the result with 1/alpha in float32: ~1e-8 off its own celu's
    same(tiny_leaf.grad, ref_leaf.grad, atol=1e-7 if name == "celu_" else 1e-10)
    with pytest.raises(RuntimeError):
        getattr(F, name)(Tensor(x, requires_grad=True), *args, **kwargs)
    with pytest.raises(RuntimeError):
        getattr(TF, name)(torch.tensor(x, requires_grad=True), *args, **kwargs)


def test_rrelu_inplace_in_training_draws_slopes_in_range():
    x = Tensor(-np.ones((50, 40)))
    F.rrelu_(x, 0.1, 0.3, training=True)
    assert np.all((x.data <= -0.1 + 1e-12) & (x.data >= -0.3 - 1e-12)) and len(np.unique(x.data)) > 100


# ---------------------------------------------------------------- pooling with indices, unpooling

@SOME
@given(n=st.integers(1, 2), c=st.integers(1, 3), size=st.integers(4, 9), k=st.integers(1, 3),
       s=st.integers(1, 3), p=st.integers(0, 1), seed=st.integers(0, 2 ** 16))
def test_max_pool_with_indices_and_unpool_1d_2d_3d_match_torch(n, c, size, k, s, p, seed):
    p = min(p, k // 2)
    rng = np.random.default_rng(seed)
    for dims in (1, 2, 3):
        shape = (n, c) + (size if dims < 3 else min(size, 5),) * dims
        x = np.round(rng.normal(size=shape), 1)  # ties happen: the first maximum must win in both
        tiny_x, ref_x = pair(x, requires_grad=True)
        tiny_v, tiny_i = getattr(F, f"max_pool{dims}d_with_indices")(tiny_x, k, s, p)
        ref_v, ref_i = getattr(TF, f"max_pool{dims}d_with_indices")(ref_x, k, s, p)
        same(tiny_v, ref_v)
        assert tiny_i.dtype == np.int64 and np.array_equal(tiny_i.data, ref_i.numpy())
        if dims == 2:
            continue  # max_unpool2d is compared in test_spatial_vs_torch_fuzz.py
        try:  # a stride above the kernel can leave an index beyond the default output: PyTorch raises
            ref_u = getattr(TF, f"max_unpool{dims}d")(ref_v, ref_i, k, s, p)
        except RuntimeError:
            with pytest.raises(RuntimeError):
                getattr(F, f"max_unpool{dims}d")(tiny_v, tiny_i, k, s, p)
            continue
        tiny_u = getattr(F, f"max_unpool{dims}d")(tiny_v, tiny_i, k, s, p)
        same(tiny_u, ref_u)
        backward_both(tiny_u, ref_u, seed)
        same(tiny_x.grad, ref_x.grad)


def test_unpooling_layers_output_size_reprs_and_errors_match_torch():
    x = np.random.default_rng(2).normal(size=(2, 3, 8))
    tiny_v, tiny_i = F.max_pool1d(T(x), 2, return_indices=True)
    ref_v, ref_i = TF.max_pool1d(torch.tensor(x), 2, return_indices=True)
    for output_size in [(9,), (2, 3, 9)]:
        same(nn.MaxUnpool1d(2)(tiny_v, tiny_i, output_size=output_size),
             torch.nn.MaxUnpool1d(2)(ref_v, ref_i, output_size=output_size))
    for bad, error in [((20,), ValueError), ((1, 2), ValueError)]:
        with pytest.raises(error):
            TF.max_unpool1d(ref_v, ref_i, 2, output_size=bad)
        with pytest.raises(error):
            F.max_unpool1d(tiny_v, tiny_i, 2, output_size=bad)
    for args in [(tiny_v, Tensor(tiny_i.data * 100, dtype=np.int64)), (tiny_v, Tensor(tiny_i.data[:, :, :2])),
                 (tiny_v, Tensor(tiny_i.data.astype(np.float64)))]:
        with pytest.raises(RuntimeError):
            F.max_unpool1d(*args, 2)
    with pytest.raises(RuntimeError):
        F.max_unpool3d(Tensor(np.zeros((2, 2, 2))), Tensor(np.zeros((2, 2, 2), dtype=np.int64)), 2)
    # unbatched volumes, and an explicit output size
    v = np.random.default_rng(3).normal(size=(2, 4, 5, 4))
    tiny_v3, tiny_i3 = F.max_pool3d(T(v), 2, return_indices=True)
    ref_v3, ref_i3 = TF.max_pool3d(torch.tensor(v), 2, return_indices=True)
    assert np.array_equal(tiny_i3.data, ref_i3.numpy())
    same(nn.MaxUnpool3d(2)(tiny_v3, tiny_i3, output_size=(4, 5, 4)),
         torch.nn.MaxUnpool3d(2)(ref_v3, ref_i3, output_size=(4, 5, 4)))
    for tiny, ref in [(nn.MaxUnpool1d(2), torch.nn.MaxUnpool1d(2)), (nn.MaxUnpool3d(2, 1, 1),
                                                                     torch.nn.MaxUnpool3d(2, 1, 1))]:
        assert repr(tiny) == repr(ref)
    pooled = nn.MaxPool3d(2, return_indices=True)(T(v))
    assert isinstance(pooled, tuple) and np.array_equal(pooled[1].data, ref_i3.numpy())


@SOME
@given(n=st.integers(1, 2), c=st.integers(1, 2), d=st.integers(1, 6), h=st.integers(1, 6), w=st.integers(1, 6),
       od=st.integers(1, 4), oh=st.sampled_from([1, 2, 3, None]), ow=st.integers(1, 5),
       seed=st.integers(0, 2 ** 16))
def test_adaptive_max_pool_with_indices_1d_2d_3d_match_torch(n, c, d, h, w, od, oh, ow, seed):
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=(n, c, d, h, w)), 1)
    tiny_x, ref_x = pair(x, requires_grad=True)
    tiny_v, tiny_i = F.adaptive_max_pool3d_with_indices(tiny_x, (od, oh, ow))
    ref_v, ref_i = TF.adaptive_max_pool3d_with_indices(ref_x, (od, oh, ow))
    same(tiny_v, ref_v)
    assert tiny_i.dtype == np.int64 and np.array_equal(tiny_i.data, ref_i.numpy())
    backward_both(tiny_v, ref_v, seed)
    same(tiny_x.grad, ref_x.grad)
    layer_out = nn.AdaptiveMaxPool3d((od, oh, ow))(T(x[0]))
    same(layer_out, torch.nn.AdaptiveMaxPool3d((od, oh, ow))(torch.tensor(x[0])))
    flat = x.reshape(n, c * d, h * w)
    for tiny, ref in [(F.adaptive_max_pool1d_with_indices(T(flat), ow),
                       TF.adaptive_max_pool1d_with_indices(torch.tensor(flat), ow)),
                      (F.adaptive_max_pool2d_with_indices(T(x[:, :, 0]), (oh, ow)),
                       TF.adaptive_max_pool2d_with_indices(torch.tensor(x[:, :, 0]), (oh, ow)))]:
        same(tiny[0], ref[0])
        assert np.array_equal(tiny[1].data, ref[1].numpy())


def test_adaptive_max_pool3d_repr_and_errors():
    assert repr(nn.AdaptiveMaxPool3d((2, None, 3))) == repr(torch.nn.AdaptiveMaxPool3d((2, None, 3)))
    for bad in [Tensor(np.zeros((2, 3))), Tensor(np.zeros((1, 1, 2, 2, 2, 2)))]:
        with pytest.raises((ValueError, RuntimeError)):
            F.adaptive_max_pool3d(bad, 1)
    with pytest.raises((ValueError, RuntimeError)):
        F.adaptive_max_pool3d(Tensor(np.zeros((1, 1, 2, 2, 2))), (1, 1))


# ---------------------------------------------------------------- LPPool3d, ConvTranspose3d

@SOME
@given(norm=st.sampled_from([1, 2, 3.0, 1.5]), k=st.integers(1, 3), s=st.sampled_from([None, 1, 2]),
       seed=st.integers(0, 2 ** 16))
def test_lp_pool3d_matches_torch(norm, k, s, seed):
    x = np.random.default_rng(seed).uniform(0.1, 2.0, size=(2, 2, 4, 5, 4))
    tiny_x, ref_x = pair(x, requires_grad=True)
    tiny, ref = nn.LPPool3d(norm, k, s)(tiny_x), torch.nn.LPPool3d(norm, k, s)(ref_x)
    same(tiny, ref, atol=1e-9)
    backward_both(tiny, ref, seed)
    same(tiny_x.grad, ref_x.grad, atol=1e-9)
    same(F.lp_pool3d(T(x[0]), norm, k, s), TF.lp_pool3d(torch.tensor(x[0]), norm, k, s), atol=1e-9)
    assert repr(nn.LPPool3d(norm, (1, k, k), s)) == repr(torch.nn.LPPool3d(norm, (1, k, k), s))


@SOME
@given(cin=st.integers(1, 4), cout=st.integers(1, 4), groups=st.sampled_from([1, 2]),
       k=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, 2)),
       padding=st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 1)),
       dilation=st.sampled_from([(1, 1, 1), (2, 1, 1), (1, 2, 2)]), op=st.integers(0, 1), bias=st.booleans(),
       batched=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_conv_transpose3d_matches_torch(cin, cout, groups, k, stride, padding, dilation, op, bias, batched, seed):
    cin, cout = cin * groups, cout * groups
    output_padding = tuple(min(op, max(s, d) - 1) for s, d in zip(stride, dilation))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=((2,) if batched else ()) + (cin, 3, 2, 3))
    weight, b = rng.normal(size=(cin, cout // groups) + k), rng.normal(size=cout)
    tiny_x, ref_x = pair(x, requires_grad=True)
    tiny_w, ref_w = pair(weight, requires_grad=True)
    tiny_b, ref_b = pair(b, requires_grad=True) if bias else (None, None)
    options = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    try:
        ref = TF.conv_transpose3d(ref_x, ref_w, ref_b, **options)
    except RuntimeError:
        with pytest.raises((RuntimeError, ValueError)):
            F.conv_transpose3d(tiny_x, tiny_w, tiny_b, **options)
        return
    tiny = F.conv_transpose3d(tiny_x, tiny_w, tiny_b, **options)
    same(tiny, ref, atol=1e-9)
    backward_both(tiny, ref, seed)
    for t, r in [(tiny_x, ref_x), (tiny_w, ref_w)] + ([(tiny_b, ref_b)] if bias else []):
        same(t.grad, r.grad, atol=1e-9)


def test_conv_transpose3d_layer_matches_torch_with_the_same_weights():
    torch.manual_seed(0)
    ref = torch.nn.ConvTranspose3d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2).double()
    tiny = nn.ConvTranspose3d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert repr(tiny) == repr(ref) and tiny.weight.shape == tuple(ref.weight.shape)
    tiny.weight.data = ref.weight.detach().numpy().copy()
    tiny.bias.data = ref.bias.detach().numpy().copy()
    x = np.random.default_rng(4).normal(size=(1, 2, 3, 2, 4))
    same(tiny(T(x)), ref(torch.tensor(x)), atol=1e-9)
    same(tiny(T(x), output_size=(6, 3, 8)), ref(torch.tensor(x), output_size=(6, 3, 8)), atol=1e-9)
    bound = 1 / np.sqrt(2 * 27)  # fan_in = (out_channels // groups)·k³, as PyTorch
    fresh = nn.ConvTranspose3d(4, 2, 3, bias=False)
    assert fresh.bias is None and np.all(np.abs(fresh.weight.data) <= bound) and fresh.weight.dtype == np.float32
    assert repr(fresh) == repr(torch.nn.ConvTranspose3d(4, 2, 3, bias=False))
    with pytest.raises(ValueError):
        nn.ConvTranspose3d(2, 2, 3, padding_mode="reflect")


# ---------------------------------------------------------------- alpha dropout

@pytest.mark.parametrize("tiny_layer, ref_layer, fn", [
    (nn.AlphaDropout, torch.nn.AlphaDropout, "alpha_dropout"),
    (nn.FeatureAlphaDropout, torch.nn.FeatureAlphaDropout, "feature_alpha_dropout")])
def test_alpha_dropouts_keep_selu_statistics_like_torch(tiny_layer, ref_layer, fn):
    assert repr(tiny_layer(0.2)) == repr(ref_layer(0.2)) and repr(tiny_layer()) == repr(ref_layer())
    np.random.seed(0)
    torch.manual_seed(0)
    x = np.random.default_rng(5).normal(size=(300, 200, 4))
    tiny_x = T(x, requires_grad=True)
    tiny, ref = tiny_layer(0.3)(tiny_x), ref_layer(0.3)(torch.tensor(x))
    assert tiny.dtype == np.float64 and tiny.shape == tuple(ref.shape)
    for out in (tiny.data, ref.numpy()):
        assert abs(out.mean()) < 0.02 and abs(out.var() - 1.0) < 0.03, "mean 0 and variance 1 preserved"
    # the affine map: kept units are a·x + c, dropped ones one value, as PyTorch's
    a = 1 / np.sqrt((1.7580993408473766 ** 2 * 0.3 + 1) * 0.7)
    for out in (tiny.data, ref.numpy()):
        kept = ~np.isclose(out, -a * 1.7580993408473766 * 0.7)
        np.testing.assert_allclose(out[kept], a * x[kept] + a * 1.7580993408473766 * 0.3, atol=1e-9)
        assert abs(kept.mean() - 0.7) < 0.01
    tiny.sum().backward()
    grad = tiny_x.grad.data
    assert set(np.round(np.unique(grad), 12)) <= {0.0, round(a, 12)}
    if fn == "feature_alpha_dropout":
        assert np.all(grad.min(axis=2) == grad.max(axis=2)), "one draw per (example, channel)"
    layer = tiny_layer(0.5).eval()
    assert layer(tiny_x) is tiny_x
    assert getattr(F, fn)(tiny_x, 0.5) is tiny_x, "the functional form defaults to training=False"
    np.testing.assert_array_equal(getattr(F, fn)(tiny_x, 1.0, True).data, np.zeros_like(x))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError):
            getattr(TF, fn)(torch.tensor(x), bad, True)
        with pytest.raises(ValueError):
            getattr(F, fn)(tiny_x, bad, True)


def test_feature_alpha_dropout_needs_two_dimensions_like_torch():
    with pytest.raises(RuntimeError):
        TF.feature_alpha_dropout(torch.ones(5), 0.5, True)
    with pytest.raises(RuntimeError):
        F.feature_alpha_dropout(Tensor(np.ones(5)), 0.5, True)


# ---------------------------------------------------------------- pdist, triplet loss with a distance

@SOME
@given(n=st.integers(0, 6), m=st.integers(1, 4), p=st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, float("inf")]),
       ties=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_pdist_matches_torch(n, m, p, ties, seed):
    x = np.random.default_rng(seed).normal(size=(n, m))
    if ties and n > 2:
        x[1] = x[0]  # a pair at distance 0: gradient 0 there, as PyTorch's
        x[2, 0] = x[0, 0]
    tiny_x, ref_x = pair(x, requires_grad=True)
    tiny, ref = F.pdist(tiny_x, p), TF.pdist(ref_x, p)
    same(tiny, ref, atol=1e-9)
    if n > 1:
        backward_both(tiny, ref, seed)
        same(tiny_x.grad, ref_x.grad, atol=1e-8)
    tiny32 = F.pdist(Tensor(x.astype(np.float32)), p)
    assert tiny32.dtype == np.float32


def test_pdist_errors_match_torch():
    for args in [(np.ones((2, 3, 4)),), (np.ones((3, 2)), -1.0), (np.ones((3, 2), dtype=np.int64),)]:
        with pytest.raises(RuntimeError):
            TF.pdist(torch.tensor(args[0]), *args[1:])
        with pytest.raises(RuntimeError):
            F.pdist(Tensor(args[0], dtype=args[0].dtype), *args[1:])


def _cosine_distance(module):
    return lambda a, b: 1.0 - module.cosine_similarity(a, b)


@SOME
@given(margin=st.sampled_from([0.1, 1.0, 2.5]), swap=st.booleans(), reduction=st.sampled_from(["mean", "sum", "none"]),
       distance=st.sampled_from(["default", "cosine", "l1"]), seed=st.integers(0, 2 ** 16))
def test_triplet_margin_with_distance_loss_matches_torch(margin, swap, reduction, distance, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=(5, 3)) for _ in range(3)]
    tiny_in, ref_in = zip(*(pair(a, requires_grad=True) for a in arrays))
    fns = {"default": (None, None), "cosine": (_cosine_distance(F), _cosine_distance(TF)),
           "l1": (nn.PairwiseDistance(p=1), torch.nn.PairwiseDistance(p=1))}[distance]
    tiny = nn.TripletMarginWithDistanceLoss(distance_function=fns[0], margin=margin, swap=swap,
                                            reduction=reduction)(*tiny_in)
    ref = torch.nn.TripletMarginWithDistanceLoss(distance_function=fns[1], margin=margin, swap=swap,
                                                 reduction=reduction)(*ref_in)
    same(tiny, ref, atol=1e-9)
    same(F.triplet_margin_with_distance_loss(*[T(a) for a in arrays], distance_function=fns[0], margin=margin,
                                             swap=swap, reduction=reduction),
         TF.triplet_margin_with_distance_loss(*[torch.tensor(a) for a in arrays], distance_function=fns[1],
                                              margin=margin, swap=swap, reduction=reduction), atol=1e-9)
    backward_both(tiny, ref, seed)
    for t, r in zip(tiny_in, ref_in):
        same(t.grad, r.grad, atol=1e-9)


def test_triplet_margin_with_distance_loss_repr_and_errors_match_torch():
    assert repr(nn.TripletMarginWithDistanceLoss()) == repr(torch.nn.TripletMarginWithDistanceLoss())
    with pytest.raises(ValueError):
        torch.nn.TripletMarginWithDistanceLoss(margin=0)
    with pytest.raises(ValueError):
        nn.TripletMarginWithDistanceLoss(margin=0)
    a = np.ones((2, 3))
    for fn, T in [(F, Tensor), (TF, torch.tensor)]:
        with pytest.raises(ValueError):
            fn.triplet_margin_with_distance_loss(T(a), T(a), T(a), margin=-1.0)
        with pytest.raises(ValueError):
            fn.triplet_margin_with_distance_loss(T(a), T(a), T(a), reduction="avg")
        with pytest.raises(RuntimeError):
            fn.triplet_margin_with_distance_loss(T(a), T(a), T(a[0]))
    with pytest.raises(TypeError):
        nn.TripletMarginWithDistanceLoss(None)  # keyword-only, as PyTorch's
    with pytest.raises(TypeError):
        torch.nn.TripletMarginWithDistanceLoss(None)


# ---------------------------------------------------------------- LazyLinear

def test_lazy_linear_becomes_a_linear_of_the_first_inputs_width_like_torch():
    tiny, ref = nn.LazyLinear(3), torch.nn.LazyLinear(3)
    assert repr(tiny) == repr(ref) and isinstance(tiny, nn.Linear) and isinstance(ref, torch.nn.Linear)
    weight = tiny.weight
    from tinytorch.optim import SGD
    optimizer = SGD(tiny.parameters(), lr=0.1)  # made before the first call: the same Parameters
    out = tiny(Tensor(np.ones((2, 5), dtype=np.float32)))
    ref(torch.ones(2, 5))
    assert type(tiny) is nn.Linear and type(ref) is torch.nn.Linear and repr(tiny) == repr(ref)
    assert tiny.weight is weight and tiny.weight.shape == (3, 5) and out.shape == (2, 3) and out.dtype == np.float32
    bound = 1 / np.sqrt(5)
    assert np.all(np.abs(tiny.weight.data) <= bound) and np.all(np.abs(tiny.bias.data) <= bound)
    assert tiny.weight.dtype == np.float32 and len(np.unique(tiny.weight.data)) == 15
    before = tiny.weight.data.copy()
    out.sum().backward()
    optimizer.step()
    assert not np.array_equal(before, tiny.weight.data)
    assert list(tiny.state_dict()) == list(ref.state_dict())
    no_bias = nn.LazyLinear(2, bias=False)
    assert repr(no_bias) == repr(torch.nn.LazyLinear(2, bias=False))
    assert no_bias(Tensor(np.ones((4, 2, 7)))).shape == (4, 2, 2) and no_bias.bias is None


# ---------------------------------------------------------------- forward hooks' options

def _hooked_pair():
    torch.manual_seed(0)
    ref = torch.nn.Linear(3, 2).double()
    tiny = nn.Linear(3, 2)
    tiny.weight.data = ref.weight.detach().numpy().copy()
    tiny.bias.data = ref.bias.detach().numpy().copy()
    return tiny, ref


def test_forward_hooks_prepend_and_with_kwargs_like_torch():
    logs = {}
    for lib, (layer, T) in {"tiny": (_hooked_pair()[0], Tensor), "torch": (_hooked_pair()[1], torch.tensor)}.items():
        log = logs[lib] = []
        layer.register_forward_pre_hook(lambda m, args: log.append("pre"))
        layer.register_forward_pre_hook(lambda m, args: log.append("pre-first"), prepend=True)

        def pre_kwargs(m, args, kwargs, log=log):
            log.append(("pre-kwargs", len(args), sorted(kwargs)))
            return (args[0] * 2,), kwargs

        layer.register_forward_pre_hook(pre_kwargs, with_kwargs=True)
        layer.register_forward_hook(lambda m, args, out: log.append("post"))
        handle = layer.register_forward_hook(lambda m, args, kwargs, out: out + 1, with_kwargs=True, prepend=True)
        out = layer(T(np.ones((1, 3))))
        log.append(np.round(out.detach().numpy() if lib == "torch" else out.data, 10).tolist())
        handle.remove()
        out = layer(T(np.ones((1, 3))))
        log.append(np.round(out.detach().numpy() if lib == "torch" else out.data, 10).tolist())
    assert logs["tiny"] == logs["torch"]


def test_forward_pre_hook_with_kwargs_changes_keyword_arguments_and_rejects_bad_returns_like_torch():
    class TinyScale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    class TorchScale(torch.nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    for Layer, T, to_np in [(TinyScale, Tensor, lambda t: t.data), (TorchScale, torch.tensor, lambda t: t.numpy())]:
        layer = Layer()
        layer.register_forward_pre_hook(lambda m, args, kwargs: (args, {"factor": kwargs["factor"] * 10}),
                                        with_kwargs=True)
        seen = []
        layer.register_forward_hook(lambda m, args, kwargs, out: seen.append(dict(kwargs)), with_kwargs=True)
        assert to_np(layer(T(np.ones(2)), factor=3.0)).tolist() == [30.0, 30.0] and seen == [{"factor": 30.0}]
        bad = Layer()
        bad.register_forward_pre_hook(lambda m, args, kwargs: args, with_kwargs=True)
        with pytest.raises(RuntimeError, match="forward pre-hook must return None or a tuple"):
            bad(T(np.ones(2)))
        with pytest.raises(TypeError):
            bad.register_forward_hook(lambda *a: None, True)  # the options are keyword-only


def test_always_call_hooks_run_when_forward_raises_like_torch():
    class TinyBoom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    class TorchBoom(torch.nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    logs = []
    for Layer, T in [(TinyBoom, Tensor), (TorchBoom, torch.tensor)]:
        log = []
        layer = Layer()
        layer.register_forward_hook(lambda m, args, out: log.append(("plain", out)))
        layer.register_forward_hook(lambda m, args, out: log.append(("always", out)), always_call=True)
        layer.register_forward_hook(lambda m, args, kwargs, out: log.append(("always-kwargs", out, kwargs)),
                                    with_kwargs=True, always_call=True)

        def failing(m, args, out):
            raise KeyError("second")

        layer.register_forward_hook(failing, always_call=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError, match="boom"):
                layer(T(np.ones(2)))
        log.append(any("always_call=True" in str(w.message) for w in caught))
        logs.append(log)
    assert logs[0] == logs[1] == [("always", None), ("always-kwargs", None, {}), True]


def test_always_call_hook_runs_once_when_a_later_hook_raises_like_torch():
    counts = []
    for layer, T in [(_hooked_pair()[0], Tensor), (_hooked_pair()[1], torch.tensor)]:
        calls = []
        layer.register_forward_hook(lambda m, args, out: calls.append("always"), always_call=True)
        layer.register_forward_hook(lambda m, args, out: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            layer(T(np.ones((1, 3))))
        counts.append(calls)
    assert counts[0] == counts[1] == ["always"]


def test_backward_hooks_still_work_beside_forward_hook_options():
    for layer, T in [(_hooked_pair()[0], Tensor), (_hooked_pair()[1], torch.tensor)]:
        seen = []
        layer.register_forward_pre_hook(lambda m, args, kwargs: None, with_kwargs=True)
        layer.register_full_backward_hook(lambda m, g_in, g_out: seen.append(tuple(g_in[0].shape)))
        x = T(np.ones((4, 3)), requires_grad=True)
        layer(x).sum().backward()
        assert seen == [(4, 3)]
