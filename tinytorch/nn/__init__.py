"""Skeleton (not generated): re-exports whatever modules have exported into tinytorch.nn.

The layer files hold classes (``Linear``) and their operations as lowercase functions
(``linear``); as in PyTorch, the classes are ``tinytorch.nn.*`` and the functions
``tinytorch.nn.functional.*``. PyTorch keeps ``Embedding`` and ``LayerNorm`` in
``torch.nn``; the course builds them in modules 06 and 08 (``tinytorch.text``,
``tinytorch.models``), so they are taken from there once exported. ``functional``,
``init`` and ``utils`` are namespaces of their own: ``import tinytorch.nn.functional as F``.
"""

from tinytorch._exports import gather, load_submodules, missing_name

__all__ = gather(__name__, globals(), ["modules", "dropout", "batchnorm", "spatial", "attention", "containers", "recurrent"],
                 kind="classes")
__all__ += gather(__name__, globals(), ["tinytorch.text.embeddings"], only=["Embedding", "EmbeddingBag"])
__all__ += gather(__name__, globals(), ["tinytorch.models.transformer"],
                  only=["LayerNorm", "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
                        "TransformerDecoder", "Transformer"])
load_submodules(__name__, ["init", "utils", "functional"])


def __getattr__(name):
    raise missing_name(__name__, name)
