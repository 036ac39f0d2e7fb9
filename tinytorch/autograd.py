"""Skeleton (not generated): ``tinytorch.autograd``, PyTorch's ``torch.autograd``.

``grad``, ``backward``, ``Function`` and the grad-mode switches, taken from
``tinytorch/core/autograd.py`` once module 02 is completed (like ``tinytorch.linalg``, this
file exists at every stage, so that ``tinytorch.autograd`` always names this project's own
package). ``grad`` and ``backward`` are ``_grad`` and ``_backward_tensors`` there: public
names in that file would also become ``tinytorch.grad`` and ``tinytorch.backward``.
"""

import sys

from tinytorch._exports import NotExportedYet, gather, missing_name

__all__ = gather(__name__, globals(), ["tinytorch.core.autograd"],
                 only=["Function", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode"])
_exported = sys.modules.get("tinytorch.core.autograd") if __all__ else None  # module 02, once exported
if hasattr(_exported, "_grad"):
    grad, backward = _exported._grad, _exported._backward_tensors
    __all__ += ["grad", "backward"]


def __getattr__(name):
    if name in ("grad", "backward"):  # private names there, so not in the catalog: say where they come from
        raise NotExportedYet(f"tinytorch.autograd.{name} is not exported yet (tinytorch.core.autograd): it comes "
                             "from module 02_autograd. Run `tito module complete 02` to add it.",
                             name=f"{__name__}.{name}")
    raise missing_name(__name__, name)
