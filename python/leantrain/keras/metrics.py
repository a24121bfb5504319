"""keras.metrics: the metrics the engine computes, by Keras name or object."""


class Metric:
    """A metric the engine computes inside the step; `name` is its logs key."""

    engine_kind = None

    def __init__(self, name=None, dtype=None):
        self.name = name or self.engine_kind

    def engine_spec(self):
        """(kind, k, logs key) as the engine's Metric takes them."""
        return (self.engine_kind, getattr(self, "k", 5), self.name)

    def get_config(self):
        return {"name": self.name, "dtype": "float32"}


class Accuracy(Metric):
    """"accuracy" as compile() resolves it against the loss."""

    engine_kind = "accuracy"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name, dtype)


class SparseCategoricalAccuracy(Metric):
    engine_kind = "sparse_categorical_accuracy"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)


class CategoricalAccuracy(Metric):
    engine_kind = "categorical_accuracy"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name, dtype)


class BinaryAccuracy(Metric):
    engine_kind = "binary_accuracy"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if threshold != 0.5:
            raise NotImplementedError("BinaryAccuracy(threshold) other than 0.5 is not "
                                      "supported by leantrain")
        super().__init__(name, dtype)


class SparseTopKCategoricalAccuracy(Metric):
    engine_kind = "sparse_top_k_categorical_accuracy"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)
        self.k = int(k)


_BY_NAME = {
    "accuracy": Accuracy, "acc": Accuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
}


def get(identifier):
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        metric = _BY_NAME[identifier]()
        if identifier == "acc":
            metric.name = "acc"
        return metric
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}; leantrain has "
                     f"{sorted(_BY_NAME)}")


def serialize(metric):
    return {"module": "keras.metrics", "class_name": type(metric).__name__,
            "config": metric.get_config(), "registered_name": None}


def resolve(metrics):
    """compile(metrics=...) as a list of Metric objects."""
    if isinstance(metrics, dict):
        raise NotImplementedError("compile(metrics={...}) per output is not supported: "
                                  "leantrain models have one output")
    return [get(m) for m in metrics]
