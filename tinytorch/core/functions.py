"""Skeleton (not generated): PyTorch's function forms of the Tensor methods.

``tinytorch.exp(x)`` is ``x.exp()``, ``tinytorch.sum(x, dim=1)`` is ``x.sum(dim=1)``: each
name below forwards to the method of that name, which the modules build (so a function
works once its method's module is exported, and differentiates exactly like the method).
They live in this file of their own because several of them (``sum``, ``max``, ``abs``,
``round``, ``all``) would hide Python's built-ins inside any file that defines them.
"""

import numpy as np

_NAMES = (
    "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "abs", "sign", "square", "reciprocal",
    "sin", "cos", "tanh", "sigmoid", "relu", "floor", "ceil", "round", "clamp", "clip",
    "sum", "mean", "std", "var", "prod", "max", "min", "amax", "amin", "argmax", "argmin",
    "all", "any", "norm", "logsumexp", "cumsum", "matmul", "mm", "bmm", "dot", "outer",
    "transpose", "permute", "reshape", "flatten", "squeeze", "unsqueeze", "t",
    "split", "chunk", "unbind", "narrow", "select", "flip", "roll", "tril", "triu",
    "sort", "topk", "argsort", "gather", "index_select", "masked_fill",
    "isnan", "isinf", "nonzero", "unique", "numel", "eq", "ne", "lt", "le", "gt", "ge",
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "neg", "negative",
    "absolute", "remainder", "fmod", "trunc", "frac", "swapaxes", "swapdims", "movedim", "moveaxis",
    "unflatten", "tile", "repeat_interleave", "diag", "diagonal", "trace", "cumprod", "log2", "log10",
    "exp2", "sinh", "cosh", "lerp", "addcmul", "addcdiv", "addmm", "logaddexp", "hypot", "nan_to_num",
    "median", "nansum", "nanmean", "masked_select", "count_nonzero", "isfinite", "isclose",
    "logical_not", "logical_and", "logical_or", "logical_xor", "erf", "erfc",
    "softmax", "log_softmax", "scatter", "scatter_add", "index_add", "is_floating_point", "clamp_min",
    "clamp_max", "argwhere", "clone", "pow", "tan", "atan", "arctan", "atan2", "arctan2", "diff", "rot90",
    "take", "dist", "var_mean", "std_mean", "flipud", "fliplr", "inverse", "det",
    "asin", "acos", "atanh", "asinh", "acosh", "arcsin", "arccos", "arctanh", "arcsinh", "arccosh",
    "signbit", "logit", "floor_divide", "tensor_split", "hsplit", "vsplit", "kthvalue", "cummax", "cummin",
    "kron", "cross", "quantile", "nanquantile", "nanmedian", "mode", "bitwise_and", "bitwise_or", "bitwise_xor",
    "bitwise_not", "bitwise_left_shift", "bitwise_right_shift", "lgamma", "digamma", "index_copy",
    "baddbmm", "copysign", "deg2rad", "rad2deg", "erfinv", "float_power", "frexp", "ldexp", "gcd", "lcm",
    "heaviside", "i0", "isneginf", "isposinf", "isreal", "logaddexp2", "nextafter", "sinc", "select_scatter",
    "slice_scatter", "diagonal_scatter", "masked_scatter",
    # module 02's in-place forms and small methods (torch.exp_(x) is x.exp_())
    "abs_", "acos_", "acosh_", "addmv", "addmv_", "addr", "adjoint", "arccos_", "arccosh_", "arcsin_",
    "arcsinh_", "arctan_", "arctanh_", "asin_", "asinh_", "atan_", "atanh_", "ceil_", "clamp_", "clamp_max_",
    "clamp_min_", "clip_", "cos_", "cosh_", "deg2rad_", "dsplit", "erf_", "erfc_", "exp2_", "exp_", "expm1_",
    "fix", "fix_", "floor_", "frac_", "gcd_", "get_device", "greater", "greater_equal", "hardshrink", "i0_",
    "index_put", "index_put_", "index_reduce", "is_complex", "is_inference", "is_nonzero", "is_same_size",
    "is_signed", "lcm_", "ldexp_", "less", "less_equal", "log10_", "log1p_", "log2_", "log_", "logit_",
    "mvlgamma", "nan_to_num_", "narrow_copy", "neg_", "negative_", "not_equal", "positive", "prelu", "put",
    "rad2deg_", "reciprocal_", "relu_", "renorm", "round_", "rsqrt_", "sigmoid_", "sin_", "sinc_", "sinh_",
    "split_with_sizes", "sqrt_", "square_", "tan_", "tanh_", "trunc_", "xlogy_",
    # earlier modules' methods that PyTorch also has as functions
    "aminmax", "detach", "detach_", "fill_", "fmax", "fmin", "index_fill", "inner", "mv", "sgn", "zero_",
)


def _function(name):
    """``name(input, *args, **kwargs)``: ``input.name(*args, **kwargs)`` (a non-Tensor input is converted)."""

    def function(input, *args, **kwargs):
        from tinytorch.core.tensor import Tensor  # here: the Tensor exists once module 01 is exported

        tensor = input if isinstance(input, Tensor) else Tensor(input)
        if not hasattr(tensor, name):
            raise AttributeError(f"tinytorch.{name}() calls Tensor.{name}(), which no exported module defines yet "
                                 "(`tito module list` shows which modules are complete)")
        return getattr(tensor, name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.{name}(input, ...): the same as input.{name}(...)."
    return function


globals().update({name: _function(name) for name in _NAMES})

__all__ = list(_NAMES)

# PyTorch's short dtype names that are also Python's (torch.float is float32): tinytorch/__init__
# sets them as attributes, outside __all__, so that `from tinytorch import *` never hides the
# built-in float, int and bool (PyTorch keeps them out of its __all__ too)
_DTYPE_ALIASES = {"float": np.float32, "int": np.int32, "short": np.int16, "bool": np.bool_}


# PyTorch's top-level functional forms of tinytorch.nn.functional and tinytorch.linalg:
# torch.conv2d(x, w) is F.conv2d(x, w). Where torch's own signature differs from F's (the
# losses take `reduction` as an int, torch.batch_norm and torch.embedding order their arguments
# otherwise), `params` lists torch's positional parameters, each passed on to F by name:
# "torch_name:f_name" renames, a trailing "-" drops a parameter F does not have (cudnn_enabled).
_CONVERT = {
    "reduction": lambda r: r if isinstance(r, str) else ("none", "mean", "sum")[r],
    "padding_idx": lambda i: None if i == -1 else i,  # torch.embedding's "none" is -1
}


def _forwarder(module, name, params=None, target=None, **fixed):
    """``tinytorch.name(...)``: ``module.target(...)`` (imported when called, as the modules build it)."""
    target = target or name

    def function(*args, **kwargs):
        import importlib

        where = importlib.import_module(module)
        if not hasattr(where, target):
            raise AttributeError(f"tinytorch.{name}() calls {module}.{target}(), which no exported module defines yet "
                                 "(`tito module list` shows which modules are complete)")
        if params is not None:  # torch's parameters (positional or by name) to F's names
            specs = params.split()
            if len(args) > len(specs):
                raise TypeError(f"{name}() takes at most {len(specs)} positional arguments ({len(args)} given)")
            names = {spec.rstrip("-").partition(":")[0]: spec for spec in specs}
            named = {**{spec.rstrip("-").partition(":")[0]: value for spec, value in zip(specs, args)}, **kwargs}
            kwargs, args = {}, ()
            for key, value in named.items():
                spec = names.get(key, key)
                if spec.endswith("-"):  # a parameter F does not have (cudnn_enabled, sparse)
                    continue
                kwargs[spec.partition(":")[2] or key] = _CONVERT[key](value) if key in _CONVERT else value
        return getattr(where, target)(*args, **kwargs, **fixed)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.{name}(...): {module}.{target}(...)."
    return function


_F, _LINALG = "tinytorch.nn.functional", "tinytorch.linalg"
_LOSS = "input target margin reduction"
_FORWARDERS = {
    **{name: (_F, None) for name in (
        "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "avg_pool1d",
        "max_pool1d", "max_pool2d", "max_pool3d", "adaptive_avg_pool1d", "layer_norm", "group_norm", "rms_norm",
        "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "pdist", "cosine_similarity", "pairwise_distance",
        "bilinear", "celu", "selu", "rrelu", "threshold", "celu_", "selu_", "rrelu_", "threshold_")},
    "dropout": (_F, "input p train:training"),
    "alpha_dropout": (_F, "input p train:training"),
    "feature_alpha_dropout": (_F, "input p train:training"),
    "batch_norm": (_F, "input weight bias running_mean running_var training momentum eps cudnn_enabled-"),
    "instance_norm": (_F, "input weight bias running_mean running_var use_input_stats momentum eps cudnn_enabled-"),
    "embedding": (_F, "weight indices:input padding_idx scale_grad_by_freq- sparse-"),
    "kl_div": (_F, "input target reduction"),
    "binary_cross_entropy_with_logits": (_F, "input target weight pos_weight reduction"),
    "cosine_embedding_loss": (_F, "input1 input2 target margin reduction"),
    "hinge_embedding_loss": (_F, _LOSS),
    "margin_ranking_loss": (_F, "input1 input2 target margin reduction"),
    "poisson_nll_loss": (_F, "input target log_input full eps reduction"),
    "triplet_margin_loss": (_F, "anchor positive negative margin p eps swap reduction"),
    "matrix_exp": (_LINALG, None),
}
globals().update({name: _forwarder(module, name, params) for name, (module, params) in _FORWARDERS.items()})
# torch's forms that always return the indices too
max_pool1d_with_indices = _forwarder(_F, "max_pool1d_with_indices", target="max_pool1d", return_indices=True)
adaptive_max_pool1d = _forwarder(_F, "adaptive_max_pool1d", return_indices=True)


def _linalg():
    import tinytorch.linalg as linalg  # here: its code exists once module 02 is exported

    return linalg


def cholesky_solve(B, L, upper=False):
    """X with A X = B, A = L Lᵀ (upper=True: A = Uᵀ U) given by its Cholesky factor. As PyTorch's,
    the gradient treats L as a full matrix (A = L Lᵀ of all its entries), not only its triangle."""
    return _linalg().solve(L.mT @ L if upper else L @ L.mT, B)


def cholesky_inverse(L, upper=False):
    """A⁻¹ from A's Cholesky factor L (A = L Lᵀ; upper=True: A = Uᵀ U)."""
    from tinytorch.core.tensor import Tensor

    eye = Tensor(np.broadcast_to(np.eye(L.shape[-1], dtype=L.dtype), L.shape).copy())
    return cholesky_solve(eye, L, upper)


def triangular_solve(b, A, upper=True, transpose=False, unitriangular=False):
    """torch.triangular_solve (deprecated): (X, a clone of A), X with A X = b (Aᵀ X = b: transpose)."""
    from collections import namedtuple

    coefficient = A.mT if transpose else A
    solution = _linalg().solve_triangular(coefficient, b, upper=upper != transpose, unitriangular=unitriangular)
    return namedtuple("triangular_solve", ["solution", "cloned_coefficient"])(solution, A.clone())


def svd(input, some=True, compute_uv=True):
    """torch.svd: (U, S, V) with input = U diag(S) Vᵀ (V, not Vh); some=False: the full U and V;
    compute_uv=False: U and V zeros."""
    from collections import namedtuple

    from tinytorch.core.tensor import Tensor

    u, s, vh = _linalg().svd(input, full_matrices=not some)
    if not compute_uv:
        m, n = input.shape[-2:]
        u, vh = (Tensor(np.zeros((*input.shape[:-2], k, k), dtype=s.dtype)) for k in (m, n))
        u, s, vh = u, s.detach(), vh
    return namedtuple("svd", ["U", "S", "V"])(u, s, vh.mT)


def qr(input, some=True):
    return _linalg().qr(input, mode="reduced" if some else "complete")


def lu(A, pivot=True, get_infos=False):
    """torch.lu (deprecated): (LU, pivots), and infos with get_infos=True."""
    factored = _linalg().lu_factor_ex(A, pivot=pivot)
    return tuple(factored) if get_infos else tuple(factored[:2])


def nuclear_norm(input, dim=None, keepdim=False):
    """The sum of the singular values of each matrix (over dims `dim`, the last two by default)."""
    if isinstance(dim, bool):  # torch.nuclear_norm(input, keepdim)
        dim, keepdim = None, dim
    matrices = input if dim is None else input.movedim(tuple(dim), (-2, -1))
    norm = _linalg().svdvals(matrices).sum(dim=-1)
    if keepdim:
        norm = norm.unsqueeze(-1).unsqueeze(-1)
        if dim is not None:
            norm = norm.movedim((-2, -1), tuple(dim))
    return norm


def frobenius_norm(input, dim=(-2, -1), keepdim=False):
    return input.norm(dim=dim, keepdim=keepdim)


def _window(name, formula):
    """torch.NAME_window(window_length, periodic=True, *, dtype=None, ...): the window's formula at
    n = 0 … N-1, with N = window_length + 1 (its last point dropped) for a periodic window, worked
    in the window's dtype in PyTorch's order of operations (so float32 windows round as PyTorch's)."""

    def window(window_length, periodic=True, *args, dtype=None, requires_grad=False, layout=None, device=None,
               pin_memory=False):
        from tinytorch.core.tensor import Tensor

        if window_length < 0:
            raise RuntimeError(f"{name}_window requires non-negative window_length, got window_length={window_length}")
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        if not np.issubdtype(dtype, np.floating):
            raise RuntimeError(f"{name}_window expects floating point dtypes, got: {dtype}")
        if window_length <= 1:
            values = np.ones(window_length, dtype=dtype)
        else:
            n_points = window_length + 1 if periodic else window_length
            values = formula(np.arange(n_points, dtype=dtype), n_points, *args)[:window_length]
        result = Tensor(np.asarray(values, dtype=dtype), dtype=dtype)
        return result.requires_grad_(True) if requires_grad else result

    window.__name__ = window.__qualname__ = f"{name}_window"
    return window


def _hamming(n, N, alpha=0.54, beta=0.46):
    t = n.dtype.type
    return np.cos(n * t(np.pi * 2.0 / (N - 1))) * t(-beta) + t(alpha)


def _blackman(n, N):
    t = n.dtype.type
    w = n * t(np.pi / (N - 1))
    return t(0.08) * np.cos(t(4) * w) - t(0.5) * np.cos(t(2) * w) + t(0.42)


def _bartlett(n, N):
    w = n * n.dtype.type(2.0 / (N - 1))
    half = ((N - 1) >> 1) + 1
    w[half:] = 2 - w[half:]
    return w


def _kaiser(n, N, beta=12.0):
    alpha = (N - 1) / 2.0
    return (np.i0(beta * np.sqrt(np.abs(1 - ((n.astype(np.float64) - alpha) / alpha) ** 2))) / np.i0(beta))


hann_window = _window("hann", lambda n, N: _hamming(n, N, 0.5, 0.5))
hamming_window = _window("hamming", _hamming)
blackman_window = _window("blackman", _blackman)
bartlett_window = _window("bartlett", _bartlett)
kaiser_window = _window("kaiser", _kaiser)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """The running trapezoid-rule integral of y along dim (one entry fewer than y): spacing dx (1) or x."""
    n = y.shape[dim]
    if n == 0:
        return y.narrow(dim, 0, 0)
    means = (y.narrow(dim, 1, n - 1) + y.narrow(dim, 0, n - 1)) * 0.5
    if x is not None:
        if x.ndim == 1:
            x = x.reshape(*[-1 if d == dim % y.ndim else 1 for d in np.arange(y.ndim)])
        means = means * (x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1))
    elif dx is not None:
        means = means * dx
    return means.cumsum(dim)


def rsub(input, other, *, alpha=1):
    """other - alpha · input."""
    return other - input * alpha if alpha != 1 else other - input


def scalar_tensor(s, *, dtype=None, requires_grad=False, layout=None, device=None, pin_memory=False):
    """A 0-dimensional tensor of s (float32 unless dtype says otherwise)."""
    from tinytorch.core.tensor import Tensor

    result = Tensor(np.asarray(s, dtype=np.float32 if dtype is None else dtype))
    return result.requires_grad_(True) if requires_grad else result


def _range(start=0, end=None, step=1, *, dtype=None, requires_grad=False, layout=None, device=None):
    """torch.range (deprecated): start, start + step, … up to end *inclusive*, float32 by default."""
    from tinytorch.core.tensor import Tensor

    if end is None:
        raise TypeError("range() missing required argument 'end'")
    if step == 0 or (end - start) * step < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    size = int(np.floor((end - start) / step)) + 1
    result = Tensor((start + np.arange(size, dtype=np.float64) * step).astype(np.float32 if dtype is None else dtype))
    return result.requires_grad_(True) if requires_grad else result


def set_default_dtype(d):
    """tinytorch's default dtype is float32, fixed (Tensor([1.5]) is float32): only float32 is accepted."""
    if np.dtype(d) != np.float32:
        raise NotImplementedError(f"tinytorch's default floating dtype is float32, fixed; set_default_dtype({d}) "
                                  "is not supported (pass dtype= to each factory instead)")


globals()["range"] = _range  # not `def range`: that would hide Python's range in this file

_EXTRA = [*_FORWARDERS, "max_pool1d_with_indices", "adaptive_max_pool1d", "cholesky_solve", "cholesky_inverse",
          "triangular_solve", "svd", "qr", "lu", "nuclear_norm", "frobenius_norm", "hann_window", "hamming_window",
          "blackman_window", "bartlett_window", "kaiser_window", "cumulative_trapezoid", "rsub", "scalar_tensor",
          "range", "set_default_dtype"]
__all__ += _EXTRA
