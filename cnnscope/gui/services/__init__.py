"""The engine's work, one service per feature, each owning its requests, results and caches.

A service module imports no torch at the top: the window imports the request and result classes,
and torch loads on the engine thread only."""

from __future__ import annotations

from .architecture import ArchitectureService
from .arithmetic import ArithmeticService
from .attribution import AttributionService
from .base import EngineState, Service
from .compare import CompareService
from .dataset import DatasetService
from .faithfulness import FaithfulnessService
from .live import LiveService
from .maps import MapsService
from .method_grid import MethodGridService
from .model import ModelService
from .playground import PlaygroundService
from .sanity import SanityService
from .units import UnitsService


def default_services(state: EngineState) -> list[Service]:
    """Every feature's service, in the order the engine serves their requests when several wait:
    a model load first (it changes what the others mean), the live camera last."""
    maps = AttributionService(state)  # the faithfulness check reads the map it computed last
    return [ModelService(state), MapsService(state), ArithmeticService(state), ArchitectureService(state),
            maps, FaithfulnessService(state, maps), MethodGridService(state), CompareService(state),
            SanityService(state), UnitsService(state),
            PlaygroundService(state), DatasetService(state), LiveService(state)]
