"""The commands that optimise an image by gradient: ``visualize`` (what a unit responds to),
``dream`` (Deep Dream on a photo) and ``attack`` (an adversarial example). Each loads through
core's safe loaders, checks its values when parsed, and writes PNGs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .core.files import make_folder, refuse_unwritable
from .cli_types import (MODEL_HELP, add_own_model_options, add_whole_image_option, channel_list, fraction, framing,
                        integer, model_hints, number)


def add_parsers(sub) -> None:
    """The three subcommands and their options."""
    v = sub.add_parser("visualize", help="the image a channel (or a class) responds to most")
    v.add_argument("--model", default=None, help=MODEL_HELP)
    add_own_model_options(v)
    v.add_argument("--weights", default="pretrained", help="pretrained, random or a file path")
    v.add_argument("--layer", default=None, help="the layer whose channels to show (or --class)")
    v.add_argument("--channels", type=channel_list(64), default=[0],
                   help="channels as 0-7, 3,9,12 or a mix (default 0; at most 64): one image "
                        "each, one batch")
    v.add_argument("--class", dest="class_name", default=None,
                   help="visualise a class (its logit) instead of channels")
    v.add_argument("--steps", type=integer(1, 10_000), default=256)
    v.add_argument("--size", type=integer(32, 1024), default=None,
                   help="image side in pixels (default: the model's input size)")
    v.add_argument("--param", choices=("fourier", "pixel"), default="fourier",
                   help="fourier: readable (default); pixel: plain pixels, to see why it matters")
    v.add_argument("--no-transforms", action="store_true",
                   help="no random jitter, scale and rotation (the image turns to noise)")
    v.add_argument("--seed", type=integer(0, 2**31 - 1), default=0)
    v.add_argument("--device", default="auto")
    v.add_argument("--out", required=True, help="folder for the PNGs")

    d = sub.add_parser("dream", help="Deep Dream: amplify what a layer sees in a photo")
    d.add_argument("--image", required=True)
    d.add_argument("--model", default=None, help=MODEL_HELP)
    add_own_model_options(d)
    d.add_argument("--weights", default="pretrained")
    d.add_argument("--layer", default=None, help="default: the model's middle feature layer")
    d.add_argument("--octaves", type=integer(1, 8), default=3)
    d.add_argument("--steps", type=integer(1, 1000), default=10, help="steps per octave")
    d.add_argument("--strength", type=number(0, 1, low_open=True), default=0.02)
    d.add_argument("--device", default="auto")
    d.add_argument("--out", required=True, help="PNG file to write")
    add_whole_image_option(d)

    a = sub.add_parser("attack", help="an adversarial example: an invisible change that fools it")
    a.add_argument("--image", required=True)
    a.add_argument("--model", default=None, help=MODEL_HELP)
    add_own_model_options(a)
    a.add_argument("--weights", default="pretrained")
    a.add_argument("--target", default=None, help="the class to push it towards (default: away "
                   "from its top class)")
    a.add_argument("--epsilon", type=fraction(1 / 255, 64 / 255), default=2 / 255,
                   help="the largest change per pixel, e.g. 2/255 (default) or 0.008")
    a.add_argument("--method", choices=("pgd", "fgsm"), default="pgd")
    a.add_argument("--steps", type=integer(1, 1000), default=10, help="PGD steps (default 10)")
    a.add_argument("--device", default="auto")
    a.add_argument("--out", required=True, help="folder for the PNGs")
    add_whole_image_option(a)


def _loaded(args):
    from .cli import load_model_with_bar
    from .core.devices import pick_device
    from .core.models import DEFAULT_MODEL

    device = pick_device(args.device)
    loaded = load_model_with_bar(args.model or DEFAULT_MODEL, args.weights, model_hints(args))
    loaded.module.to(device)
    return loaded, device


def _progress(label: str):
    def show(step) -> None:
        sys.stderr.write(f"\r{label}: step {step.step}/{step.steps}, objective {step.objective:.3f} ")
        if step.step == step.steps:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show


def visualize(args, parser: argparse.ArgumentParser) -> int:
    """Write one PNG per channel (or the class) and a strip of them all."""
    import numpy as np

    from .core import optimize
    from .core.adversarial import class_index
    from .core.render import save_png

    if (args.layer is None) == (args.class_name is None):
        parser.error("visualize needs --layer (with --channels) or --class")
    out = make_folder(args.out)  # before minutes of optimising
    loaded, device = _loaded(args)
    if args.class_name is not None:
        index = class_index(loaded, args.class_name)
        objective, names = optimize.class_logit(index), [f"class_{loaded.labels[index]}"]
        batch = 1
    else:
        objective = optimize.channel(args.layer, args.channels)
        names, batch = [f"{args.layer}_ch{c}" for c in args.channels], len(args.channels)
    found = optimize.visualise(loaded, objective, batch=batch, steps=args.steps,
                               parameterisation=args.param, transforms=not args.no_transforms,
                               size=args.size, seed=args.seed, device=device,
                               on_step=_progress("optimising"))
    for name, image, score in zip(names, found.images, found.scores):
        save_png(image, out / f"{name}.png")
        print(f"{name}: objective {score:.3f}")
    if batch > 1:
        save_png(np.concatenate(list(found.images), axis=1), out / "strip.png")
    print(f"wrote {len(names)} image(s) to {out} ({found.seconds:.1f} s)")
    return 0


def dream(args, parser: argparse.ArgumentParser) -> int:
    """Write the dreamt photo."""
    from .core import optimize
    from .core.images import open_image
    from .core.inspect import default_feature_layer, inspect
    from .core.render import save_png

    if args.out and Path(args.out).suffix.lower() != ".png":
        parser.error(f"--out {args.out}: the dream is written as a PNG; name the file .png")
    image = open_image(args.image)
    refuse_unwritable(args.out)  # before the dream's work
    loaded, device = _loaded(args)
    layer = args.layer or default_feature_layer(inspect(loaded, image, device), loaded.spec.input_size)
    found = optimize.dream(loaded, image, layer, octaves=args.octaves, steps=args.steps,
                           strength=args.strength, device=device, on_step=_progress("dreaming"),
                           framing=framing(args))
    save_png(found.images[0], args.out)
    print(f"{layer}: energy {found.history[0]:.3f} -> {found.scores[0]:.3f}; wrote {args.out}")
    return 0


def attack(args, parser: argparse.ArgumentParser) -> int:
    """Write the crop, the adversarial photo, the change amplified, where each looked (Grad-CAM),
    and say what it did."""
    from .core import adversarial
    from .core.images import open_image
    from .core.render import heat_overlay, save_png

    image = open_image(args.image)
    out = make_folder(args.out)  # before the attack's work
    loaded, device = _loaded(args)
    found = adversarial.attack(loaded, image, args.epsilon, args.target, args.method, args.steps,
                               device, framing(args))
    save_png(found.original, out / "original.png")
    save_png(found.adversarial, out / "adversarial.png")
    save_png(found.change_picture(), out / "perturbation.png")
    looked = adversarial.where_each_looked(loaded, found, device)
    for name, photo, cam in (("original", found.original, looked[0]),
                             ("adversarial", found.adversarial, looked[1])):
        save_png(heat_overlay(photo, cam.heatmap), out / f"gradcam_{name}.png")
    print(f"{found.method.upper()}, at most {found.levels}/255 per pixel "
          f"(perturbation.png shows it {found.amplification}x, grey = no change)")
    print(f"before: {found.before[0][0]} ({found.before[0][1]:.1%})")
    print(f"after:  {found.after[0][0]} ({found.after[0][1]:.1%})")
    print(f"gradcam_original.png / gradcam_adversarial.png: where each looked, for "
          f"'{looked[0].target_label}' and '{looked[1].target_label}'")
    if found.fooled:
        print("the saved 8-bit adversarial.png fools the network")
    else:
        print("the saved 8-bit adversarial.png does NOT fool the network (rounding to whole levels "
              "undid it, or the budget is too small): try a larger --epsilon or more --steps")
    return 0
