"""Skeleton (not generated): re-exports whatever modules have exported into tinytorch.core."""

from tinytorch._exports import gather, missing_name

__all__ = gather(__name__, globals(), ["setup", "tensor", "autograd", "functions", "training"])


def __getattr__(name):
    raise missing_name(__name__, name)
