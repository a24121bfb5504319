"""leantrain: trains convolutional networks on the CPU in as little memory as the model allows.

`from leantrain import keras` is a drop-in subset of Keras 3's API running on leantrain's C++
engine. Beyond Keras: `model.fit(..., memory_budget="600MiB")`, `model.memory_plan(batch)`,
`leantrain.find_batch_size(model, budget)` and `leantrain.profile(model, batch)`; and
`leantrain.from_keras(keras_model)` brings a live Keras model over, weights included.
`leantrain.data` streams image folders and TFRecord files through the engine's input pipelines.
"""

import json

from . import _core
from ._core import DataLossError, OutOfBudgetError
from . import data, keras

__version__ = "0.1.0"
__all__ = ["keras", "data", "from_keras", "find_batch_size", "profile", "OutOfBudgetError",
           "DataLossError"]


def from_keras(keras_model):
    """A leantrain keras.Model with the architecture and weights of a live Keras 3 model (not
    compiled: call compile() as with any model)."""
    model = keras.models.model_from_json(keras_model.to_json())
    model.set_weights(keras_model.get_weights())
    return model


def _with_input_shape(model, input_shape):
    if input_shape is None or tuple(input_shape) == tuple(model.input_shape[1:]):
        return model
    config = json.loads(model.to_json())
    config.pop("compile_config", None)
    for entry in config["config"]["layers"]:
        if entry["class_name"] == "InputLayer":
            entry["config"]["batch_shape"] = [None] + list(input_shape)
    return keras.models.model_from_config(config)


def find_batch_size(model, budget, input_shape=None, max_batch=4096):
    """The largest batch size whose training step fits `budget` ("600MiB" or bytes: the
    persistent block plus the step arena), keeping, storing in bf16 or recomputing activations
    as the planner would; 0 when not even batch 1 fits. Planned, not run: no step executes.
    `input_shape` (without the batch) rebuilds the model's input at that size first. The model
    need not be compiled (then Adam and sparse categorical cross-entropy are assumed)."""
    model = _with_input_shape(model, input_shape)
    budget_bytes = keras._model.parse_bytes(budget)
    if budget_bytes <= 0:
        raise ValueError(f"find_batch_size: budget={budget!r} must be positive")
    return model._ensure_trainer().largest_batch_within(budget_bytes, int(max_batch))


def profile(model, batch_size):
    """The memory profile of one training step at `batch_size`, as a table: live arena bytes
    over the schedule, the peak and what is live there, and per layer what it keeps,
    recomputes and holds. Computed from the plan, before any step runs."""
    return model._ensure_trainer().profile(int(batch_size))
