"""The .keras archive format, checked by hand: needs numpy and h5py only.

The expected HDF5 paths below were listed from archives that Keras 3.15.1 saved
(tests/python/parity checks the same against real Keras).
"""

import io
import json
import os
import re
import zipfile

import h5py
import numpy as np
import pytest

from leantrain.keras import _saving
from leantrain.keras._saving import read_keras_archive, write_keras_archive


def _layer(cls, name):
    return {"module": "keras.layers", "class_name": cls,
            "config": {"name": name, "trainable": True}, "registered_name": None}


def _model(cls, name, layer_list):
    return {"module": "keras", "class_name": cls,
            "config": {"name": name, "trainable": True, "layers": layer_list},
            "registered_name": None, "build_config": {"input_shape": [None, 8, 8, 3]}}


def _random(shape, rng, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def _sequential():
    """A Sequential config and its weights, as Keras would hand them over."""
    rng = np.random.default_rng(1)
    config = _model("Sequential", "sequential", [
        _layer("InputLayer", "input_layer"),
        _layer("Normalization", "normalization"),
        _layer("Conv2D", "conv2d"),
        _layer("BatchNormalization", "batch_normalization"),
        _layer("ReLU", "re_lu"),
        _layer("DepthwiseConv2D", "depthwise_conv2d"),
        _layer("SeparableConv2D", "separable_conv2d"),
        _layer("Conv2D", "head"),
        _layer("GlobalAveragePooling2D", "global_average_pooling2d"),
        _layer("Dense", "dense"),
    ])
    weights = [
        ("normalization", [_random(3, rng), _random(3, rng) ** 2, np.array(64, np.int64)]),
        ("conv2d", [_random((3, 3, 3, 8), rng), _random(8, rng)]),
        ("batch_normalization", [_random(8, rng) for _ in range(4)]),
        ("re_lu", []),
        ("depthwise_conv2d", [_random((3, 3, 8, 1), rng), _random(8, rng)]),
        ("separable_conv2d", [_random((3, 3, 8, 1), rng), _random((1, 1, 8, 4), rng),
                              _random(4, rng)]),
        ("head", [_random((1, 1, 4, 4), rng)]),
        ("global_average_pooling2d", []),
        ("dense", [_random((4, 10), rng), _random(10, rng)]),
    ]
    return config, weights


def _functional():
    rng = np.random.default_rng(2)
    config = _model("Functional", "functional", [
        _layer("InputLayer", "image"),
        _layer("Conv2D", "stem"),
        _layer("BatchNormalization", "stem_bn"),
        _layer("Conv2D", "conv2d_7"),
        _layer("Dense", "logits"),
    ])
    weights = [
        ("image", []),
        ("stem", [_random((3, 3, 3, 4), rng), _random(4, rng)]),
        ("stem_bn", [_random(4, rng) for _ in range(4)]),
        ("conv2d_7", [_random((1, 1, 4, 4), rng)]),
        ("logits", [_random((4, 2), rng), _random(2, rng)]),
    ]
    return config, weights


COMPILE_CONFIG = {
    "optimizer": {"module": "keras.optimizers", "class_name": "SGD",
                  "config": {"name": "SGD", "learning_rate": 0.01}, "registered_name": None},
    "loss": "sparse_categorical_crossentropy", "loss_weights": None,
    "metrics": ["accuracy"], "weighted_metrics": None, "run_eagerly": False,
    "steps_per_execution": 1, "jit_compile": False,
}


def _h5(path):
    with zipfile.ZipFile(path) as zf:
        return h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")


def _listing(path):
    """{h5 path: (shape or "group", name attr or None)}."""
    out = {}
    with _h5(path) as h5:
        h5.visititems(lambda name, obj: out.__setitem__(
            name, ("group" if isinstance(obj, h5py.Group) else obj.shape,
                   obj.attrs.get("name"))))
    return out


def test_sequential_layout_is_keras_class_keys_without_input_layer(tmp_path):
    config, weights = _sequential()
    write_keras_archive(tmp_path / "m.keras", config, weights)
    vars_of = {path: attrs for path, (kind, attrs) in _listing(tmp_path / "m.keras").items()
               if path.endswith("vars")}
    assert vars_of == {
        "vars": "sequential",
        "layers/normalization/vars": "normalization",
        "layers/conv2d/vars": "conv2d",
        "layers/batch_normalization/vars": "batch_normalization",
        "layers/re_lu/vars": "re_lu",
        "layers/depthwise_conv2d/vars": "depthwise_conv2d",
        "layers/separable_conv2d/vars": "separable_conv2d",
        "layers/conv2d_1/vars": "head",
        "layers/global_average_pooling2d/vars": "global_average_pooling2d",
        "layers/dense/vars": "dense",
    }
    listing = _listing(tmp_path / "m.keras")
    assert listing["layers/normalization/vars/2"] == ((), None)
    assert listing["layers/separable_conv2d/vars/1"] == ((1, 1, 8, 4), None)
    assert "layers/batch_normalization/vars/3" in listing
    assert "layers/batch_normalization/vars/4" not in listing
    assert not any(p.startswith("optimizer") for p in listing)


def test_functional_layout_keeps_input_layer(tmp_path):
    config, weights = _functional()
    write_keras_archive(tmp_path / "m.keras", config, weights)
    listing = _listing(tmp_path / "m.keras")
    assert listing["layers/input_layer/vars"] == ("group", "image")
    assert listing["layers/conv2d/vars"] == ("group", "stem")
    assert listing["layers/conv2d_1/vars"] == ("group", "conv2d_7")
    assert listing["layers/conv2d_1/vars/0"] == ((1, 1, 4, 4), None)
    assert listing["vars"] == ("group", "functional")


@pytest.mark.parametrize("make", [_sequential, _functional])
def test_round_trip_gives_back_config_and_arrays(tmp_path, make):
    config, weights = make()
    write_keras_archive(tmp_path / "m.keras", config, weights, COMPILE_CONFIG)
    got_config, got_weights, got_compile = read_keras_archive(tmp_path / "m.keras")
    assert got_config == config
    assert got_compile == COMPILE_CONFIG
    assert list(got_weights) == [name for name, _ in weights]
    for name, arrays in weights:
        assert len(got_weights[name]) == len(arrays), name
        for got, want in zip(got_weights[name], arrays):
            assert got.dtype == want.dtype and got.shape == want.shape, name
            assert got.tobytes() == want.tobytes(), name


def test_zip_members_and_metadata_are_as_keras_writes_them(tmp_path):
    config, weights = _sequential()
    write_keras_archive(tmp_path / "m.keras", config, weights)
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert [(i.filename, i.compress_type) for i in zf.infolist()] == [
            ("metadata.json", zipfile.ZIP_STORED), ("config.json", zipfile.ZIP_STORED),
            ("model.weights.h5", zipfile.ZIP_STORED)]
        metadata = json.loads(zf.read("metadata.json"))
        document = json.loads(zf.read("config.json"))
    assert metadata["keras_version"] == "3.15.1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d", metadata["date_saved"])
    assert document["compile_config"] == {}  # Keras' value for an uncompiled model
    assert read_keras_archive(tmp_path / "m.keras")[2] is None


def test_optimizer_variables_go_under_optimizer_vars(tmp_path):
    config, weights = _sequential()
    state = [np.array(3, np.int64), np.array(0.01, np.float32)]
    write_keras_archive(tmp_path / "m.keras", config, weights, COMPILE_CONFIG,
                        optimizer_variables=state)
    with _h5(tmp_path / "m.keras") as h5:
        assert h5["optimizer/vars"].attrs["name"] == "SGD"
        assert h5["optimizer/vars/0"][()] == 3
        assert h5["optimizer/vars/1"].dtype == np.float32
    with pytest.raises(ValueError, match="compile_config has no serialized optimizer"):
        write_keras_archive(tmp_path / "n.keras", config, weights, None,
                            optimizer_variables=state)


def test_write_is_atomic_and_leaves_nothing_behind_on_failure(tmp_path, monkeypatch):
    config, weights = _sequential()
    path = tmp_path / "m.keras"
    path.write_bytes(b"previous")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(_saving.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_keras_archive(path, config, weights)
    monkeypatch.undo()
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(_saving.os, "fsync",
                        lambda fd: synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
                        or real_fsync(fd))
    write_keras_archive(path, config, weights)
    assert synced[-1] == str(tmp_path)  # the directory, after the rename
    assert synced[0].startswith(str(tmp_path / ".m.keras."))  # the data, before it
    assert zipfile.is_zipfile(path)


def test_new_file_mode_follows_umask(tmp_path):
    config, weights = _sequential()
    old = os.umask(0o027)
    try:
        write_keras_archive(tmp_path / "m.keras", config, weights)
    finally:
        os.umask(old)
    assert (tmp_path / "m.keras").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("mutate, message", [
    (lambda c, w: ("m.h5", c, w), r"must end in '\.keras'"),
    (lambda c, w: (None, c, w[1:]), r"weights\[0\] is for layer 'conv2d' but model\.layers\[0\]"),
    (lambda c, w: (None, c, w[:-1]), r"8 \(layer_name, arrays\) pairs for 9 layers"),
    (lambda c, w: (None, c, [w[1], w[0]] + w[2:]), r"weights\[0\] is for layer 'conv2d'"),
    (lambda c, w: (None, dict(c, compile_config={}), w), "pass compile_config as its own"),
    (lambda c, w: (None, dict(c, class_name="MyModel"), w), "not a Sequential or Functional"),
    (lambda c, w: (None, c, w[:-1] + [("dense", [np.array(["a"])])]), "expected a numeric array"),
    (lambda c, w: (None, c, [("normalization",)] + w[1:]), r"list of \(layer_name"),
])
def test_write_refuses_with_a_message_naming_the_problem(tmp_path, mutate, message):
    config, weights = _sequential()
    path, config, weights = mutate(config, weights)
    with pytest.raises(ValueError, match=message):
        write_keras_archive(tmp_path / (path or "m.keras"), config, weights)
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_nested_models(tmp_path):
    config, weights = _functional()
    config["config"]["layers"].append(_layer("Sequential", "augment"))
    with pytest.raises(ValueError, match="layer 'augment' is a nested Sequential"):
        write_keras_archive(tmp_path / "m.keras", config, weights + [("augment", [])])


def _rewrite(src, dst, edit_h5=None, drop=(), config=None):
    """Copies archive src to dst, editing its h5 in place or dropping members."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name in drop:
                continue
            if name == "config.json" and config is not None:
                data = json.dumps(config).encode()
            if name == "model.weights.h5" and edit_h5:
                buffer = io.BytesIO(data)
                with h5py.File(buffer, "a") as h5:
                    edit_h5(h5)
                data = buffer.getvalue()
            zout.writestr(name, data)
    return dst


@pytest.fixture
def archive(tmp_path):
    config, weights = _sequential()
    write_keras_archive(tmp_path / "good.keras", config, weights)
    return tmp_path / "good.keras"


@pytest.mark.parametrize("edit, message", [
    (dict(drop=("config.json",)), r"bad\.keras: missing member\(s\) config\.json"),
    (dict(drop=("model.weights.h5",)), r"missing member\(s\) model\.weights\.h5"),
    (dict(edit_h5=lambda h5: h5.__delitem__("layers/conv2d_1")),
     r"layer 'head' \(Conv2D\) in config\.json has no group layers/conv2d_1/vars"),
    (dict(edit_h5=lambda h5: h5.create_group("layers/conv2d_2/vars")),
     r"has weights for layers/conv2d_2, which no layer in config\.json maps to"),
    (dict(edit_h5=lambda h5: h5.__delitem__("layers/batch_normalization/vars/1")),
     r"layers/batch_normalization/vars has datasets \['0', '2', '3'\]"),
    (dict(edit_h5=lambda h5: h5.create_group("layers/dense/inner/vars")),
     r"layer 'dense' \(Dense\) has sublayer state \['inner'\]"),
])
def test_read_refuses_with_a_message_naming_file_and_part(archive, edit, message):
    bad = _rewrite(archive, archive.with_name("bad.keras"), **edit)
    with pytest.raises(ValueError, match=message):
        read_keras_archive(bad)


def test_read_refuses_non_archives(tmp_path, archive):
    (tmp_path / "x.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"x\.keras: not a zip archive"):
        read_keras_archive(tmp_path / "x.keras")
    with pytest.raises(FileNotFoundError, match=r"absent\.keras: no such file"):
        read_keras_archive(tmp_path / "absent.keras")
    with zipfile.ZipFile(tmp_path / "npz.keras", "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("model.weights.npz", b"")
    with pytest.raises(ValueError, match=r"weights are in model\.weights\.npz"):
        read_keras_archive(tmp_path / "npz.keras")
    with zipfile.ZipFile(tmp_path / "json.keras", "w") as zf:
        zf.writestr("config.json", "{")
        zf.writestr("model.weights.h5", b"")
    with pytest.raises(ValueError, match=r"json\.keras: config\.json is not valid JSON"):
        read_keras_archive(tmp_path / "json.keras")
    damaged = bytearray(archive.read_bytes())
    damaged[damaged.index(b"\x89HDF") + 100] ^= 0xFF  # data no longer matches its CRC
    (tmp_path / "crc.keras").write_bytes(damaged)
    with pytest.raises(ValueError, match=r"crc\.keras: damaged zip archive \(Bad CRC-32"):
        read_keras_archive(tmp_path / "crc.keras")
    bad = _rewrite(archive, tmp_path / "h5.keras", drop=("model.weights.h5",))
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr("model.weights.h5", b"garbage")
    with pytest.raises(ValueError, match=r"h5\.keras: model\.weights\.h5 is not an HDF5 file"):
        read_keras_archive(bad)
