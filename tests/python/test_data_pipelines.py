"""leantrain.data: the engine's streaming pipelines (class folders, TFRecord image records,
synthetic images) as datasets fit() and evaluate() read. The files are written here: PNGs and
TFRecords framed and encoded by hand (numpy, struct and zlib only), so that the engine's readers
are checked against the formats, not against themselves."""

import struct

import numpy as np
import pytest

import leantrain
from leantrain import keras

from test_input_pipelines import write_png

CLASSES = ["ant", "bee", "cow"]


def _model(seed=2):
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(),
                              keras.layers.Dense(len(CLASSES), activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], seed=seed)
    return model


def _images(count_per_class=6, seed=3):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 256, (8, 8), dtype=np.uint8), c)
            for c in range(len(CLASSES)) for _ in range(count_per_class)]


def _write_folder(root, images):
    for i, (pixels, c) in enumerate(images):
        (root / CLASSES[c]).mkdir(exist_ok=True)
        write_png(root / CLASSES[c] / f"{i}.png", pixels)


def _arrays(images, scale):
    x = np.stack([p for p, _ in images])[..., None].astype(np.float32) * scale
    return x, np.array([c for _, c in images])


def _crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data):
    crc = _crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value):
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _field(number, payload):  # a length-delimited protobuf field
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _example(encoded, label):
    """tf.train.Example {"image/encoded": bytes_list, "image/class/label": int64_list}."""
    image = _field(1, _field(1, encoded))  # Feature.bytes_list (1) { value (1) }
    label = _field(3, _field(1, _varint(label)))  # Feature.int64_list (3) { packed value (1) }
    entries = b"".join(_field(1, _field(1, key.encode()) + _field(2, feature))
                       for key, feature in (("image/encoded", image),
                                            ("image/class/label", label)))
    return _field(1, entries)  # Example.features (1) { feature map entries (1) }


def _write_tfrecord(path, records):
    with open(path, "wb") as f:
        for record in records:
            length = struct.pack("<Q", len(record))
            f.write(length + struct.pack("<I", _masked_crc(length)) + record +
                    struct.pack("<I", _masked_crc(record)))


def test_image_folder_streams_the_files_scaled_and_labelled_by_folder(tmp_path, capsys):
    images = _images()
    _write_folder(tmp_path, images)
    dataset = leantrain.data.image_folder(tmp_path, image_size=(8, 8), color_mode="grayscale",
                                          batch_size=4, seed=1)
    assert "Found 18 files belonging to 3 classes." in capsys.readouterr().out
    assert dataset.class_names == CLASSES and dataset.cardinality() == 5
    model = _model()
    # evaluation averages over every image, whatever the order: the arrays' figures, at [0, 1]
    streamed = model.evaluate(dataset, verbose=0)
    np.testing.assert_allclose(streamed, model.evaluate(*_arrays(images, 1 / 255), verbose=0),
                               rtol=1e-5)
    raw = leantrain.data.image_folder(tmp_path, image_size=(8, 8), color_mode="grayscale",
                                      batch_size=4, seed=1, rescale=1.0)
    np.testing.assert_allclose(model.evaluate(raw, verbose=0),
                               model.evaluate(*_arrays(images, 1.0), verbose=0), rtol=1e-5)


def test_image_folder_splits_augments_and_skips_a_corrupt_file_when_asked(tmp_path, capfd):
    _write_folder(tmp_path, _images(count_per_class=10))
    (tmp_path / "bee" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    train, validation = leantrain.data.image_folder(
        tmp_path, image_size=(8, 8), color_mode="grayscale", batch_size=8, seed=4,
        validation_split=0.25, augment=("flip", "crop"), num_parallel_calls=leantrain.data.AUTOTUNE,
        on_error="skip")
    history = _model().fit(train, validation_data=validation, epochs=2, verbose=1)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(np.isfinite(history.history["loss"]))
    out = capfd.readouterr().out
    assert "Using 24 files for training." in out and "Using 7 files for validation." in out
    if "broken.png" not in out:  # it fell into the training files: skipped and reported there
        pytest.fail(f"the corrupt file was neither reported nor named:\n{out}")

    stops = leantrain.data.image_folder(tmp_path, image_size=(8, 8), color_mode="grayscale",
                                        batch_size=31, seed=4)
    with pytest.raises(leantrain.DataLossError, match="broken.png"):
        _model().fit(stops, epochs=1, verbose=0)


def test_tfrecord_images_read_hand_written_records(tmp_path):
    images = _images(seed=5)
    for shard in range(2):
        records = []
        for i, (pixels, c) in enumerate(images[shard::2]):
            png = tmp_path / f"{shard}-{i}.png"
            write_png(png, pixels)
            records.append(_example(png.read_bytes(), c))
        _write_tfrecord(tmp_path / f"train-{shard}.tfrecord", records)
    dataset = leantrain.data.tfrecord_images(str(tmp_path / "train-*.tfrecord"), image_size=(8, 8),
                                             color_mode="grayscale", batch_size=5, seed=3)
    model = _model()
    np.testing.assert_allclose(model.evaluate(dataset, verbose=0),
                               model.evaluate(*_arrays(images, 1 / 255), verbose=0), rtol=1e-5)
    history = model.fit(dataset, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2

    with pytest.raises(FileNotFoundError, match="nothing-\\*"):
        leantrain.data.tfrecord_images(str(tmp_path / "nothing-*"))
    with pytest.raises(ValueError, match="crop"):
        leantrain.data.tfrecord_images(str(tmp_path / "train-*.tfrecord"), augment="crop")


def test_synthetic_images_train_and_are_the_same_for_the_same_seed():
    def run(seed):
        data = leantrain.data.synthetic_images((8, 8, 1), classes=3, count=40, batch_size=16,
                                               seed=seed)
        assert data.cardinality() == 3
        return _model().fit(data, epochs=2, verbose=0).history["loss"]
    assert run(7) == run(7)
    assert run(7) != run(8)


@pytest.mark.parametrize("call, message", [
    (lambda d: leantrain.data.image_folder(d, augment="rotate"), "rotate"),
    (lambda d: leantrain.data.image_folder(d, on_error="ignore"), "on_error='ignore'"),
    (lambda d: leantrain.data.image_folder(d, color_mode="rgba"), "color_mode"),
    (lambda d: leantrain.data.image_folder(d, batch_size=0), "batch_size"),
    (lambda d: leantrain.data.image_folder(d, validation_split=0.2), "seed"),
    (lambda d: leantrain.data.synthetic_images((8, 8), 3, 10), "shape"),
])
def test_bad_arguments_raise_value_error_naming_them(tmp_path, call, message):
    _write_folder(tmp_path, _images(count_per_class=1))
    with pytest.raises(ValueError, match=message):
        call(tmp_path)
