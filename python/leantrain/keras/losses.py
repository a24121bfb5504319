"""keras.losses: the losses the engine computes, by Keras name or object."""

import numpy as np


class Loss:
    """A loss the engine computes; `engine_name` is its Keras name."""

    engine_name = None
    labels = "sparse"  # what y must hold: class ids, one-hot rows, or 0/1

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None, from_logits=False):
        if reduction != "sum_over_batch_size":
            raise NotImplementedError(f"{type(self).__name__}(reduction={reduction!r}): "
                                      "leantrain computes the mean over the batch only")
        self.name = name or self.engine_name
        self.reduction = reduction
        self.from_logits = from_logits

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "from_logits": self.from_logits}

    def serialized(self):
        return {"module": "keras.losses", "class_name": type(self).__name__,
                "config": self.get_config(), "registered_name": None}

    def class_ids(self, y, count, classes, what):
        """y as int32 class ids, the form the engine reads; raises ValueError naming what is
        wrong."""
        if len(y) != count:
            raise ValueError(f"{what} has {len(y)} samples but x has {count}")
        if self.labels == "one_hot" or (self.labels == "either" and y.ndim == 2 and
                                        y.shape[1] == classes and classes > 1):
            if y.ndim != 2 or y.shape[1] != classes:
                raise ValueError(f"{what} has shape {y.shape}; {self.engine_name} takes one-hot "
                                 f"rows of the model's {classes} outputs (keras.utils."
                                 "to_categorical), or use sparse_categorical_crossentropy with "
                                 "class ids")
            ids = np.argmax(y, axis=1)
            if not (np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)):
                raise ValueError(f"{what}: leantrain's {self.engine_name} takes one-hot rows "
                                 "(one 1 per row); soft labels are not supported")
            return np.ascontiguousarray(ids, dtype=np.int32)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"{what} has shape {y.shape}; {self.engine_name} takes one class id "
                             "per sample")
        ids = y.astype(np.int32)
        if not np.array_equal(ids, y):
            raise ValueError(f"{what}: class ids must be whole numbers, got e.g. "
                             f"{y[np.flatnonzero(ids != y)[0]]}")
        return np.ascontiguousarray(ids)


class SparseCategoricalCrossentropy(Loss):
    engine_name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        if ignore_class is not None:
            raise NotImplementedError("SparseCategoricalCrossentropy(ignore_class=...) is not "
                                      "supported by leantrain")
        super().__init__(name, reduction, dtype, from_logits)
        self.ignore_class = None

    def get_config(self):
        return {**super().get_config(), "ignore_class": None}


class CategoricalCrossentropy(Loss):
    engine_name = "categorical_crossentropy"
    labels = "one_hot"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        if label_smoothing or axis != -1:
            raise NotImplementedError("CategoricalCrossentropy(label_smoothing, axis) other than "
                                      "0 and -1 are not supported by leantrain")
        super().__init__(name, reduction, dtype, from_logits)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": 0.0, "axis": -1}


class BinaryCrossentropy(Loss):
    engine_name = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        if label_smoothing or axis != -1:
            raise NotImplementedError("BinaryCrossentropy(label_smoothing, axis) other than 0 "
                                      "and -1 are not supported by leantrain")
        super().__init__(name, reduction, dtype, from_logits)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": 0.0, "axis": -1}


class MeanSquaredError(Loss):
    engine_name = "mean_squared_error"
    labels = "either"

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name, reduction, dtype)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}


def get(identifier):
    """A Loss from a Keras name, a Loss object or one of the loss functions above."""
    if isinstance(identifier, Loss):
        return identifier
    name = getattr(identifier, "__name__", identifier)
    if isinstance(name, str) and name in _BY_NAME:
        return _BY_NAME[name]()
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}; leantrain has "
                     f"{sorted(_BY_NAME)}")


def _loss_function(name):
    def fn(y_true, y_pred):
        raise NotImplementedError(f"leantrain computes {name} inside its compiled step; pass "
                                  "it to compile()")
    fn.__name__ = name
    return fn


sparse_categorical_crossentropy = _loss_function("sparse_categorical_crossentropy")
categorical_crossentropy = _loss_function("categorical_crossentropy")
binary_crossentropy = _loss_function("binary_crossentropy")
mean_squared_error = _loss_function("mean_squared_error")
