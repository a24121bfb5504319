"""`from leantrain import keras`: a drop-in subset of Keras 3.15's public API, on leantrain's
engine. The same names, arguments, defaults and return types; what the engine cannot do raises
NotImplementedError naming the argument, rather than being ignored."""

from . import (applications, callbacks, datasets, initializers, layers, losses, metrics,
               mixed_precision, models, optimizers, regularizers, utils)
from ._graph import KerasTensor
from ._model import Model, Sequential
from .layers import Input, InputLayer, Layer

__version__ = "3.15.1"  # the Keras API this package follows
