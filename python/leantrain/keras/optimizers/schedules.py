"""keras.optimizers.schedules: learning rate per optimizer step. The built-in ones are computed
by the engine; a LearningRateSchedule subclass written in Python is called once per step."""

from ... import _core


class LearningRateSchedule:
    """Subclass and define __call__(self, step) (and get_config) as in Keras."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must define __call__(step)")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} must define get_config()")

    def _engine(self):
        return lambda step: float(self(step))


class _Builtin(LearningRateSchedule):
    """A schedule the engine computes; calling it asks the engine."""

    def __call__(self, step):
        return self._engine()(int(step))

    def _engine(self):
        return _core.schedule_from_config(type(self).__name__, self.get_config())


class CosineDecay(_Builtin):
    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        self.initial_learning_rate, self.decay_steps, self.alpha = \
            initial_learning_rate, decay_steps, alpha
        self.name, self.warmup_target, self.warmup_steps = name, warmup_target, warmup_steps

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class ExponentialDecay(_Builtin):
    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase, self.name = decay_rate, staircase, name

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(_Builtin):
    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        self.boundaries, self.values, self.name = list(boundaries), list(values), name

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


def serialize(schedule):
    return {"module": "keras.optimizers.schedules", "class_name": type(schedule).__name__,
            "config": schedule.get_config(), "registered_name": None}
