"""leantrain's streaming input pipelines, for data that does not fit in memory as numpy arrays.

Each function returns a dataset that `model.fit()`, `evaluate()` and `validation_data` read
batch by batch: files are read, decoded, resized and augmented by the engine's worker threads
while the step runs, straight into the step's input slot, with bounded memory (tf.data's model:
shuffle buffer, parallel map, batch, prefetch). Batches hold float32 images (batch, height,
width, channels) and int32 class ids, so compile the model with a sparse loss
("sparse_categorical_crossentropy").

    train, val = leantrain.data.image_folder("photos/", image_size=(224, 224), batch_size=64,
                                             validation_split=0.1, augment=("flip", "crop"))
    model.fit(train, validation_data=val, epochs=10)
"""

import glob
import os
import random

from . import _core
from .keras.utils._image_dataset import ImageDataset

AUTOTUNE = -1  # num_parallel_calls: the pipeline picks the number of workers
_AUGMENTATIONS = ("flip", "crop")

__all__ = ["AUTOTUNE", "image_folder", "tfrecord_images", "synthetic_images"]


def _augmentations(augment, allowed):
    augment = (augment,) if isinstance(augment, str) else tuple(augment or ())
    for item in augment:
        if item not in allowed:
            raise ValueError(f"augment={augment!r}: unknown {item!r}; use any of {allowed}")
    return "flip" in augment, "crop" in augment


def _channels(color_mode):
    channels = {"grayscale": 1, "rgb": 3}.get(color_mode)
    if channels is None:
        raise ValueError(f"color_mode={color_mode!r}: use 'grayscale' or 'rgb'")
    return channels


def image_folder(directory, image_size=(224, 224), color_mode="rgb", batch_size=32,
                 shuffle=True, seed=None, validation_split=None, augment=(),
                 num_parallel_calls=2, on_error="raise", rescale=1.0 / 255, offset=0.0):
    """A class-folder tree (one sub-folder of JPEG, PNG, BMP or GIF files per class, labels
    inferred from the sorted folder names, as keras.utils.image_dataset_from_directory) as a
    training dataset, or a (training, validation) pair with `validation_split` (the last files
    of the seeded shuffled order; validation is neither shuffled nor augmented).

    Args:
      image_size: (height, width) every image is resized to.
      augment: any of "flip" (random horizontal flip) and "crop" (torchvision's
        RandomResizedCrop: scale (0.08, 1), ratio (3/4, 4/3)), drawn per image from the seed.
      num_parallel_calls: decoding workers (AUTOTUNE: chosen by the pipeline).
      on_error: "raise" (a corrupt image stops fit, naming the file) or "skip" (it is dropped
        and counted in the epoch's report).
      rescale, offset: pixels are value * rescale + offset (default [0, 1]; Keras'
        image_dataset_from_directory gives 0..255: rescale=1.0).
    """
    flip, crop = _augmentations(augment, _AUGMENTATIONS)
    if seed is None:
        if validation_split is not None and shuffle:
            raise ValueError("image_folder: give a seed with validation_split, so that the "
                             "training and validation files do not overlap across calls")
        seed = random.randint(0, 10**6 - 1)
    directory = os.fspath(directory)
    train, validation, classes, _ = _core.image_folder(
        directory, int(image_size[0]), int(image_size[1]), _channels(color_mode),
        int(batch_size), bool(shuffle), int(seed), validation_split, threads=int(
            num_parallel_calls), flip=flip, crop=crop, on_error=on_error, scale=float(rescale),
        offset=float(offset))
    names = sorted(d for d in os.listdir(directory)
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith("."))
    if len(names) != classes:  # the engine counts the folders it took as classes
        names = None
    wrap = lambda d: ImageDataset(d, names, int(batch_size))  # noqa: E731
    if validation_split is None:
        return wrap(train)
    return wrap(train), wrap(validation)


def tfrecord_images(files, image_size=(224, 224), color_mode="rgb", batch_size=32, seed=0,
                    augment=(), num_parallel_calls=2, on_error="raise",
                    image_key="image/encoded", label_key="image/class/label", label_offset=0):
    """tf.train.Example records holding an encoded JPEG or PNG (`image_key`) and an int64 class
    id (`label_key`, plus `label_offset`: -1 for ImageNet's records, which count from 1), read
    from `files` (a list of paths or a glob such as "train-*.tfrecord"), shuffled, decoded,
    resized to `image_size`, scaled to [0, 1] and batched. `augment` takes "flip"."""
    if isinstance(files, (str, os.PathLike)):
        pattern = os.fspath(files)
        files = sorted(glob.glob(pattern))
        if not files:
            raise FileNotFoundError(f"tfrecord_images: no file matches {pattern!r}")
    flip, _ = _augmentations(augment, ("flip",))
    dataset = _core.tfrecord_images(
        [os.fspath(f) for f in files], int(image_size[0]), int(image_size[1]), color_mode,
        int(batch_size), int(seed), int(num_parallel_calls), on_error, flip, image_key,
        label_key, int(label_offset))
    return ImageDataset(dataset, None, int(batch_size))


def synthetic_images(shape, classes, count, batch_size=32, seed=0, num_parallel_calls=2):
    """`count` seeded random images of `shape` (height, width, channels) in [0, 1) with random
    class ids below `classes`, generated by the pipeline's workers: for measuring a model's
    speed and memory without reading files."""
    dataset = _core.synthetic_images([int(v) for v in shape], int(classes), int(count),
                                     int(batch_size), int(seed), int(num_parallel_calls))
    return ImageDataset(dataset, None, int(batch_size))
