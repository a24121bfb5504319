"""Event files from EventFileWriter, read back by the tensorboard package.

Needs numpy, and tensorboard (pure Python; tested with 2.21.0) for reading back.
"""

import importlib
import os
import re
import socket
import struct

import numpy as np
import pytest

from leantrain.keras._tensorboard import (EventFileWriter, ScalarForm, crc32c,
                                          keras_epoch_scalars, masked_crc32c)


def _records(path):
    """The data of each TFRecord in `path`, after checking the framing by hand."""
    data, offset, out = open(path, "rb").read(), 0, []
    while offset < len(data):
        header = data[offset:offset + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[offset + 8:offset + 12])[0] == masked_crc32c(header)
        body = data[offset + 12:offset + 12 + length]
        assert len(body) == length
        assert struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])[0] \
            == masked_crc32c(body)
        out.append(body)
        offset += 16 + length
    return out


def test_crc32c_matches_published_check_values():
    # RFC 3720 B.4 and the CRC catalogue's check value for CRC-32C.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E


def test_masked_crc_matches_tensorboards_reader():
    stub = importlib.import_module("tensorboard.compat.tensorflow_stub.pywrap_tensorflow")
    for data in (b"", b"a", bytes(range(256)) * 3):
        assert masked_crc32c(data) == stub.masked_crc32c(data)


def test_file_is_named_as_tf_names_it_and_numbered_per_process(tmp_path):
    first = EventFileWriter(tmp_path / "train")
    second = EventFileWriter(tmp_path / "validation")
    pattern = (r"events\.out\.tfevents\.(\d{10})\." + re.escape(socket.gethostname())
               + rf"\.{os.getpid()}\.(\d+)\.v2")
    a = re.fullmatch(pattern, os.path.basename(first.path))
    b = re.fullmatch(pattern, os.path.basename(second.path))
    assert a and b, (first.path, second.path)
    assert int(b.group(2)) == int(a.group(2)) + 1
    assert os.path.dirname(first.path) == str(tmp_path / "train")
    first.close()
    second.close()


def test_first_record_is_the_file_version_event(tmp_path):
    event_pb2 = importlib.import_module("tensorboard.compat.proto.event_pb2")
    with EventFileWriter(tmp_path) as writer:
        pass
    (record,) = _records(writer.path)
    event = event_pb2.Event.FromString(record)
    assert event.file_version == "brain.Event:2"
    assert event.wall_time == int(os.path.basename(writer.path).split(".")[3])
    assert event.step == 0


def test_event_accumulator_reads_back_exact_steps_and_float32_values(tmp_path):
    event_accumulator = importlib.import_module("tensorboard.backend.event_processing.event_accumulator")
    losses = [2.302585092994046, 1.0 / 3.0, 0.1, 1e-8, 12345.678901]
    with EventFileWriter(tmp_path / "train") as writer:
        for step, loss in enumerate(losses):
            writer.add_scalar("epoch_loss", loss, step)
            writer.add_scalar("epoch_accuracy", 1.0 - loss / 100, step)
        writer.add_scalar("epoch_loss", -7.5, 2**40)
    accumulator = event_accumulator.EventAccumulator(str(tmp_path / "train")).Reload()
    events = accumulator.Scalars("epoch_loss")
    assert [e.step for e in events] == [0, 1, 2, 3, 4, 2**40]
    assert [e.value for e in events] == [float(np.float32(v)) for v in losses + [-7.5]]
    assert sorted(accumulator.Tags()["scalars"]) == ["epoch_accuracy", "epoch_loss"]


def test_tensor_form_is_tf2_bytes_and_read_by_the_plugin_accumulator(tmp_path):
    plugin_accumulator = importlib.import_module("tensorboard.backend.event_processing.plugin_event_accumulator")
    from tensorboard.util import tensor_util
    with EventFileWriter(tmp_path, scalar_form=ScalarForm.TENSOR) as writer:
        writer.add_scalar("epoch_accuracy", 0.34375, 0, wall_time=1796667702.542762)
        writer.add_scalar("epoch_loss", 1.0 / 3.0, 1)
    # The record TF 2.21's tf.summary.scalar wrote for this value under Keras 3.15.
    assert _records(writer.path)[1].hex() == (
        "099dbca24dbec5da412a2b0a290a0e65706f63685f6163637572616379420a08011200"
        "22040000b03e4a0b0a090a077363616c617273")
    accumulator = plugin_accumulator.EventAccumulator(str(tmp_path)).Reload()
    (event,) = accumulator.Tensors("epoch_loss")
    assert event.step == 1
    assert tensor_util.make_ndarray(event.tensor_proto) == np.float32(1.0 / 3.0)
    assert accumulator.PluginTagToContent("scalars").keys() == {"epoch_accuracy", "epoch_loss"}


def test_flush_makes_events_visible_before_close(tmp_path):
    writer = EventFileWriter(tmp_path)
    writer.add_scalar("epoch_loss", 0.5, 0)
    writer.flush()
    assert len(_records(writer.path)) == 2
    writer.close()
    writer.close()


def test_keras_epoch_scalars_splits_train_and_validation_as_the_callback():
    logs = {"accuracy": 0.5, "loss": 1.5, "val_accuracy": 0.25, "val_loss": 2.5}
    train, validation = keras_epoch_scalars(logs, learning_rate=0.01)
    assert list(train.items()) == [("epoch_accuracy", 0.5), ("epoch_loss", 1.5),
                                   ("epoch_learning_rate", 0.01)]
    assert list(validation.items()) == [("epoch_accuracy", 0.25), ("epoch_loss", 2.5)]


def test_refuses_bad_arguments_with_the_value(tmp_path):
    with EventFileWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match="tag=''"):
            writer.add_scalar("", 1.0, 0)
        with pytest.raises(ValueError, match="step=1.5 for tag 'epoch_loss'"):
            writer.add_scalar("epoch_loss", 1.0, 1.5)
    with pytest.raises(ValueError, match="scalar_form='tensor'"):
        EventFileWriter(tmp_path, scalar_form="tensor")


def test_tensorflow_reads_our_file(tmp_path):
    tf = importlib.import_module("tensorflow")
    with EventFileWriter(tmp_path) as writer:
        writer.add_scalar("epoch_loss", 0.25, 3)
    events = list(tf.compat.v1.train.summary_iterator(writer.path))
    assert events[0].file_version == "brain.Event:2"
    assert (events[1].step, events[1].summary.value[0].tag,
            events[1].summary.value[0].simple_value) == (3, "epoch_loss", 0.25)
