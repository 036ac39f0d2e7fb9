"""TinyDigits: the shipped .npz files, load_tinydigits(), and the build script."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from tinytorch.data.loader import load_tinydigits, tinydigits_dir

from conftest import REPO

DATA = REPO / "datasets" / "tinydigits"


def _build_module():
    spec = importlib.util.spec_from_file_location("build_tinydigits", DATA / "build_tinydigits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, count", [("train", 1438), ("test", 359)])
def test_shipped_files_hold_plain_arrays(name, count):
    with np.load(DATA / f"{name}.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["images", "labels"]
        images, labels = data["images"], data["labels"]
    assert images.shape == (count, 8, 8) and images.dtype == np.float32
    assert labels.shape == (count,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert set(np.unique(labels)) == set(range(10))


def test_load_tinydigits_shapes_and_stratified_split():
    (x_train, y_train), (x_test, y_test) = load_tinydigits()
    assert x_train.shape == (1438, 8, 8) and x_test.shape == (359, 8, 8)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    share = np.bincount(y_test, minlength=10) / np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    assert np.all(np.abs(share - 0.2) < 0.02), "every digit contributes 20 % of its images to the test split"
    assert tinydigits_dir() == DATA


def test_the_same_digits_as_scikit_learn():
    """Together, the splits are exactly sklearn's load_digits() / 16 (as a multiset of images)."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    digits = sklearn_datasets.load_digits()
    (x_train, y_train), (x_test, y_test) = load_tinydigits()
    ours = np.concatenate([x_train, x_test]).reshape(-1, 64)
    theirs = (digits.images / 16.0).astype(np.float32).reshape(-1, 64)
    key = lambda x, y: sorted(map(bytes, np.concatenate([x, y[:, None].astype(np.float32)], axis=1)))
    assert key(ours, np.concatenate([y_train, y_test])) == key(theirs, digits.target)


def test_rebuild_gives_the_same_arrays(tmp_path):
    pytest.importorskip("sklearn")
    _build_module().build(tmp_path)
    for name in ("train", "test"):
        with np.load(tmp_path / f"{name}.npz", allow_pickle=False) as new, \
                np.load(DATA / f"{name}.npz", allow_pickle=False) as shipped:
            for key in ("images", "labels"):
                np.testing.assert_array_equal(new[key], shipped[key])


def test_split_is_stratified_and_disjoint():
    split = _build_module().stratified_split
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    train, test = split(labels, 0.2, seed=0)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(100))
    assert np.bincount(labels[test]).tolist() == [2, 4, 6, 8]
    again = split(labels, 0.2, seed=0)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])


def test_found_from_any_working_directory(tmp_path):
    code = "from tinytorch.data.loader import load_tinydigits; print(len(load_tinydigits()[0][0]))"
    env = {k: v for k, v in os.environ.items() if k != "TINYTORCH_DATA"}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1438"


def test_tinytorch_data_overrides_the_folder(tmp_path, monkeypatch):
    images = np.zeros((3, 8, 8), dtype=np.float32)
    for name in ("train", "test"):
        np.savez(tmp_path / f"{name}.npz", images=images, labels=np.array([0, 1, 2]))
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path))
    (x_train, y_train), _ = load_tinydigits()
    assert x_train.shape == (3, 8, 8) and y_train.tolist() == [0, 1, 2]


def test_missing_files_say_where_and_how_to_rebuild(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as err:
        load_tinydigits()
    message = str(err.value)
    assert str(tmp_path / "nowhere" / "train.npz") in message
    assert "build_tinydigits.py" in message and "TINYTORCH_DATA" in message


def test_pickled_files_are_refused(tmp_path, monkeypatch):
    objects = np.empty(1, dtype=object)
    objects[0] = {"not": "an array"}
    for name in ("train", "test"):
        np.savez(tmp_path / f"{name}.npz", images=objects, labels=objects)
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="allow_pickle"):
        load_tinydigits()


def test_readme_states_source_and_license():
    text = " ".join((DATA / "README.md").read_text(encoding="utf-8").split())
    for needle in ("CC BY 4.0", "Optical Recognition of Handwritten Digits", "optdigits", "UCI", "scikit-learn"):
        assert needle in text, needle
    assert "build_tinydigits.py" in text
