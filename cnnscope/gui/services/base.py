"""What every engine service shares: the request base class, the job a request runs as, and the
state of the model shown (the one loaded model and its latest inspection)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True)
class Request:
    """A question for the engine: a small frozen dataclass per kind of work.

    Per type (and per asker) only the newest pending request is kept."""

    # Asked about the model shown: one still waiting when another model loads is dropped.
    about_shown_model: ClassVar[bool] = False
    # A pending request of one of these types makes a running one of this type stale.
    superseded_by: ClassVar[tuple[type, ...]] = ()


@dataclass(frozen=True)
class ImageSource:
    """An image the user chose: a file, or bytes (a paste) with a name to show."""

    path: str | None = None
    data: bytes | None = None
    name: str = field(default="image", compare=False)  # shown, not part of which image it is

    @property
    def key(self) -> str | int:
        """What tells two images apart without decoding them."""
        return self.path if self.path is not None else hash(self.data or b"")

    def decode(self):
        """The pixels, through core's safe loaders (a file read is bounded by a timeout)."""
        from cnnscope.core.files import READ_TIMEOUT
        from cnnscope.core.images import decode_image, open_image

        if self.path is not None:
            return open_image(self.path, timeout=READ_TIMEOUT)
        return decode_image(self.data or b"", self.name)


class Job(Protocol):
    """A request being served, as a service sees it."""

    request_id: int

    def progress(self, done: int, total: int) -> None:
        """Report progress (bytes downloaded, passes made; total -1 when unknown)."""

    def cancelled(self) -> bool:
        """Whether to stop now: cancelled, superseded, or the engine is closing."""

    def send(self, result: Any) -> None:
        """Deliver a partial result now (a comparison's columns, one by one)."""

    def drop_pending_about_the_shown_model(self) -> None:
        """Forget waiting requests about the model shown (another one has just loaded)."""


@dataclass
class EngineState:
    """The model shown and its latest inspection: written by the model service, read by the rest.

    ``serial`` changes with every load and inspection, so caches keyed on it go stale by
    themselves."""

    loaded: Any = None  # core.weights.LoadedModel
    device: Any = None  # torch.device
    inspection: Any = None  # core.inspect.Inspection
    serial: int = 0

    def model(self):
        """The loaded model, or a ModelError the user can read."""
        from cnnscope.core.errors import ModelError

        if self.loaded is None:
            raise ModelError("No model is loaded yet.")
        return self.loaded

    def current(self):
        """The latest inspection, or a ModelError the user can read."""
        from cnnscope.core.errors import ModelError

        if self.inspection is None:
            raise ModelError("Nothing has been inspected yet.")
        return self.inspection


class Service:
    """One feature's work on the engine thread. ``handles`` lists its request types; ``run``
    answers one (returning its result, or None when there is nothing to say)."""

    handles: ClassVar[tuple[type[Request], ...]] = ()

    def __init__(self, state: EngineState) -> None:
        self.state = state

    def run(self, request: Request, job: Job) -> Any:
        """Serve ``request``; raise a CnnscopeError with a sentence for the user when it cannot."""
        raise NotImplementedError
