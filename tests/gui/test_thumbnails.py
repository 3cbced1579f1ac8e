"""The thumbnail thread outlives nothing it talks to."""

from __future__ import annotations

import threading

import numpy as np
import shiboken6

from cnnscope.gui import thumbnails


def test_a_loader_deleted_while_a_thumbnail_is_made_ends_quietly(monkeypatch):
    """The window can be gone (and the loader with it) between the thread's last check and its
    emit: that emit raised 'Signal source has been deleted' on the thread, printed as a traceback.
    pytest fails this test on any exception left on a thread."""
    making, go_on = threading.Event(), threading.Event()

    def slow_thumbnail(path, size, timeout):
        making.set()
        go_on.wait(10)
        return np.zeros((4, 4, 3), np.uint8)

    monkeypatch.setattr("cnnscope.core.images.thumbnail", slow_thumbnail)
    loader = thumbnails.ThumbnailLoader()
    loader.request("photo.png")
    assert making.wait(10)
    worker = loader._thread
    shiboken6.delete(loader)  # the C++ side goes, as when the window is destroyed
    go_on.set()
    worker.join(10)
    assert not worker.is_alive()
