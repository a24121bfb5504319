"""keras.optimizers: SGD, Adam and AdamW as the engine's update step computes them, with
Keras 3's arguments and defaults; learning rates may be keras.optimizers.schedules."""

from ... import _core
from . import schedules

_UNSUPPORTED_DEFAULTS = {"clipnorm": None, "clipvalue": None, "global_clipnorm": None,
                         "use_ema": False, "loss_scale_factor": None,
                         "gradient_accumulation_steps": None}


class Optimizer:
    """Base class: the engine's optimizer named `engine_kind`."""

    engine_kind = None

    def __init__(self, learning_rate, name, weight_decay=None, **kwargs):
        for key, value in kwargs.items():
            if key in ("ema_momentum", "ema_overwrite_frequency"):
                continue
            if key not in _UNSUPPORTED_DEFAULTS:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                                f"'{key}'")
            if value != _UNSUPPORTED_DEFAULTS[key]:
                raise NotImplementedError(f"{type(self).__name__}({key}={value!r}) is not "
                                          "supported by leantrain")
        self.name = name
        self._learning_rate = learning_rate
        self.weight_decay = weight_decay
        self._trainer = None  # set while a model trains with it

    @property
    def learning_rate(self):
        if self._trainer is not None:
            return self._trainer.learning_rate
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = value
        if self._trainer is not None:
            self._trainer.learning_rate = float(value)

    @property
    def iterations(self):
        """The number of update steps applied (Keras' optimizer.iterations, as an int)."""
        return self._trainer.iterations if self._trainer is not None else 0

    def _engine(self):
        """The engine's optimizer."""
        lr = self._learning_rate
        schedule = None
        if isinstance(lr, schedules.LearningRateSchedule):
            schedule = lr._engine()
            lr = lr(0)
        return _core.make_optimizer(self.engine_kind, float(lr), *self._engine_args(), schedule)

    def get_config(self):
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                **{k: v for k, v in _UNSUPPORTED_DEFAULTS.items()}}

    def get_config_entry(self):
        return {"module": "keras.optimizers", "class_name": type(self).__name__,
                "config": self.get_config(), "registered_name": None}


class SGD(Optimizer):
    engine_kind = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 name="SGD", **kwargs):
        if weight_decay is not None:
            raise NotImplementedError("SGD(weight_decay=...) is not supported by leantrain; "
                                      "use AdamW or a kernel_regularizer")
        super().__init__(learning_rate, name, weight_decay, **kwargs)
        self.momentum = momentum
        self.nesterov = nesterov

    def _engine_args(self):
        return (float(self.momentum), bool(self.nesterov), 0.9, 0.999, 1e-7, 0.0)

    def _slots_per_weight(self):
        return 1 if self.momentum else 0

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    engine_kind = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07,
                 amsgrad=False, weight_decay=None, name="adam", **kwargs):
        if amsgrad:
            raise NotImplementedError(f"{type(self).__name__}(amsgrad=True) is not supported by "
                                      "leantrain")
        if weight_decay is not None and self.engine_kind == "adam":
            raise NotImplementedError("Adam(weight_decay=...) is not supported by leantrain; "
                                      "use AdamW")
        super().__init__(learning_rate, name, weight_decay, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def _engine_args(self):
        return (0.0, False, float(self.beta_1), float(self.beta_2), float(self.epsilon),
                float(self.weight_decay or 0.0))

    def _slots_per_weight(self):
        return 2

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    engine_kind = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-07, amsgrad=False, name="adamw", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, name,
                         **kwargs)


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def get(identifier):
    """An optimizer from a Keras name ("adam", "sgd", "adamw") or an Optimizer."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}; leantrain has "
                     "'sgd', 'adam' and 'adamw' (RMSprop, Keras' compile() default, is not one "
                     "of them: pass optimizer='adam')")
