"""keras.datasets.mnist, read from the file Keras itself caches.

No package of Debian 12 ships MNIST and this machine reaches no other host, so
load_data() reads the mnist.npz that Keras' get_file() downloads elsewhere and
keeps in $KERAS_HOME/datasets (default ~/.keras/datasets), and never downloads.
"""

import hashlib
import os

import numpy as np

# Keras 3's file_hash for mnist.npz: a different file is refused, as Keras
# would refuse it (and download it again).
_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path="mnist.npz"):
    """Returns (x_train, y_train), (x_test, y_test) from Keras' cached mnist.npz.

    Args:
      path: the file's name inside the Keras cache's datasets folder, as Keras'
        load_data(path=...) takes it; a name with a path separator is refused,
        as Keras refuses it.

    Returns uint8 arrays: x (60000, 28, 28) and (10000, 28, 28), y (60000,) and
    (10000,), as stored in the file.

    Raises:
      FileNotFoundError: the file is not in the cache; the message says where it
        looked and how to bring it over.
      ValueError: `path` has a separator, or the file is not Keras' mnist.npz.
    """
    if os.sep in path:
        raise ValueError("Paths are no longer accepted as the `fname` argument. "
                         "To specify the file's parent directory, use the "
                         f"`cache_dir` argument. Received: fname={path}")
    target = os.path.join(_keras_cache_dir(), "datasets", path)
    if not os.path.exists(target):
        raise FileNotFoundError(
            f"mnist: no {target}; this machine cannot download MNIST (only "
            "Debian's and PyPI's package registries are reachable). Copy "
            "~/.keras/datasets/mnist.npz from a machine where "
            "keras.datasets.mnist.load_data() ran, or set KERAS_HOME to the "
            "folder whose datasets/ holds it")
    digest = hashlib.sha256()
    with open(target, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != _MNIST_SHA256:
        raise ValueError(f"{target}: sha256 {digest.hexdigest()} is not Keras' "
                         f"mnist.npz ({_MNIST_SHA256}); the copy is damaged or "
                         "another file: copy it again")
    with np.load(target, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def _keras_cache_dir():
    """Keras' cache folder: $KERAS_HOME, else ~/.keras; /tmp/.keras where that
    cannot be written (Keras' config.keras_home() then get_file())."""
    if "KERAS_HOME" in os.environ:
        base = os.environ["KERAS_HOME"]
    else:
        home = os.path.expanduser("~")
        base = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    base = os.path.expanduser(base)
    if os.path.exists(base) and not os.access(base, os.W_OK):
        return os.path.join("/tmp", ".keras")
    return base
