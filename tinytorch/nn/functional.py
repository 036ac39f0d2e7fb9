"""Skeleton (not generated): ``tinytorch.nn.functional``, PyTorch's ``torch.nn.functional``.

The layers' operations as plain functions (``F.relu(x)``, ``F.cross_entropy(logits, y)``):
the lowercase names of the files that modules export into ``tinytorch.nn`` (and of
modules 06 and 08), gathered as each module is completed.
"""

from tinytorch._exports import gather, missing_name

__all__ = gather(
    __name__, globals(),
    ["tinytorch.nn." + name for name in ("modules", "dropout", "batchnorm", "spatial", "attention")]
    + ["tinytorch.text.embeddings", "tinytorch.models.transformer"],
    kind="functions",
)


def __getattr__(name):
    raise missing_name(__name__, name)
