"""Character offsets in the unit a client indexes strings by.

The library's offsets count Unicode code points, as Python's `str` indexes. JavaScript, Java and C#
index strings by UTF-16 code units, in which a character beyond the Basic Multilingual Plane (most
emoji, some CJK) takes two, so a client in those languages asks for `"offsets": "utf16"`.
"""

import bisect
import re
from collections.abc import Callable
from typing import Literal

Unit = Literal["code_points", "utf16"]

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def converter(text: str, unit: Unit) -> Callable[[int], int]:
    """A map from code-point offsets into `text` to offsets in `unit`."""
    if unit == "code_points":
        return _same
    astral = [match.start() for match in _ASTRAL.finditer(text)]
    if not astral:
        return _same
    # Each astral character before an offset adds one code unit to it.
    return lambda offset: offset + bisect.bisect_left(astral, offset)


def _same(offset: int) -> int:
    return offset
