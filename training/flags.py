"""Numeric flags checked against their allowed range before any work, one line naming the flag.

A bad number found later costs a traceback and a half-done run; found up front it is a usage line:

    error: --ratio must be in (0, 1], got 2.0

The same bounds serve a value given as a flag and one read from a config file, so both are checked
after parsing rather than by argparse's `type=`.
"""

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bound:
    """An interval for a number: `low`/`high` (None: unbounded), each end open or closed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        """The range in words a user reads: "at least 1", "above 0", "in (0, 1]"."""
        if self.low is not None and self.high is not None:
            opening, closing = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {opening}{_number(self.low)}, {_number(self.high)}{closing}"
        if self.low is not None:
            return f"{'above' if self.low_open else 'at least'} {_number(self.low)}"
        if self.high is not None:
            return f"{'below' if self.high_open else 'at most'} {_number(self.high)}"
        return "a finite number"

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)


def _number(value: float) -> str:
    """An integer bound in full (a seed's 4294967295, never 4.29497e+09), others as %g."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


AT_LEAST_0 = Bound(0)
AT_LEAST_1 = Bound(1)
ABOVE_0 = Bound(0, low_open=True)
FRACTION = Bound(0, 1, low_open=True)  # a share of a whole: (0, 1]
PROBABILITY_BELOW_1 = Bound(0, 1, high_open=True)  # e.g. dropout: [0, 1)
SUMMARY_LENGTH = {"max_sentences": AT_LEAST_1, "ratio": FRACTION, "max_words": AT_LEAST_1}


def check(parser: argparse.ArgumentParser, values: Mapping[str, Any], bounds: Mapping[str, Bound]) -> None:
    """Exit through `parser.error` for the first value (a number or a list of numbers) outside its
    bound; None means the flag was not given and passes."""
    for name, bound in bounds.items():
        value = values.get(name)
        for number in value if isinstance(value, list | tuple) else [value]:
            if number is not None and not bound.holds(number):
                shown = value if isinstance(value, list | tuple) else number
                parser.error(f"--{name.replace('_', '-')} must be {bound.describe()}, got {shown}")
