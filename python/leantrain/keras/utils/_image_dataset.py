"""keras.utils.image_dataset_from_directory on leantrain's streaming pipeline: files are decoded
and resized by the engine's workers while the step runs, straight into its input slot."""

import os
import random

from ... import _core

_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


class ImageDataset:
    """What image_dataset_from_directory returns: a batched dataset that fit() and evaluate()
    stream from, with Keras' `class_names`. Pixels are float32 in [0, 255], as in Keras."""

    def __init__(self, engine, class_names, batch_size):
        self._engine = engine
        self.class_names = class_names
        self.batch_size = batch_size

    def cardinality(self):
        return self._engine.cardinality

    def __repr__(self):
        return f"<leantrain ImageDataset {self._engine.describe()}>"


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, verbose=True):
    """Keras' image_dataset_from_directory for class-folder trees (labels="inferred",
    label_mode="int": the sparse class ids leantrain's losses read)."""
    for argument, value, default in (("labels", labels, "inferred"),
                                     ("label_mode", label_mode, "int"),
                                     ("class_names", class_names, None),
                                     ("interpolation", interpolation, "bilinear"),
                                     ("follow_links", follow_links, False),
                                     ("crop_to_aspect_ratio", crop_to_aspect_ratio, False),
                                     ("pad_to_aspect_ratio", pad_to_aspect_ratio, False)):
        if value != default:
            raise NotImplementedError(f"image_dataset_from_directory({argument}={value!r}) is "
                                      "not supported by leantrain")
    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}.get(color_mode)
    if channels is None:
        raise ValueError(f"color_mode={color_mode!r}: use 'grayscale', 'rgb' or 'rgba'")
    if batch_size is None:
        raise NotImplementedError("image_dataset_from_directory(batch_size=None): leantrain "
                                  "trains on batches; give a batch size")
    if (validation_split is None) != (subset is None):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in (None, "training", "validation", "both"):
        raise ValueError(f'subset={subset!r}: use "training", "validation" or "both"')
    if validation_split is not None and shuffle and seed is None:
        raise ValueError("If using `validation_split` and shuffling the data, you must provide "
                         "a `seed` argument, to make sure that there is no overlap between the "
                         "training and validation subset.")
    if seed is None:
        seed = random.randint(0, 10**6 - 1)
    directory = os.fspath(directory)
    train, validation, _, _ = _core.image_folder(
        directory, int(image_size[0]), int(image_size[1]), channels, int(batch_size),
        bool(shuffle), int(seed), validation_split, threads=2, flip=False, crop=False,
        on_error="raise", scale=1.0, offset=0.0)
    names = sorted(d for d in os.listdir(directory)
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith("."))
    wrap = lambda d: ImageDataset(d, names, int(batch_size))  # noqa: E731
    if subset == "training":
        return wrap(train)
    if subset == "validation":
        return wrap(validation)
    if subset == "both":
        return [wrap(train), wrap(validation)]
    return wrap(train)
