"""fit() on what is not an array: a Python generator, a keras.utils.PyDataset and
keras.utils.image_dataset_from_directory's streaming dataset."""

import struct
import zlib

import numpy as np
import pytest

from leantrain import keras


def small_model(seed=3):
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], seed=seed)
    return model


def data(count=70):
    rng = np.random.default_rng(0)
    return rng.random((count, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, count)


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        rows = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_pydataset_trains_as_the_same_arrays_unshuffled():
    x, y = data()
    a, b = small_model(), small_model()
    b.set_weights(a.get_weights())
    batches = Batches(x, y, 16)
    ha = a.fit(batches, epochs=2, verbose=0)
    hb = b.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert ha.history == hb.history
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert batches.epochs_ended == 1  # between the two epochs; Keras' end-of-training call aside


def test_generator_runs_steps_per_epoch_batches_and_goes_on_where_it_stopped():
    x, y = data(64)
    seen = []

    def generator():
        while True:
            for i in range(0, 64, 16):
                seen.append(i)
                yield x[i:i + 16], keras.utils.to_categorical(y[i:i + 16], 3)

    model = small_model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(generator(), steps_per_epoch=3, epochs=2, verbose=0,
                        validation_data=(x, keras.utils.to_categorical(y, 3)))
    assert len(history.history["loss"]) == 2 and "val_accuracy" in history.history
    assert seen == [0, 16, 32, 48, 0, 16]  # the second epoch goes on with the generator


def test_batches_of_the_wrong_shape_are_refused_naming_it():
    x, y = data()
    with pytest.raises(ValueError, match=r"a batch's images are \(4, 4, 1\) but the model "
                                         r"expects \(8, 8, 1\)"):
        small_model().fit(iter([(x[:8, :4, :4], y[:8])]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="tuple"):
        small_model().fit(iter([x[:8]]), epochs=1, verbose=0)


def write_png(path, pixels):
    """A grayscale 8-bit PNG of `pixels` (height, width) uint8."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    h, w = pixels.shape
    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(h))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_image_dataset_from_directory_streams_keras_pixels_and_classes(tmp_path, capsys):
    rng = np.random.default_rng(1)
    for c, name in enumerate(["cat", "dog", "eel"]):
        (tmp_path / name).mkdir()
        for i in range(10):
            write_png(tmp_path / name / f"{i}.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    train, val = keras.utils.image_dataset_from_directory(
        tmp_path, color_mode="grayscale", image_size=(8, 8), batch_size=8, seed=5,
        validation_split=0.2, subset="both")
    assert "Found 30 files belonging to 3 classes." in capsys.readouterr().out
    assert train.class_names == ["cat", "dog", "eel"]
    assert train.cardinality() == 3  # 24 training files in batches of 8
    model = small_model()
    history = model.fit(train, epochs=2, validation_data=val, verbose=0)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    loss, accuracy = model.evaluate(val, verbose=0)
    assert loss == pytest.approx(history.history["val_loss"][-1])
    with pytest.raises(ValueError, match="seed"):
        keras.utils.image_dataset_from_directory(tmp_path, validation_split=0.2,
                                                 subset="training")
