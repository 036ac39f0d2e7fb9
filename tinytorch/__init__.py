"""TinyTorch: the deep-learning library you build yourself, module by module.

Skeleton (not generated): exposes everything exported so far, e.g.
``from tinytorch import Tensor, Linear, SGD`` once modules 01–03 are complete.
"""

from tinytorch._exports import gather, load_submodules, missing_name
from tinytorch.core.functions import _DTYPE_ALIASES

__version__ = "0.1.0"
# "core.tensor" and "perf.benchmark" also, for the functions `tensor` and `benchmark` (which
# cannot live in `tinytorch.core` / `tinytorch.perf`, where those names are submodules):
# torch-style `from tinytorch import tensor, zeros, cat, no_grad`.
__all__ = gather(__name__, globals(), ["core", "core.tensor", "nn", "optim", "data", "text", "models", "perf",
                                       "perf.benchmark", "quant", "compress"])
load_submodules(__name__, ["linalg", "autograd", "utils", "special"])  # torch.linalg, .autograd, .utils.data, .special
globals().update(_DTYPE_ALIASES)  # tinytorch.float, .int, .bool, .short: attributes, not in __all__


def __getattr__(name):
    raise missing_name(__name__, name)
