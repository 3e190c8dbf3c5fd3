"""Lists of numbers typed by a user: bond lengths, spins, atom numbers. One parser, one set of rules.

Separators are commas, semicolons or spaces; every entry must be a finite number (whole where asked),
within the stated bounds; there must be at least one and at most ``most``. Every problem is an
InputError whose one-line message names what was being read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from explorer.errors import InputError

#: Most entries in one list unless the caller says otherwise (a curve of more points is not interactive).
MOST_ENTRIES = 200


def parse_numbers(
    values: str | Iterable,
    what: str,
    *,
    whole: bool = False,
    positive: bool = False,
    non_negative: bool = False,
    most: int = MOST_ENTRIES,
) -> list:
    """The numbers of ``values`` (a string such as "0.7, 1.0; 2" or a sequence), in the given order:
    floats, or ints with ``whole``. ``positive`` requires each > 0, ``non_negative`` each >= 0.
    ``what`` names the list in messages ("bond lengths (Angstrom)", "spins 2S")."""
    if isinstance(values, str):
        tokens = [t for t in values.replace(";", ",").replace(" ", ",").split(",") if t.strip()]
    else:
        tokens = list(values)
    if not tokens:
        raise InputError(f"give at least one of the {what}")
    if len(tokens) > most:
        raise InputError(f"too many {what}: {len(tokens)}, at most {most}")
    numbers = []
    for token in tokens:
        kind = "whole numbers" if whole else "numbers"
        if isinstance(token, bool):
            raise InputError(f"{what} must be {kind}, got {token!r}")
        try:
            value = float(token.strip() if isinstance(token, str) else token)
        except (TypeError, ValueError):
            raise InputError(f"{what} must be {kind}, got {token!r}") from None
        if not math.isfinite(value) or (whole and value != int(value)):
            raise InputError(f"{what} must be finite {kind}, got {token!r}")
        if positive and value <= 0:
            raise InputError(f"{what} must be positive, got {token!r}")
        if non_negative and value < 0:
            raise InputError(f"{what} must not be negative, got {token!r}")
        numbers.append(int(value) if whole else value)
    return numbers
