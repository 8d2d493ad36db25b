"""The eight approaches of the leaf study: every combination of PCGrad, Modulation and LaSS."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["APPROACHES", "Approach", "get_approach", "parse_approaches"]


@dataclass(frozen=True)
class Approach:
    """A combination of the three gradient-conflict mitigation methods."""

    letter: str
    pcgrad: bool
    modulation: bool
    lass: bool

    @property
    def methods(self) -> tuple[str, ...]:
        """Names of the methods switched on, in the order PCGrad, Modulation, LaSS."""
        flags = (("PCGrad", self.pcgrad), ("Modulation", self.modulation), ("LaSS", self.lass))
        return tuple(name for name, on in flags if on)

    @property
    def label(self) -> str:
        """A readable name such as ``"F: PCGrad + LaSS"`` or ``"A: baseline"``."""
        return f"{self.letter}: {' + '.join(self.methods) or 'baseline'}"


def _approach(letter: str, pcgrad: bool, modulation: bool, lass: bool) -> Approach:
    return Approach(letter, pcgrad=pcgrad, modulation=modulation, lass=lass)


APPROACHES: MappingProxyType[str, Approach] = MappingProxyType(
    {
        "A": _approach("A", False, False, False),
        "B": _approach("B", False, False, True),
        "C": _approach("C", False, True, False),
        "D": _approach("D", False, True, True),
        "E": _approach("E", True, False, False),
        "F": _approach("F", True, False, True),
        "G": _approach("G", True, True, False),
        "H": _approach("H", True, True, True),
    }
)
"""Letters A–H mapped to their methods, as in the study of Alison, Jonathan and Suhartono (2024)."""


def get_approach(letter: str | Approach) -> Approach:
    """Return the approach with this letter (case-insensitive)."""
    if isinstance(letter, Approach):
        return letter
    key = str(letter).strip().upper()
    if key not in APPROACHES:
        raise ValueError(f"approach must be one of {', '.join(APPROACHES)}, got {letter!r}")
    return APPROACHES[key]


def parse_approaches(text: str) -> list[Approach]:
    """Parse a comma-separated list of letters such as ``"A,F,H"``, keeping the given order."""
    letters = [part.strip() for part in text.split(",") if part.strip()]
    if not letters:
        raise ValueError(f"approaches must list letters from {', '.join(APPROACHES)}, got {text!r}")
    approaches = [get_approach(letter) for letter in letters]
    seen = set()
    unique = []
    for approach in approaches:
        if approach.letter not in seen:
            seen.add(approach.letter)
            unique.append(approach)
    return unique
