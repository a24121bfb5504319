"""keras.initializers: the initializers leantrain's engine draws from.

Constructors, `get_config()` and `get()` follow Keras 3.15.1
(keras/src/initializers); `serialize()` gives the dict a layer config holds:
{"module": "keras.initializers", "class_name", "config", "registered_name": None}.
Arguments the engine cannot honour (input_axes / output_axes, a Constant other
than 0 or 1, a SeedGenerator seed) raise NotImplementedError when the
initializer is made. Calling an initializer draws a float32 numpy array, as
Keras' draws a tensor (not bit-identical to Keras' or the engine's draws).
"""

import math
import numbers

import numpy as np

_MODULE = "keras.initializers"


class Initializer:
    """Base class: `initializer(shape, dtype=None)` returns an array of that shape."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        return self.__class__.from_config(self.get_config())


def _float32(dtype):
    if dtype is not None and np.dtype(dtype) != np.float32:
        raise NotImplementedError(f"dtype={dtype!r} is not supported by leantrain; its "
                                  "variables are float32")
    return np.float32


class Constant(Initializer):
    """Every element `value`; leantrain's engine takes 0 or 1 (Zeros or Ones)."""

    def __init__(self, value=0.0):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"Constant: value must be a number, got value={value!r}")
        if value not in (0, 1):
            raise NotImplementedError(
                f"Constant: value={value!r} is not supported by leantrain; its engine "
                "starts variables at 0 or 1 (Constant(0), Constant(1), Zeros, Ones)")
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(tuple(shape), self.value, dtype=_float32(dtype))

    def get_config(self):
        return {"value": self.value}


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(tuple(shape), dtype=_float32(dtype))


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(tuple(shape), dtype=_float32(dtype))


def compute_fans(shape):
    """(fan_in, fan_out) of a variable shape: dense (in, out), conv (kh, kw, in, out)."""
    shape = tuple(shape)
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return int(shape[-2]) * receptive, int(shape[-1]) * receptive


class VarianceScaling(Initializer):
    """Draws with variance scale / n, n = fan_in, fan_out or their mean (by `mode`)."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        modes = ("fan_in", "fan_out", "fan_avg")
        if mode not in modes:
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of {modes}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        distributions = ("uniform", "truncated_normal", "untruncated_normal")
        if distribution not in distributions:
            raise ValueError(f"Invalid `distribution` argument: {distribution}. Please use one "
                             f"of {distributions}")
        for arg, value in (("input_axes", input_axes), ("output_axes", output_axes)):
            if value is not None:
                raise NotImplementedError(
                    f"{type(self).__name__}: {arg}={value!r} is not supported by leantrain; "
                    "its fans come from the variable's shape (leave input_axes and "
                    "output_axes None)")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` argument should be an integer or None (leantrain has no "
                             f"SeedGenerator). Received: seed={seed!r}")
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.seed = seed
        self.input_axes = None
        self.output_axes = None

    def __call__(self, shape, dtype=None):
        dtype = _float32(dtype)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        scale = self.scale / max(1.0, n[self.mode])
        rng = np.random.default_rng(self.seed)
        shape = tuple(shape)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * scale)
            return rng.uniform(-limit, limit, shape).astype(dtype)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(scale), shape).astype(dtype)
        # A normal truncated at two standard deviations, rescaled to variance `scale`.
        stddev = math.sqrt(scale) / 0.87962566103423978
        values = rng.normal(0.0, stddev, shape)
        outside = np.abs(values) > 2.0 * stddev
        while outside.any():
            values[outside] = rng.normal(0.0, stddev, int(outside.sum()))
            outside = np.abs(values) > 2.0 * stddev
        return values.astype(dtype)

    def get_config(self):
        return {"seed": self.seed, "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": None, "output_axes": None}


def _named_variance_scaling(class_name, scale, mode, distribution, doc):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale=scale, mode=mode, distribution=distribution,
                                 seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": None, "output_axes": None}

    return type(class_name, (VarianceScaling,),
                {"__init__": __init__, "get_config": get_config, "__doc__": doc,
                 "__module__": __name__})


GlorotUniform = _named_variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform",
                                        "Uniform in +-sqrt(6 / (fan_in + fan_out)).")
GlorotNormal = _named_variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                                       "Truncated normal, variance 2 / (fan_in + fan_out).")
HeUniform = _named_variance_scaling("HeUniform", 2.0, "fan_in", "uniform",
                                    "Uniform in +-sqrt(6 / fan_in).")
HeNormal = _named_variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal",
                                   "Truncated normal, variance 2 / fan_in.")
LecunUniform = _named_variance_scaling("LecunUniform", 1.0, "fan_in", "uniform",
                                       "Uniform in +-sqrt(3 / fan_in).")
LecunNormal = _named_variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal",
                                      "Truncated normal, variance 1 / fan_in.")

# Keras' lower-case aliases (keras.initializers.he_normal is the class HeNormal).
constant, zeros, ones, variance_scaling = Constant, Zeros, Ones, VarianceScaling
glorot_uniform, glorot_normal, he_uniform, he_normal = (GlorotUniform, GlorotNormal,
                                                        HeUniform, HeNormal)
lecun_uniform, lecun_normal = LecunUniform, LecunNormal

_CLASSES = (Constant, Zeros, Ones, VarianceScaling, GlorotUniform, GlorotNormal, HeUniform,
            HeNormal, LecunUniform, LecunNormal)
# Names get() resolves: class names, their snake case, and Keras' aliases "zero", "one".
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({"constant": Constant, "zeros": Zeros, "ones": Ones, "zero": Zeros,
                 "one": Ones, "variance_scaling": VarianceScaling,
                 "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
                 "he_uniform": HeUniform, "he_normal": HeNormal,
                 "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal})
# Keras initializers leantrain's engine does not have.
_KERAS_ONLY = ("Identity", "identity", "IdentityInitializer", "Orthogonal", "orthogonal",
               "OrthogonalInitializer", "RandomNormal", "random_normal", "normal",
               "RandomUniform", "random_uniform", "uniform", "TruncatedNormal",
               "truncated_normal", "STFT", "stft", "STFTInitializer")
_SUPPORTED_TEXT = ("glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, "
                   "lecun_normal, zeros, ones, constant (0 or 1), variance_scaling or their "
                   "classes")


def serialize(initializer):
    """The initializer as a layer config holds it."""
    return {"module": _MODULE, "class_name": type(initializer).__name__,
            "config": initializer.get_config(), "registered_name": None}


def _class(name):
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name in _KERAS_ONLY:
        raise NotImplementedError(f"initializer {name!r} is not supported by leantrain; use "
                                  f"{_SUPPORTED_TEXT}")
    raise ValueError(f"Could not interpret initializer identifier: {name!r}; leantrain has "
                     f"{_SUPPORTED_TEXT}")


def deserialize(config):
    """An initializer from serialize()'s dict (or Keras 2's {"class_name", "config"})."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"an initializer config must be a dict with a class_name, got "
                         f"{config!r}")
    return _class(config["class_name"]).from_config(dict(config.get("config") or {}))


def get(identifier):
    """The initializer `identifier` names, as keras.initializers.get: None, an
    initializer, its class, a name ("he_normal", "HeNormal", "zeros", ...) or a
    serialized dict."""
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, str):
        return _class(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise NotImplementedError(
        f"initializer {identifier!r} (of type {type(identifier).__name__}) is not supported "
        f"by leantrain; use {_SUPPORTED_TEXT}")
