"""keras.utils: to_categorical and the PyDataset base class."""

import numpy as np

from ._pydataset import PyDataset

Sequence = PyDataset  # Keras 3 exports the same class under both names


def to_categorical(x, num_classes=None):
    """One-hot encodes integer class labels, as keras.utils.to_categorical.

    Args:
      x: array-like of class indices (cast to int64). A trailing dimension of
        size 1, when x has more than one dimension, is dropped: (N, 1) gives
        (N, num_classes), as in Keras.
      num_classes: number of classes; None (or 0) infers max(x) + 1.

    Returns a float64 array of shape x.shape (less a trailing 1) + (num_classes,).
    As in Keras, a negative index counts from the last class.

    Raises:
      IndexError: a label is >= num_classes.
      ValueError: x is empty and num_classes is not given.
    """
    x = np.array(x, dtype="int64")
    shape = x.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    x = x.reshape(-1)
    if not num_classes:
        if x.size == 0:
            raise ValueError("to_categorical: cannot infer num_classes from an "
                             "empty x; pass num_classes")
        num_classes = int(np.max(x)) + 1
    if x.size and (x.max() >= num_classes or x.min() < -num_classes):
        bad = x.max() if x.max() >= num_classes else x.min()
        raise IndexError(f"to_categorical: label {bad} is out of range for "
                         f"num_classes={num_classes}; labels must lie in "
                         f"[0, {num_classes - 1}]")
    categorical = np.zeros((x.shape[0], num_classes))
    categorical[np.arange(x.shape[0]), x] = 1
    return categorical.reshape(shape + (num_classes,))


def set_random_seed(seed):
    """keras.utils.set_random_seed: seeds Python's and numpy's generators and the
    initialization, shuffling and dropout of models compiled afterwards."""
    from .._model import set_random_seed as _set
    _set(seed)


from ._image_dataset import image_dataset_from_directory  # noqa: E402
