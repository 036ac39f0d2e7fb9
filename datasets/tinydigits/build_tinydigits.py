"""Build TinyDigits: the 8x8 handwritten digits bundled with scikit-learn, as .npz files.

Run once (scikit-learn is needed only here, never when training):

    python datasets/tinydigits/build_tinydigits.py

Writes ``train.npz`` and ``test.npz`` next to this script, each with the keys
``images`` (N, 8, 8) float32 in [0, 1] and ``labels`` (N,) int64. The test split is
a stratified 20 % of every class, chosen with a fixed seed, so every build is the same.
"""

from pathlib import Path

import numpy as np

SEED = 0
TEST_FRACTION = 0.2
HERE = Path(__file__).resolve().parent


def stratified_split(labels, test_fraction, seed):
    """Indices (train, test): ``test_fraction`` of each class goes to test."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def build(out_dir=HERE):
    from sklearn.datasets import load_digits  # only needed to rebuild

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)  # pixel values 0..16 -> [0, 1]
    labels = digits.target.astype(np.int64)
    train, test = stratified_split(labels, TEST_FRACTION, SEED)
    out_dir = Path(out_dir)
    for name, idx in (("train", train), ("test", test)):
        np.savez_compressed(out_dir / f"{name}.npz", images=images[idx], labels=labels[idx])
        print(f"{name}.npz: {len(idx)} images")
    return out_dir


if __name__ == "__main__":
    build()
