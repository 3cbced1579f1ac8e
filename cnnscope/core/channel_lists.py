"""Channel numbers as people type them ("0-7", "3, 9, 12"): one syntax for the CLI and the window.

Plain Python (no torch), so the window can check what was typed before asking the engine.
"""

from __future__ import annotations

import re

from .errors import OptionError

_PART = re.compile(r"[0-9]{1,7}(-[0-9]{1,7})?")  # ASCII digits only: '²' is a digit to isdigit()


def parse_channels(text: str, count: int | None = None, most: int = 16) -> tuple[int, ...]:
    """Channel numbers from "0-7", "3, 9, 12" or a mix, in order without repeats: 1 to ``most`` of
    them, each below ``count`` when it is known. One syntax for the CLI and the window."""
    chosen: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        if not _PART.fullmatch(part):
            raise OptionError(f"'{part[:24]}' is not a channel number or a range like 0-7.")
        low, _dash, high = part.partition("-")
        first, last = int(low), int(high or low)
        if last < first:
            raise OptionError(f"'{part}' runs backwards: write {last}-{first}.")
        if last - first >= 10 * most:
            raise OptionError(f"Give 1 to {most} channels, e.g. 0-7 or 3,9,12.")
        chosen += list(range(first, last + 1))
    chosen = list(dict.fromkeys(chosen))
    if not 1 <= len(chosen) <= most:
        raise OptionError(f"Give 1 to {most} channels, e.g. 0-7 or 3,9,12.")
    if count is not None and max(chosen) >= count:
        raise OptionError(f"This layer has {count} channels (0 to {count - 1}).")
    return tuple(chosen)
