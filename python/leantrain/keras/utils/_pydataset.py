"""keras.utils.PyDataset: the base class of Python datasets that fit() iterates."""

import itertools
import warnings

_DEFAULTS = {"_workers": 1, "_use_multiprocessing": False, "_max_queue_size": 10}


class PyDataset:
    """A dataset of batches: subclasses implement __getitem__ and __len__.

    __getitem__(index) returns a whole batch (x, y) or (x, y, sample_weight);
    __len__ (or the num_batches property) gives the number of batches, or None
    for an endless dataset. on_epoch_begin() and on_epoch_end() run around each
    epoch, e.g. to shuffle.

    workers, use_multiprocessing and max_queue_size tell fit() how to prefetch;
    the class itself does not use them, and iterating over it directly runs in
    the caller's thread. Subclasses must call super().__init__(**kwargs).
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        missing = [name for name in _DEFAULTS if not hasattr(self, name)]
        for name in missing:
            setattr(self, name, _DEFAULTS[name])
        if missing:
            warnings.warn(
                "Your `PyDataset` class should call `super().__init__(**kwargs)` "
                "in its constructor. `**kwargs` can include `workers`, "
                "`use_multiprocessing`, `max_queue_size`. Do not pass these "
                "arguments to `fit()`, as they will be ignored.", stacklevel=3)

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """Returns batch number `index`."""
        raise NotImplementedError(f"{type(self).__name__} must implement "
                                  "__getitem__(self, index) returning a batch")

    @property
    def num_batches(self):
        """The number of batches, or None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            f"{type(self).__name__} must implement __len__ or the num_batches "
            "property:\n\n@property\ndef num_batches(self):\n  return ...")

    def __iter__(self):
        try:
            count = self.num_batches
        except NotImplementedError:
            count = None
        for index in range(count) if count is not None else itertools.count():
            yield self[index]

    def on_epoch_begin(self):
        """Called at the start of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""
