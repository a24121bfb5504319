"""keras.datasets loaders and the keras.utils data helpers: numpy only.

The Fashion-MNIST figures (first labels, 6000 images per class, mean pixel
72.94) are the dataset's published ones; the to_categorical cases were checked
against keras.utils.to_categorical 3.15.1.
"""

import gzip
import hashlib
import io
import os
import warnings

import numpy as np
import pytest

from leantrain.keras.datasets import fashion_mnist, mnist
from leantrain.keras.utils import PyDataset, Sequence, to_categorical

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def test_fashion_mnist_reads_debians_files_as_keras_returns_them():
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert (x_train.shape, x_train.dtype) == ((60000, 28, 28), np.uint8)
    assert (y_train.shape, y_train.dtype) == ((60000,), np.uint8)
    assert (x_test.shape, x_test.dtype) == ((10000, 28, 28), np.uint8)
    assert (y_test.shape, y_test.dtype) == ((10000,), np.uint8)
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert y_test[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert x_train.mean() == pytest.approx(72.94035, abs=1e-4)


def _idx(array):
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.tobytes()


def _fake_fashion(directory, gz, rng, corrupt=None):
    u8 = dict(dtype=np.uint8)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (60000, 28, 28), **u8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, 60000, **u8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (10000, 28, 28), **u8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, 10000, **u8)}
    for name, array in arrays.items():
        data = _idx(array)
        if corrupt and name == corrupt[0]:
            data = corrupt[1](data)
        if gz:
            with gzip.open(directory / (name + ".gz"), "wb", compresslevel=0) as f:
                f.write(data)
        else:
            (directory / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_fashion_mnist_parses_idx_gzip_or_plain(tmp_path, monkeypatch, gz):
    monkeypatch.setattr(fashion_mnist, "_DIRECTORY", str(tmp_path))
    arrays = _fake_fashion(tmp_path, gz, np.random.default_rng(4))
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])
    assert x_train.dtype == y_test.dtype == np.uint8


def test_fashion_mnist_missing_names_directory_and_package(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "_DIRECTORY", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError) as error:
        fashion_mnist.load_data()
    assert str(tmp_path / "absent") in str(error.value)
    assert "apt-get install dataset-fashion-mnist" in str(error.value)


@pytest.mark.parametrize("corrupt, message", [
    (("t10k-labels-idx1-ubyte", lambda d: d[:-1]), r"holds \(10000,\) with 9999 bytes"),
    (("train-images-idx3-ubyte", lambda d: b"\0\0\x0d\x03" + d[4:]), "not an IDX file"),
    (("train-labels-idx1-ubyte", lambda d: d[:4] + np.array([59999], ">u4").tobytes()
      + d[8:-1]), r"holds \(59999,\) .* expected \(60000,\)"),
    (("t10k-images-idx3-ubyte", lambda d: d[:6]), "truncated IDX header"),
])
def test_fashion_mnist_refuses_damaged_files_naming_them(tmp_path, monkeypatch, corrupt, message):
    monkeypatch.setattr(fashion_mnist, "_DIRECTORY", str(tmp_path))
    _fake_fashion(tmp_path, False, np.random.default_rng(5), corrupt)
    with pytest.raises(ValueError, match=message) as error:
        fashion_mnist.load_data()
    assert str(tmp_path / corrupt[0]) in str(error.value)


def test_fashion_mnist_refuses_a_truncated_gzip(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "_DIRECTORY", str(tmp_path))
    _fake_fashion(tmp_path, False, np.random.default_rng(6))
    plain = tmp_path / "train-labels-idx1-ubyte"
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(plain.read_bytes())[:1000])
    plain.unlink()
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz: cannot be read"):
        fashion_mnist.load_data()


def _fake_mnist_npz(path, rng):
    arrays = {"x_train": rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, 60000, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, 10000, dtype=np.uint8)}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return arrays, hashlib.sha256(buffer.getvalue()).hexdigest()


def test_mnist_reads_keras_cache_under_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    arrays, digest = _fake_mnist_npz(tmp_path / "kh" / "datasets" / "mnist.npz",
                                     np.random.default_rng(8))
    with pytest.raises(ValueError, match=r"kh/datasets/mnist\.npz: sha256 .* is not Keras'"):
        mnist.load_data()
    monkeypatch.setattr(mnist, "_MNIST_SHA256", digest)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    for got, key in ((x_train, "x_train"), (y_train, "y_train"), (x_test, "x_test"),
                     (y_test, "y_test")):
        assert got.dtype == np.uint8 and got.shape == arrays[key].shape, key
        np.testing.assert_array_equal(got, arrays[key])


def test_mnist_path_argument_names_the_file_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    _, digest = _fake_mnist_npz(tmp_path / ".keras" / "datasets" / "other.npz",
                                np.random.default_rng(9))
    monkeypatch.setattr(mnist, "_MNIST_SHA256", digest)
    assert mnist.load_data(path="other.npz")[1][1].shape == (10000,)
    with pytest.raises(FileNotFoundError) as error:
        mnist.load_data()
    assert str(tmp_path / ".keras" / "datasets" / "mnist.npz") in str(error.value)
    assert "cannot download" in str(error.value)
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        mnist.load_data(path=str(tmp_path / "mnist.npz"))


@pytest.mark.parametrize("x, num_classes, shape", [
    ([0, 1, 2, 3], 4, (4, 4)),
    ([[1], [2]], None, (2, 3)),             # trailing 1 dropped
    ([[1, 2], [0, 1]], 3, (2, 2, 3)),
    (3, 5, (5,)),                           # a scalar gives one row, flattened
    (np.array([[[1]], [[0]]]), None, (2, 1, 2)),  # only the last 1 is dropped
    ([1.7, 0.2], None, (2, 2)),             # cast to int64 truncates
    ([[0]], None, (1, 1)),
    ([1], 0, (1, 2)),                       # 0 means infer, as in Keras
])
def test_to_categorical_shapes_and_dtype_as_keras(x, num_classes, shape):
    got = to_categorical(x, num_classes)
    assert got.shape == shape and got.dtype == np.float64
    labels = np.array(x, dtype=np.int64).reshape(-1)
    flat = got.reshape(-1, shape[-1])
    assert flat.sum(axis=1).tolist() == [1.0] * len(labels)
    assert flat.argmax(axis=1).tolist() == labels.tolist()


def test_to_categorical_negative_label_counts_from_the_end_as_keras():
    assert to_categorical([-1, 0], 3).tolist() == [[0, 0, 1], [1, 0, 0]]


def test_to_categorical_refuses_out_of_range_and_empty():
    with pytest.raises(IndexError, match=r"label 5 is out of range for num_classes=3"):
        to_categorical([0, 5], 3)
    with pytest.raises(IndexError, match=r"label -4"):
        to_categorical([-4], 3)
    with pytest.raises(ValueError, match="pass num_classes"):
        to_categorical([])


class _Squares(PyDataset):
    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n, self.epochs_ended = n, 0

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return np.full((2,), index ** 2), np.full((2,), index)

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_pydataset_iterates_its_batches_and_keeps_fit_options():
    data = _Squares(3, workers=2, use_multiprocessing=True, max_queue_size=4)
    assert data.num_batches == 3 and len(data) == 3
    assert [x.tolist() for x, _ in data] == [[0, 0], [1, 1], [4, 4]]
    assert (data.workers, data.use_multiprocessing, data.max_queue_size) == (2, True, 4)
    data.on_epoch_begin()
    data.on_epoch_end()
    assert data.epochs_ended == 1
    assert Sequence is PyDataset


def test_pydataset_endless_when_num_batches_is_none():
    class Endless(PyDataset):
        num_batches = None

        def __getitem__(self, index):
            return index

    data = iter(Endless())
    assert [next(data) for _ in range(5)] == [0, 1, 2, 3, 4]


def test_pydataset_warns_when_super_init_is_skipped_and_says_what_is_missing():
    class NoSuper(PyDataset):
        def __init__(self):
            pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert NoSuper().workers == 1
    assert "should call `super().__init__(**kwargs)`" in str(caught[0].message)
    with pytest.raises(NotImplementedError, match="must implement __getitem__"):
        PyDataset()[0]
    with pytest.raises(NotImplementedError, match="must implement __len__ or the num_batches"):
        PyDataset().num_batches
