"""What a unit responds to, on the model shown: channel images (feature visualisation), Deep Dream
on the photo, and adversarial examples. Each runs in steps on the engine thread, sends the image
as it forms, and stops at the next step when cancelled or superseded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import ImageSource, Job, Request, Service
from .model import LoadModel


@dataclass(frozen=True)
class VisualiseChannels(Request):
    """Optimise one image per channel of ``layer``."""

    about_shown_model = True
    layer: str
    channels: tuple[int, ...]
    steps: int = 128
    regularised: bool = True  # Fourier + transforms; False: plain pixels, no transforms
    seed: int = 0


@dataclass(frozen=True)
class VisualiseClass(Request):
    """Optimise one image for a class's score (its logit)."""

    about_shown_model = True
    label: str
    steps: int = 128
    regularised: bool = True
    seed: int = 0


@dataclass(frozen=True)
class DreamPhoto(Request):
    """Deep Dream on the photo at ``layer``."""

    about_shown_model = True
    source: ImageSource
    layer: str
    octaves: int = 3
    steps: int = 10
    strength: float = 0.02
    framing: str = "crop"  # or "whole", as the inspection shown (View > Whole image)


@dataclass(frozen=True)
class AttackPhoto(Request):
    """An adversarial version of the photo (towards ``target``, or away from the top class)."""

    about_shown_model = True
    source: ImageSource
    epsilon: float = 2 / 255
    target: str | None = None
    method: str = "pgd"
    steps: int = 10
    framing: str = "crop"  # or "whole", as the inspection shown (View > Whole image)


for _kind in (VisualiseChannels, VisualiseClass, DreamPhoto, AttackPhoto):
    _kind.superseded_by = (LoadModel, _kind)


@dataclass
class AttackShown:
    """An attack (core.adversarial.Attack) and its pictures: photo | change, amplified |
    adversarial, and below it where each looked (Grad-CAM over photo | over adversarial)."""

    attack: Any
    picture: np.ndarray
    looked: np.ndarray
    looked_at: tuple[str, str]  # the class each Grad-CAM explains (each photo's top class)


@dataclass
class UnitImages:
    """Images as they form (``done`` False, every few steps) or finished (``done`` True)."""

    kind: str  # "channels" or "dream"
    picture: np.ndarray  # what the panel shows: the channel images in a grid, or photo | dream
    step: int
    steps: int
    scores: list[float]
    labels: list[str]  # what each image shows, e.g. "features.3, channel 5"
    done: bool
    cancelled: bool = False
    seconds: float = 0.0
    photo_scores: list[float] | None = None  # the same channels' mean on the photo shown
    layer: str | None = None  # the channels' layer (None for a class)
    channels: tuple[int, ...] = ()
    layout: tuple | None = None  # core.render.tile_at's layout of ``picture``: a click -> a channel


class UnitsService(Service):
    """Runs core.optimize and core.adversarial on the shown model."""

    handles = (VisualiseChannels, VisualiseClass, DreamPhoto, AttackPhoto)

    def run(self, request: Request, job: Job) -> Any:
        """Serve one request."""
        if isinstance(request, (VisualiseChannels, VisualiseClass)):
            return self._channels(request, job)
        if isinstance(request, DreamPhoto):
            return self._dream(request, job)
        from cnnscope.core import render
        from cnnscope.core.adversarial import attack, where_each_looked

        loaded = self.state.model()
        found = attack(loaded, request.source.decode(), request.epsilon, request.target,
                       request.method, request.steps, self.state.device, request.framing)
        before, after = where_each_looked(loaded, found, self.state.device, self.state.inspection)
        looked = [render.heat_overlay(photo, cam.heatmap)
                  for photo, cam in ((found.original, before), (found.adversarial, after))]
        return AttackShown(found, render.side_by_side([found.original, found.change_picture(),
                                                       found.adversarial]),
                           render.side_by_side(looked), (before.target_label, after.target_label))

    def _channels(self, request: VisualiseChannels | VisualiseClass, job: Job) -> UnitImages:
        from cnnscope.core import optimize, render
        from cnnscope.core.adversarial import class_index

        loaded = self.state.model()
        if isinstance(request, VisualiseClass):
            index = class_index(loaded, request.label)
            objective, labels = optimize.class_logit(index), [f"class, {loaded.labels[index]}"]
            layer, channels = None, ()
        else:
            objective = optimize.channel(request.layer, list(request.channels))
            labels = [f"{request.layer}, channel {c}" for c in request.channels]
            layer, channels = request.layer, request.channels

        def grid(images: np.ndarray) -> np.ndarray:
            return render.tile(images, columns=min(len(images), 4), pad=4)

        def forming(step) -> None:
            if step.images is not None:
                job.send(UnitImages("channels", grid(step.images), step.step, step.steps, [], labels,
                                    False))
            job.progress(step.step, step.steps)
        found = optimize.visualise(
            loaded, objective, batch=len(labels), steps=request.steps,
            parameterisation="fourier" if request.regularised else "pixel",
            transforms=request.regularised, seed=request.seed, device=self.state.device,
            on_step=forming, should_cancel=job.cancelled)
        inspection = self.state.inspection  # the photo shown: how much these channels fire there
        on_photo = None
        if inspection is not None and layer is not None and layer in inspection.activations:
            maps = inspection.activation(layer)
            on_photo = [float(maps[c].mean()) for c in channels]
        count, height, width = found.images.shape[:3]
        return UnitImages("channels", grid(found.images), found.steps_done, request.steps,
                          found.scores, labels, True, found.cancelled, found.seconds, on_photo,
                          layer, tuple(channels), (count, min(count, 4), height, width, 4))

    def _dream(self, request: DreamPhoto, job: Job) -> UnitImages:
        from cnnscope.core import optimize, render

        loaded, image = self.state.model(), request.source.decode()
        photo = loaded.spec.preprocessing.picture(image, framing=request.framing).permute(1, 2, 0).numpy()  # as seen

        def pair(dreamt: np.ndarray) -> np.ndarray:
            if dreamt.shape != photo.shape:  # a small octave, while it forms
                return dreamt
            return render.side_by_side([photo, dreamt])

        def forming(step) -> None:
            if step.images is not None:
                job.send(UnitImages("dream", pair(step.images[0]), step.step, step.steps, [],
                                    [request.layer], False))
            job.progress(step.step, step.steps)
        found = optimize.dream(loaded, image, request.layer, octaves=request.octaves,
                               steps=request.steps, strength=request.strength,
                               device=self.state.device, on_step=forming,
                               should_cancel=job.cancelled, framing=request.framing)
        return UnitImages("dream", pair(found.images[0]), found.steps_done,
                          request.octaves * request.steps, found.scores, [request.layer], True,
                          found.cancelled, found.seconds)
