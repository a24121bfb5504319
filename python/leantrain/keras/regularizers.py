"""keras.regularizers: the weight penalties leantrain's engine applies (L2 on kernels).

Constructors, `get_config()` and `get()` follow Keras 3.15.1
(keras/src/regularizers); `serialize()` gives the dict a layer config holds:
{"module": "keras.regularizers", "class_name", "config", "registered_name": None}.
L1L2 is accepted with l1=0 (the engine reads it as L2); an L1 penalty raises
NotImplementedError when the regularizer is made. Calling a regularizer on a
numpy array returns its penalty.
"""

import math

import numpy as np

_MODULE = "keras.regularizers"
_L2_ONLY = "leantrain has L2 regularization only (keras.regularizers.L2)"


class Regularizer:
    """Base class: `regularizer(x)` returns the penalty of weights `x`."""

    def __call__(self, x):
        return 0.0

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _penalty(value, name):
    # Keras' validate_float_arg: a finite, non-negative int or float, kept as float.
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or math.isinf(value)
            or math.isnan(value) or value < 0):
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float. "
                         f"Received: {name}={value!r}")
    return float(value)


class L2(Regularizer):
    """l2 * sum(x ** 2)."""

    def __init__(self, l2=0.01):
        self.l2 = _penalty(0.01 if l2 is None else l2, "l2")

    def __call__(self, x):
        return self.l2 * float(np.sum(np.square(x)))

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x ** 2); leantrain takes l1 = 0."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _penalty(0.0 if l1 is None else l1, "l1")
        self.l2 = _penalty(0.0 if l2 is None else l2, "l2")
        if self.l1 != 0.0:
            raise NotImplementedError(f"L1L2: l1={l1!r} is not supported; {_L2_ONLY}, or L1L2 "
                                      "with l1=0")

    def __call__(self, x):
        return self.l2 * float(np.sum(np.square(x)))

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


# Keras' lower-case aliases: keras.regularizers.l2 is the class L2.
l2, l1_l2 = L2, L1L2

# Names get() resolves, as Keras: class names and their snake case ("l1l2", not "l1_l2").
_BY_NAME = {"L2": L2, "l2": L2, "L1L2": L1L2, "l1l2": L1L2}
_KERAS_ONLY = ("L1", "l1", "OrthogonalRegularizer", "orthogonal_regularizer")


def serialize(regularizer):
    """The regularizer as a layer config holds it; None for None."""
    if regularizer is None:
        return None
    return {"module": _MODULE, "class_name": type(regularizer).__name__,
            "config": regularizer.get_config(), "registered_name": None}


def _class(name):
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name in _KERAS_ONLY:
        raise NotImplementedError(f"regularizer {name!r} is not supported; {_L2_ONLY}")
    raise ValueError(f"Could not interpret regularizer identifier: {name!r}; leantrain has "
                     "'l2' (L2) and 'l1l2' (L1L2 with l1=0)")


def deserialize(config):
    """A regularizer from serialize()'s dict (or Keras 2's {"class_name", "config"})."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"a regularizer config must be a dict with a class_name, got "
                         f"{config!r}")
    return _class(config["class_name"]).from_config(dict(config.get("config") or {}))


def get(identifier):
    """The regularizer `identifier` names, as keras.regularizers.get: None, a
    regularizer, its class, a name ("l2", "L2", "l1l2", "L1L2") or a serialized dict."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if isinstance(identifier, str):
        return _class(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise NotImplementedError(f"regularizer {identifier!r} (of type "
                              f"{type(identifier).__name__}) is not supported; {_L2_ONLY}")
