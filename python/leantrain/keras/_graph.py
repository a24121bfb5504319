"""Symbolic tensors, call records and the Keras 3 JSON of models built from them.

Calling a layer on a KerasTensor records a Node on the layer (its `_inbound_nodes`)
and returns a new KerasTensor whose `_keras_history` is (layer, node index, 0).
From those records this module writes what Keras 3.15.1 writes:

- `sequential_config(layers, ...)` is `json.loads(model.to_json())` of a
  `keras.Sequential(layers)`;
- `functional_config(inputs, outputs, ...)` is the same for `keras.Model(inputs,
  outputs)`: the layers in Keras' order (`map_graph` in keras/src/ops/function.py:
  depth from the outputs, deepest first, ties in first-seen order of a
  depth-first walk from the outputs), each with the calls that belong to the
  model, node indices counted among those calls only.

Layer names come from one counter per snake-case prefix, shared by every object
that Keras names ("conv2d", "conv2d_1", ...; "input_layer", "keras_tensor",
"sequential", "functional"), as keras/src/utils/naming.py. `clear_session()`
restarts them, as keras.backend.clear_session() does.

Nothing here is thread-safe: like Keras, models are built from one thread.
"""

import collections
import json
import re

import numpy as np

KERAS_VERSION = "3.15.1"

# ---- Names -------------------------------------------------------------------

_name_uids = collections.defaultdict(int)


def to_snake_case(name):
    """Keras' snake case of a class name: "Conv2D" -> "conv2d", "ReLU" -> "re_lu"."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def uniquify(prefix):
    """`prefix` the first time, then `prefix_1`, `prefix_2`, ..."""
    count = _name_uids[prefix]
    _name_uids[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def auto_name(class_name):
    """The name Keras gives an unnamed object of class `class_name`."""
    return uniquify(to_snake_case(class_name))


def clear_session():
    """Restarts every name counter (keras.backend.clear_session())."""
    _name_uids.clear()


# ---- Tensors and nodes -------------------------------------------------------

KerasHistory = collections.namedtuple("KerasHistory",
                                      ["operation", "node_index", "tensor_index"])


class KerasTensor:
    """A symbolic tensor: a shape with the batch first (None unless fixed) and a dtype.

    `_keras_history` is the (layer, node index, tensor index) that made it, or
    None for a tensor no layer made.
    """

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name if name is not None else auto_name("KerasTensor")
        self.sparse = False
        self.ragged = False
        self._keras_history = None

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return (f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse=False, "
                f"ragged=False, name={self.name}>")


class Node:
    """One call of a layer: `args` as the layer was called with them (a tensor, or a
    list of tensors for a merging layer), the `kwargs` Keras records for it, and
    the output tensor. An InputLayer's node has no args."""

    def __init__(self, layer, args, kwargs, output):
        self.layer = layer
        self.args = args
        self.kwargs = dict(kwargs)
        self.output = output
        self.input_tensors = _flatten(args)
        self.is_input = not self.input_tensors
        layer._inbound_nodes.append(self)
        output._keras_history = KerasHistory(layer, len(layer._inbound_nodes) - 1, 0)

    @property
    def parent_nodes(self):
        return [_node_of(t) for t in self.input_tensors]


def _flatten(structure):
    if structure is None:
        return []
    if isinstance(structure, (list, tuple)):
        return [t for item in structure for t in _flatten(item)]
    return [structure]


def _node_of(tensor):
    layer, node_index, _ = tensor._keras_history
    return layer._inbound_nodes[node_index]


def _check_tensors(structure, what):
    """The flat list of KerasTensors in `structure`; ValueError for anything else."""
    if isinstance(structure, dict):
        raise NotImplementedError(
            f"{what} given as a dict ({sorted(structure)}) is not supported by leantrain; "
            "pass a tensor or a list of tensors")
    flat = _flatten(structure)
    if not flat:
        raise ValueError(f"`{what}` argument cannot be empty. Received: {what}={structure}")
    for t in flat:
        if not isinstance(t, KerasTensor) or t._keras_history is None:
            raise ValueError(
                f"All `{what}` values must be KerasTensors made by keras.Input() or by "
                f"calling a layer. Received: {what}={structure} including {t!r} "
                f"(of type {type(t).__name__})")
    return flat


# ---- Serialization -----------------------------------------------------------


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{value!r} (of type {type(value).__name__}) has no JSON form")


def json_form(obj):
    """`obj` as json.loads(json.dumps(obj)) gives it back: tuples become lists."""
    return json.loads(json.dumps(obj, default=_json_default))


def serialize_layer(layer, build_shape=None):
    """serialize_keras_object(layer): module, class_name, config, registered_name and,
    for a layer Keras builds on its first call, build_config. `build_shape`
    stands in for the input shape of a layer never called (Sequential's build
    would call it on that shape)."""
    entry = {
        "module": "keras.layers",
        "class_name": type(layer).__name__,
        "config": layer.get_config(),
        "registered_name": None,
    }
    build_config = layer.get_build_config()
    if build_config is None and build_shape is not None and not layer._built_at_init:
        build_config = {"input_shape": build_shape}
    if build_config is not None:
        entry["build_config"] = build_config
    return entry


def _model_entry(module, class_name, config, registered_name, input_shape, compile_config):
    return json_form({
        "module": module,
        "class_name": class_name,
        "config": config,
        "registered_name": registered_name,
        "build_config": {"input_shape": input_shape},
        "compile_config": {} if compile_config is None else compile_config,
    })


def input_layer_of(tensor):
    """The InputLayer that made `tensor`, a keras.Input(); ValueError for another tensor."""
    from .layers import InputLayer  # layers imports this module

    history = getattr(tensor, "_keras_history", None)
    if not isinstance(tensor, KerasTensor) or not history or not isinstance(
            history.operation, InputLayer):
        raise ValueError(f"{tensor!r} is not a tensor made by keras.Input()")
    return history.operation


def is_input_layer(layer):
    from .layers import InputLayer  # layers imports this module

    return isinstance(layer, InputLayer)


def sequential_input(layers):
    """The input tensor of a Sequential model of `layers` (model.inputs[0] in Keras); ValueError
    when the first layer is not an InputLayer (the model has no input shape yet)."""
    layers = list(layers)
    if not layers or not is_input_layer(layers[0]):
        raise ValueError("The Sequential model has no input yet: start it with "
                         "keras.Input(shape)")
    return layers[0].output


def functional_layers(inputs, outputs):
    """model.layers of keras.Model(inputs, outputs): its InputLayers and layers in the order
    of its config. Raises what functional_config() raises."""
    return _map_graph(_check_tensors(inputs, "inputs"), _check_tensors(outputs, "outputs"))[1]


def sequential_layers(layers, input_shape=None):
    """The layers of a keras.Sequential(layers), an InputLayer first, as Keras' Sequential
    holds them once it can be built.

    Args:
      layers: layers in order; the first may be a tensor from keras.Input() (its
        InputLayer is used) or an InputLayer.
      input_shape: the batch shape Sequential.build() takes, e.g. (None, 28, 28, 1),
        used when there is no InputLayer; else the first layer's `input_shape=`
        argument, as Keras' Sequential.add() does. With neither, ValueError.

    A new InputLayer (named "input_layer", "input_layer_1", ...) is made when the
    list has none, so call this once per model and keep the result.

    Raises:
      ValueError: no input shape, a second InputLayer, a repeated layer name, an
        input_shape that disagrees with the InputLayer, or a non-layer entry.
    """
    from .layers import InputLayer, Layer  # layers imports this module

    # A keras.Input() tensor stands for its InputLayer, as in Keras.
    items = [input_layer_of(item) if isinstance(item, KerasTensor) else item
             for item in layers]
    if not items:
        raise ValueError("A Sequential model needs at least one layer")
    for item in items:
        if not isinstance(item, Layer):
            raise ValueError("Only instances of `keras.Layer` can be added to a Sequential "
                             f"model. Received: {item!r} (of type {type(item).__name__})")
    if not isinstance(items[0], InputLayer):
        if input_shape is not None:
            items.insert(0, InputLayer(batch_shape=tuple(input_shape)))
        elif items[0]._input_shape_arg is not None:
            items.insert(0, InputLayer(shape=items[0]._input_shape_arg))
        else:
            raise ValueError(
                "The Sequential model has no input shape: start it with keras.Input(shape), "
                "give its first layer input_shape=..., or pass input_shape (with the batch, "
                "e.g. (None, 28, 28, 1))")
    elif input_shape is not None and tuple(input_shape) != items[0].batch_shape:
        raise ValueError(f"Sequential model has already been configured to use input shape "
                         f"{items[0].batch_shape}. You cannot build it with input_shape "
                         f"{tuple(input_shape)}")
    names = set()
    for item in items:
        if isinstance(item, InputLayer) and item is not items[0]:
            raise ValueError(f"InputLayer '{item.name}' is not the first layer: the "
                             "Sequential model has already been configured to use input "
                             f"shape {items[0].batch_shape}")
        if item.name in names:
            raise ValueError(
                "All layers added to a Sequential model should have unique names. Name "
                f"'{item.name}' is already the name of a layer in this model. Update the "
                "`name` argument to pass a unique name.")
        names.add(item.name)
    if len(items) < 2:
        raise ValueError("The Sequential model has an input but no layers")
    return items


def sequential_config(layers, name="sequential", input_shape=None, trainable=True,
                      compile_config=None):
    """json.loads(keras.Sequential(layers, name=name).to_json()).

    `layers` and `input_shape` as sequential_layers() takes them. Layers already
    called keep the input shape of their first call as build_config, as Keras
    builds a layer once; the others get the shape flowing through the stack.
    Nothing is recorded on the layers. `trainable` is written as given (the engine
    reads true only); `compile_config` is the model's get_compile_config() ({} for a
    model not compiled, as Keras writes it).

    Raises ValueError as sequential_layers() does, and what a layer raises for a
    shape it cannot take (naming the layer).
    """
    from ._layer import dtype_policy_config  # _layer imports this module

    items = sequential_layers(layers, input_shape)
    batch_shape = items[0].batch_shape
    shape = batch_shape
    entries = [serialize_layer(items[0])]
    for layer in items[1:]:
        if layer._merge:
            raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) merges several "
                             "tensors and cannot be part of a Sequential model; use the "
                             "functional API")
        entries.append(serialize_layer(layer, build_shape=shape))
        layer._check_input(shape)
        shape = layer.compute_output_shape(shape)
    config = {
        "name": name,
        "trainable": trainable,
        "dtype": dtype_policy_config(),
        "layers": entries,
        "build_input_shape": batch_shape,
    }
    return _model_entry("keras", "Sequential", config, None, batch_shape, compile_config)


def _map_graph(inputs, outputs):
    """The nodes of the graph from `inputs` to `outputs` and its layers in Keras' order.

    - A depth-first walk from each output in turn lists nodes after their parents
      and numbers layers in the order first seen.
    - Walking that list backwards, a node's depth is the largest of its layer's
      depth so far and one more than that of any child; a layer's depth is the
      largest of its nodes'.
    - Layers come deepest first, ties by first-seen number; inputs no output
      reads get depth 0 and number -1.
    O(nodes + edges), iterative so that deep models do not hit Python's recursion limit.
    """
    input_nodes = set()
    for t in inputs:
        if not _node_of(t).is_input:
            raise NotImplementedError(
                f"Model input {t!r} is made by layer '{t._keras_history.operation.name}'; "
                "leantrain models take tensors from keras.Input() as inputs")
        input_nodes.add(_node_of(t))
    finished, in_progress = set(), set()
    order = []
    op_index = {}
    for output in outputs:
        stack = [(_node_of(output), None)]
        while stack:
            node, parents = stack.pop()
            if parents is None:  # first visit
                if node in finished:
                    continue
                if node in in_progress:
                    raise ValueError(f"Layer '{node.layer.name}' is part of a cycle")
                op_index.setdefault(node.layer, len(op_index))
                in_progress.add(node)
                parents = iter(node.parent_nodes)
            parent = next(parents, None)
            if parent is None:
                in_progress.discard(node)
                finished.add(node)
                order.append(node)
                continue
            stack.append((node, parents))
            stack.append((parent, None))

    for node in order:
        if node.is_input and node not in input_nodes:
            raise ValueError(
                f"Graph disconnected: the outputs read input '{node.layer.name}', which is "
                "not in `inputs`; add it to the model's inputs")
    in_graph = set(order)
    node_depth, op_depth = {}, {}
    for node in reversed(order):
        depth = max(node_depth.setdefault(node, 0), op_depth.get(node.layer, 0))
        op_depth[node.layer] = depth
        node_depth[node] = depth
        for parent in node.parent_nodes:
            if parent in in_graph:
                node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for t in inputs:
        node = _node_of(t)
        if node.layer not in op_depth:
            op_depth[node.layer] = 0
            op_index[node.layer] = -1
            node_depth[node] = 0
            in_graph.add(node)

    operations = sorted(op_depth, key=lambda op: (-op_depth[op], op_index[op]))
    names = [op.name for op in operations]
    for n in names:
        if names.count(n) != 1:
            raise ValueError(f'The name "{n}" is used {names.count(n)} times in the model. '
                             "All operation names should be unique.")
    return in_graph, operations


def functional_config(inputs, outputs, name="functional", trainable=True, compile_config=None):
    """json.loads(keras.Model(inputs, outputs, name=name).to_json()).

    Args:
      inputs: a tensor from keras.Input(), or a list (or tuple) of them; the
        structure is kept in "input_layers" (one [name, node, 0] for a tensor,
        a list of them for a list).
      outputs: a tensor made by calling layers on `inputs`, or a list of them.
      trainable, compile_config: as sequential_config() takes them.

    Raises:
      ValueError: a non-tensor, outputs that read an input not in `inputs` (graph
        disconnected), or two layers with one name.
      NotImplementedError: dicts of tensors, or an input that is not from keras.Input().
    """
    flat_inputs = _check_tensors(inputs, "inputs")
    flat_outputs = _check_tensors(outputs, "outputs")
    network, operations = _map_graph(flat_inputs, flat_outputs)

    def reindexed(tensor):  # the node index among the model's own nodes
        layer, node_index, tensor_index = tensor._keras_history
        skipped = sum(1 for n in layer._inbound_nodes[:node_index] if n not in network)
        return [layer.name, node_index - skipped, tensor_index]

    def tensor_config(value):
        if isinstance(value, (list, tuple)):
            return [tensor_config(v) for v in value]
        return {"class_name": "__keras_tensor__",
                "config": {"shape": value.shape, "dtype": value.dtype,
                           "keras_history": reindexed(value)}}

    def history_structure(value):
        if isinstance(value, (list, tuple)):
            return [history_structure(v) for v in value]
        return reindexed(value)

    entries = []
    for layer in operations:
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            {"args": [tensor_config(node.args)], "kwargs": node.kwargs}
            for node in layer._inbound_nodes if node in network and not node.is_input]
        entries.append(entry)
    config = {
        "name": name,
        "trainable": trainable,
        "layers": entries,
        "input_layers": history_structure(inputs),
        "output_layers": history_structure(outputs),
    }
    return _model_entry("keras.src.models.functional", "Functional", config, "Functional",
                        None, compile_config)
