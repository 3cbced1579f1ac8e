"""Argument types for the command line: every value is checked when it is parsed.

A value out of range is bad input (exit 1, one line); a malformed command line is a usage error
(exit 2, one line). Neither prints a traceback or the whole usage text.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from contextlib import contextmanager
from typing import Callable, Iterator, NoReturn


MODEL_HELP = ("registry name (see 'cnnscope models'; default: the demo model), or "
              "path/to/net.py:function to build your own (this runs that file: your code), or "
              "a torch.export program path/to/net.pt2 (read as data: its graph and tensors, "
              "checked before torch reads them), or timm:NAME (needs timm)")


def add_own_model_options(parser: argparse.ArgumentParser) -> None:
    """What a user may state about their own model (a .py factory, a .pt2 program, timm:NAME),
    where it cannot be worked out; for a registry model only --labels applies."""
    group = parser.add_argument_group(
        "your own model", "what cnnscope cannot work out about a model it does not know "
        "(by default it probes the input size, assumes ImageNet's normalisation and numbers the classes)")
    group.add_argument("--input-size", type=integer(8, 2048), default=None, metavar="PX",
                       help="the side of the square input the model takes, e.g. 28, 32 or 224")
    group.add_argument("--mean", type=numbers_list, default=None, metavar="M[,M,M]",
                       help="the normalisation's mean: one value per channel, e.g. "
                            "0.485,0.456,0.406, or one for all (with --std)")
    group.add_argument("--std", type=numbers_list, default=None, metavar="S[,S,S]",
                       help="the normalisation's std: one value per channel, or one for all (with --mean)")
    group.add_argument("--labels", default=None, metavar="FILE",
                       help="class names: a text file, one per line (or a JSON list)")


def add_whole_image_option(parser: argparse.ArgumentParser) -> None:
    """--whole-image: the whole photo, shrunk and padded to a square, instead of the centre crop."""
    parser.add_argument("--whole-image", action="store_true",
                        help="show the network the whole photo, shrunk to fit and padded to a square "
                             "with the mean colour (0 for the network), instead of the model's "
                             "centre crop, which can cut off the edges of the object")


def framing(args: argparse.Namespace) -> str:
    """The inspection framing the command line asks for: "whole" or "crop"."""
    return "whole" if getattr(args, "whole_image", False) else "crop"


def model_hints(args: argparse.Namespace):
    """The ModelHints the command line states (None when it states nothing)."""
    from .core.labels import read_labels
    from .core.user_models import ModelHints

    labels = read_labels(args.labels) if getattr(args, "labels", None) else None
    hints = ModelHints.checked(input_size=getattr(args, "input_size", None), mean=getattr(args, "mean", None),
                               std=getattr(args, "std", None), labels=labels)
    return hints if hints.stated else None


def numbers_list(text: str) -> tuple[float, ...]:
    """An argparse type: 1 or 3 finite numbers separated by commas."""
    parts = [p.strip() for p in text.split(",")]
    values = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise BadValue(f"'{part}' is not a number (write them as 0.5,0.5,0.5)") from None
        if not math.isfinite(value):
            raise BadValue(f"must be finite numbers, not {part}")
        values.append(value)
    if len(values) not in (1, 3):
        raise BadValue(f"give 1 value (grey) or 3 (colour), not {len(values)}")
    return tuple(values)


@contextmanager
def stop_after_the_batch() -> Iterator[Callable[[], bool]]:
    """For long batched work (training, a scan): the first Ctrl+C asks it to stop after the batch
    in flight (the callable yielded says so), a second one stops at once."""
    asked = {"stop": False}

    def interrupted(_signum, _frame) -> None:
        if asked["stop"]:
            raise KeyboardInterrupt
        asked["stop"] = True
        sys.stderr.write("\nstopping after this batch (Ctrl+C again to stop at once)\n")

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield lambda: asked["stop"]
    finally:
        signal.signal(signal.SIGINT, previous)


class BadValue(argparse.ArgumentTypeError):
    """An option's value is out of its range or unknown: bad input, exit 1."""


class CliParser(argparse.ArgumentParser):
    """argparse, with errors said in one line and the exit code telling bad values from usage."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` and exit 1 for a bad value, 2 for a usage error."""
        cause = sys.exc_info()[1]
        bad_value = isinstance(getattr(cause, "__context__", None), BadValue)
        hint = "" if bad_value else f" (see '{self.prog} --help')"
        self.exit(1 if bad_value else 2, f"{self.prog}: error: {message}{hint}\n")


def integer(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise BadValue(f"'{text}' is not a whole number") from None
        if not low <= value <= high:
            raise BadValue(f"must be from {low:,} to {high:,}, not {value:,}")
        return value

    return parse


def number(low: float, high: float, low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number from ``low`` (excluded if ``low_open``) to ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise BadValue(f"'{text}' is not a number") from None
        if not math.isfinite(value):
            raise BadValue(f"must be a finite number, not {text}")
        if value < low or value > high or (low_open and value == low):
            raise BadValue(f"must be {'above' if low_open else 'from'} {low:g} "
                           f"{'and at most' if low_open else 'to'} {high:g}, not {value:g}")
        return value

    return parse


def fraction(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number written plainly (0.008) or as a fraction (2/255), ``low`` to
    ``high``."""
    plain = number(low, high)

    def parse(text: str) -> float:
        top, slash, bottom = text.partition("/")
        if not slash:
            return plain(text)
        try:
            value = float(top) / float(bottom)
        except (ValueError, ZeroDivisionError):
            raise BadValue(f"'{text}' is not a number or a fraction like 2/255") from None
        return plain(repr(value))

    return parse


def channel_list(most: int) -> Callable[[str], list[int]]:
    """An argparse type: channels as "0-7", "3,9,12" or a mix (1 to ``most``), as the window takes."""
    from .core.channel_lists import parse_channels
    from .core.errors import OptionError

    def parse(text: str) -> list[int]:
        try:
            return list(parse_channels(text, most=most))
        except OptionError as exc:
            raise BadValue(str(exc).rstrip(".")) from None

    return parse


def names(what: str) -> Callable[[str], tuple[str, ...]]:
    """An argparse type: names separated by commas, at least one (``what`` says what they name
    in the refusal: "give at least one {what}")."""
    def parse(text: str) -> tuple[str, ...]:
        found = tuple(n.strip() for n in text.split(",") if n.strip())
        if not found:
            raise BadValue(f"give at least one {what}")
        return found
    return parse


def box_corners(text: str) -> tuple[int, int, int, int]:
    """An argparse type: a box as X0,Y0,X1,Y1, whole pixels with X0 < X1 and Y0 < Y1 (X1 and Y1
    excluded, as Pillow's crop box); whether it fits the crop is checked once that is known."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts):
        raise BadValue(f"'{text}' is not a box: give X0,Y0,X1,Y1 in whole pixels, e.g. 40,30,180,200")
    x0, y0, x1, y1 = (int(p) for p in parts)
    if x0 >= x1 or y0 >= y1:
        raise BadValue(f"'{text}' is an empty box: X0 must be below X1 and Y0 below Y1")
    return x0, y0, x1, y1


def colormap(text: str) -> str:
    """An argparse type: a matplotlib colormap name (close matches suggested)."""
    from .core.errors import OptionError
    from .core.render import check_colormap

    try:
        return check_colormap(text)
    except OptionError as exc:
        raise BadValue(str(exc)) from None
