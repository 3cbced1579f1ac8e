"""Channel lists as people type them: one parser for the CLI and the window."""

from __future__ import annotations

import pytest

from cnnscope.core.channel_lists import parse_channels
from cnnscope.core.errors import OptionError


def test_ranges_lists_and_mixes_in_order_without_repeats():
    assert parse_channels("0-2, 7") == (0, 1, 2, 7)
    assert parse_channels("9,3,9") == (9, 3)
    assert parse_channels(" 5 ") == (5,)


@pytest.mark.parametrize("text, said", [
    ("", "Give 1 to 16 channels"),
    ("7-3", "runs backwards"),
    ("0-99", "Give 1 to 16 channels"),
    ("a", "'a' is not a channel number"),
    ("1-2-3", "'1-2-3' is not a channel number"),
    ("-4", "'-4' is not a channel number"),
])
def test_bad_lists_are_said_in_one_sentence(text, said):
    with pytest.raises(OptionError, match=said):
        parse_channels(text)


def test_huge_numbers_are_refused_without_building_them():
    """A typed "0-99999999999" once built a list of 10^11 numbers before counting them, and a
    5,000-digit number raised Python's own int-conversion error instead of a sentence."""
    with pytest.raises(OptionError, match="Give 1 to 16"):
        parse_channels("0-9999999")
    with pytest.raises(OptionError, match="is not a channel number"):
        parse_channels("0-99999999999")
    with pytest.raises(OptionError, match="is not a channel number"):
        parse_channels("1-" + "9" * 5000)


def test_the_layer_size_and_the_limit_are_kept():
    with pytest.raises(OptionError, match="This layer has 8 channels"):
        parse_channels("6-8", count=8)
    assert len(parse_channels("0-63", most=64)) == 64


@pytest.mark.parametrize("text, said", [
    ("\u00b2", "is not a channel number"),  # a superscript two: isdigit() says yes, int() says no
    ("\u0661\u0662", "is not a channel number"),  # Arabic-Indic digits
    ("999999999999999999999999", "is not a channel number"),  # once overflowed deep in torch
    ("7-0,9", "runs backwards: write 0-7"),  # once silently dropped
])
def test_non_ascii_huge_and_backwards_entries_are_said(text, said):
    with pytest.raises(OptionError, match=said):
        parse_channels(text)
