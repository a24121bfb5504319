"""Our .keras reader and writer against real Keras 3.15 (TensorFlow backend, CPU).

Run from the repository's root in the project's venv, with the package installed in it (as
scripts/test does):
  "$(scripts/setup-python)/bin/python" -m pytest -q tests/python/parity
"""

import importlib
import io
import json
import os
import warnings
import zipfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = importlib.import_module("keras")
from keras import layers  # noqa: E402

from leantrain.keras._saving import read_keras_archive, write_keras_archive  # noqa: E402

KERAS_VERSION = "3.15.1"


def _sequential_cnn(rng):
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        layers.Normalization(),
        layers.Conv2D(8, 3, padding="same"),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.DepthwiseConv2D(3),
        layers.SeparableConv2D(8, 3),
        layers.MaxPooling2D(),
        layers.Conv2D(6, 1, use_bias=False),
        layers.GlobalAveragePooling2D(),
        layers.Dropout(0.1),
        layers.Dense(5, activation="softmax"),
    ])
    model.layers[0].adapt(rng.random((32, 16, 16, 3), dtype=np.float32))
    return model


def _functional_cnn(rng):
    inputs = keras.Input((16, 16, 3))
    x = layers.Normalization()(inputs)
    x = layers.Conv2D(8, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    y = layers.DepthwiseConv2D(3, padding="same")(x)
    y = layers.BatchNormalization()(y)
    x = layers.Add()([x, y])
    x = layers.SeparableConv2D(8, 3)(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(5, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.layers[1].adapt(rng.random((32, 16, 16, 3), dtype=np.float32))
    return model


def _mobilenet_v2(rng):
    model = keras.applications.MobileNetV2(
        alpha=0.35, input_shape=(96, 96, 3), weights=None, classes=10)
    # Random values everywhere, variances positive, so that a misplaced array
    # shows in the comparisons (the initial BN statistics are all 0 and 1).
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    return model


def _build(kind, compiled):
    rng = np.random.default_rng(7)
    model = {"sequential": _sequential_cnn, "functional": _functional_cnn,
             "mobilenet_v2": _mobilenet_v2}[kind](rng)
    if compiled:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        x = rng.random((8,) + model.input_shape[1:], dtype=np.float32)
        y = rng.integers(0, model.output_shape[-1], 8)
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)  # moves BN stats, Adam slots
    return model


CASES = [("sequential", True), ("functional", True), ("functional", False),
         ("mobilenet_v2", False)]


@pytest.fixture(scope="module", params=CASES, ids=[f"{k}-{'compiled' if c else 'plain'}"
                                                    for k, c in CASES])
def saved(request, tmp_path_factory):
    """A model and the archive real Keras saved of it."""
    model = _build(*request.param)
    path = tmp_path_factory.mktemp("keras") / "model.keras"
    model.save(path)
    return model, path


def _our_copy(model, keras_path, out_path, optimizer=True):
    """Writes model as we would: Keras' config, per-layer get_weights()."""
    with zipfile.ZipFile(keras_path) as zf:
        config = json.loads(zf.read("config.json"))
    config.pop("compile_config")
    compile_config = model.get_compile_config() or None
    optimizer_variables = None
    if optimizer and compile_config:
        optimizer_variables = [v.numpy() for v in model.optimizer.variables]
    write_keras_archive(out_path, config,
                        [(layer.name, layer.get_weights()) for layer in model.layers],
                        compile_config, optimizer_variables=optimizer_variables)
    return out_path


def _h5_listing(path):
    with zipfile.ZipFile(path) as zf, h5py.File(io.BytesIO(zf.read("model.weights.h5"))) as h5:
        listing = []
        h5.visititems(lambda name, obj: listing.append(
            (name, type(obj).__name__, getattr(obj, "shape", None),
             str(getattr(obj, "dtype", "")), dict(obj.attrs))))
    return listing


def _assert_same_arrays(got, want):
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        assert (g.shape, g.dtype) == (w.shape, w.dtype), f"array {i}"
        assert g.tobytes() == w.tobytes(), f"array {i} differs"


def test_reads_keras_archive_as_get_weights_in_layer_order(saved):
    model, path = saved
    config, weights, compile_config = read_keras_archive(path)
    assert list(weights) == [layer.name for layer in model.layers]
    _assert_same_arrays([a for arrays in weights.values() for a in arrays],
                        model.get_weights())
    assert config["class_name"] == type(model).__name__
    assert compile_config == (model.get_compile_config() or None)


def test_keras_loads_our_archive_without_warnings(saved, tmp_path):
    model, keras_path = saved
    ours = _our_copy(model, keras_path, tmp_path / "ours.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.models.load_model(ours)
    assert [str(w.message) for w in caught] == []
    _assert_same_arrays(loaded.get_weights(), model.get_weights())
    if getattr(model, "optimizer", None) is not None:
        _assert_same_arrays([v.numpy() for v in loaded.optimizer.variables],
                            [v.numpy() for v in model.optimizer.variables])
    x = np.random.default_rng(3).random((4,) + model.input_shape[1:], dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_our_archive_has_keras_layout(saved, tmp_path):
    model, keras_path = saved
    ours = _our_copy(model, keras_path, tmp_path / "ours.keras")
    assert _h5_listing(ours) == _h5_listing(keras_path)
    with zipfile.ZipFile(ours) as a, zipfile.ZipFile(keras_path) as b:
        assert [(i.filename, i.compress_type) for i in a.infolist()] == \
               [(i.filename, i.compress_type) for i in b.infolist()]
        assert json.loads(a.read("config.json")) == json.loads(b.read("config.json"))
        ours_meta, keras_meta = (json.loads(z.read("metadata.json")) for z in (a, b))
    assert keras_meta["keras_version"] == KERAS_VERSION == ours_meta["keras_version"]
    assert ours_meta.keys() == keras_meta.keys()
    assert len(ours_meta["date_saved"]) == len(keras_meta["date_saved"])


def test_keras_warns_when_optimizer_variables_are_left_out(tmp_path):
    model = _build("sequential", compiled=True)
    model.save(tmp_path / "keras.keras")
    ours = _our_copy(model, tmp_path / "keras.keras", tmp_path / "ours.keras",
                     optimizer=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.models.load_model(ours)
    assert any("Skipping variable loading for optimizer" in str(w.message)
               for w in caught)
    _assert_same_arrays(loaded.get_weights(), model.get_weights())
