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
