"""Skeleton (not generated): ``tinytorch.special``, PyTorch's ``torch.special``.

Each function forwards, when called, to what the modules build: ``tinytorch.erf`` and friends
(so a function works once its module is exported), and the operations of module 02
(``tinytorch.core.autograd``: ``NdtrOp``, ``EntrOp``, ...) for those that only live here in
PyTorch. Like ``tinytorch.linalg``, this file exists at every stage of the course.
"""

import math

__all__ = ["erf", "erfc", "erfcx", "erfinv", "expit", "logit", "xlogy", "xlog1py", "gammaln", "digamma", "psi",
           "polygamma", "multigammaln", "i0", "sinc", "ndtr", "ndtri", "log_ndtr", "entr", "logsumexp", "softmax",
           "log_softmax", "log1p", "expm1", "exp2", "round"]


def _tinytorch():
    import tinytorch

    return tinytorch


def _autograd():
    from tinytorch.core import autograd  # module 02's export

    return autograd


def _float(input):
    """input as a Tensor of a float dtype (integers become float32, as PyTorch)."""
    import numpy as np

    from tinytorch.core.tensor import Tensor

    tensor = input if isinstance(input, Tensor) else Tensor(input)
    return tensor if tensor.is_floating_point() else tensor.to(np.float32)


def _forward(name, alias=None):
    def function(input, *args, **kwargs):
        return getattr(_tinytorch(), alias or name)(input, *args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.special.{name}: tinytorch.{alias or name}."
    return function


erf, erfc, erfinv, logit = _forward("erf"), _forward("erfc"), _forward("erfinv"), _forward("logit")
expit, gammaln, psi = _forward("expit", "sigmoid"), _forward("gammaln", "lgamma"), _forward("psi", "digamma")
digamma, i0, sinc = _forward("digamma"), _forward("i0"), _forward("sinc")
logsumexp, softmax, log_softmax = _forward("logsumexp"), _forward("softmax"), _forward("log_softmax")
log1p, expm1, exp2, round = _forward("log1p"), _forward("expm1"), _forward("exp2"), _forward("round")


def xlogy(input, other):
    return _tinytorch().xlogy(input, other)


def polygamma(n, input):
    return _tinytorch().polygamma(n, input)


def xlog1py(input, other):
    """input · log1p(other), 0 where input is 0 (unless other is NaN); either may be a number."""
    from tinytorch.core.tensor import Tensor, _promoted

    import numpy as np

    input = input if isinstance(input, Tensor) else Tensor._wrap(np.asarray(input))
    return _autograd().Xlog1pyOp.apply(*_promoted(input, other, floating=True))


def ndtr(input):
    """The standard normal CDF Φ(x)."""
    return _autograd().NdtrOp.apply(_float(input))


def ndtri(input):
    """Φ⁻¹(p), the standard normal quantile."""
    return _autograd().NdtriOp.apply(_float(input))


def log_ndtr(input):
    """log Φ(x), accurate far in the left tail."""
    return _autograd().LogNdtrOp.apply(_float(input))


def erfcx(input):
    """exp(x²) · erfc(x), without overflow for large x."""
    return _autograd().ErfcxOp.apply(_float(input))


def entr(input):
    """−x · log x elementwise (0 at 0, −inf below 0)."""
    return _autograd().EntrOp.apply(_float(input))


def multigammaln(input, p):
    """log Γ_p(a) = p(p−1)/4 · log π + Σ_(j<p) lgamma(a − j/2)."""
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    a = _float(input)
    total = a.lgamma()
    for j in range(1, p):
        total = total + (a - j / 2).lgamma()
    return total + p * (p - 1) / 4 * math.log(math.pi)
