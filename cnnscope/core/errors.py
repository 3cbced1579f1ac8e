"""Typed errors that carry a sentence a user can act on.

Every face (CLI, GUI, tests) catches :class:`CnnscopeError` and shows ``str(err)``; a traceback is
never the user's problem.
"""

from __future__ import annotations


class CnnscopeError(Exception):
    """Base class: the message is a complete sentence meant for the user."""


class ImageError(CnnscopeError):
    """A file could not be opened as an image (names the file and the reason)."""


class WeightsError(CnnscopeError):
    """Weights could not be downloaded, found, trusted or fitted to the architecture."""


class DeviceError(CnnscopeError):
    """A requested compute device is not available or ran out of memory."""


class DatasetError(CnnscopeError):
    """A training folder is unusable (too few classes, empty class...)."""


class ModelError(CnnscopeError):
    """An unknown model or layer name was asked for."""


class OptionError(CnnscopeError):
    """A setting's value is out of its range or unknown (a colormap, a learning rate...)."""


class TrainingError(CnnscopeError):
    """A training run could not go on (its loss stopped being a number...) or be saved."""


class ScanError(CnnscopeError):
    """A dataset scan cannot start or go on (its folder, its output, a scan of something else)."""
