"""Skeleton (not generated): re-exports whatever modules have exported into tinytorch.models."""

from tinytorch._exports import gather, missing_name

# Lowercase functions of these files are functional operations: tinytorch.nn.functional.
__all__ = gather(__name__, globals(), ["transformer"], kind="classes") + gather(__name__, globals(), ["kv_cache"])


def __getattr__(name):
    raise missing_name(__name__, name)
