"""Argument types for the command line: every value is checked when it is parsed.

A value out of range is bad input (exit 1, one line); a malformed command line is a usage error
(exit 2, one line). Neither prints a traceback or the whole usage text.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Callable, NoReturn


MODEL_HELP = ("registry name (see 'cnnscope models'; default: the demo model), or "
              "path/to/net.py:function to build your own (this runs that file: your code), or "
              "a torch.export program path/to/net.pt2 (torch's reader can run code hidden in one: "
              "only files you trust), or timm:NAME (needs timm)")


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


def colormap(text: str) -> str:
    """An argparse type: a matplotlib colormap name (close matches suggested)."""
    from .core.errors import OptionError
    from .core.render import check_colormap

    try:
        return check_colormap(text)
    except OptionError as exc:
        raise BadValue(str(exc)) from None
