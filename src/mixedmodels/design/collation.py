"""R's order of string factor levels: ICU's root collation.

``factor(x)`` sorts the distinct strings with the locale's collation; R on
Linux and macOS (built with ICU, any locale but C/POSIX) uses ICU, whose
root order compares, in turn:

1. primary: whole strings by base characters, case and accents ignored, with
   spaces and punctuation first (in the order of ``_PUNCTUATION``), then
   symbols, digits (character by character, so "10" < "9"), then letters;
2. secondary: accents ("e" < "é");
3. tertiary: case, lower before upper ("a" < "A" < "b").

So R gives ``a A b B`` where a code-point sort gives ``A B a b``. This
module reproduces that order for Latin text (the order R prints in
``levels()`` and uses for the baseline of treatment contrasts); under
``LC_COLLATE=C`` R sorts by code point instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

__all__ = ["r_sort_key", "r_sorted"]

# ICU root order of the ASCII characters before the digits (verified in R)
_PUNCTUATION = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"
_PUNCT_RANK = {c: i for i, c in enumerate(_PUNCTUATION)}

Key = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, ...], ...], tuple[int, ...], str]


def _primary(ch: str) -> tuple[int, int]:
    if ch in _PUNCT_RANK:
        return (0, _PUNCT_RANK[ch])
    if ch.isspace():
        return (0, -1)
    if ch.isdigit():
        return (2, unicodedata.digit(ch, 0))
    if ch.isalpha():
        return (3, ord(ch.casefold()[0]))
    return (1, ord(ch))  # other symbols: after ASCII punctuation, before digits


def r_sort_key(s: str) -> Key:
    """Sort key giving ICU root collation order (R's ``sort`` of strings)."""
    primary: list[tuple[int, int]] = []
    secondary: list[tuple[int, ...]] = []
    tertiary: list[int] = []
    for ch in unicodedata.normalize("NFD", s):
        if unicodedata.combining(ch) and secondary:
            secondary[-1] = (*secondary[-1], ord(ch))
            continue
        primary.append(_primary(ch))
        secondary.append(())
        tertiary.append(1 if ch.isupper() else 0)
    return tuple(primary), tuple(secondary), tuple(tertiary), s


def r_sorted(values: Iterable[str]) -> list[str]:
    """Distinct strings in R's level order."""
    return sorted(set(values), key=r_sort_key)
