"""Which requirements a run selects: `--area`, `--requirements` (ids or globs) and `--level`, checked against
the registry before any test, so a typo stops the run with one line naming the closest ids or areas instead
of deselecting every test (pytest's silent exit 5)."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from conformance.suite.requirements import AREA_MODULES, Level, Requirement


class SelectionError(ValueError):
    """A selection option that matches nothing: one line, with the closest names."""


def split(text: str | Iterable[str] | None) -> list[str]:
    """`a,b` (or a list of such strings, as a config file gives them) -> ["a", "b"]."""
    if text is None:
        return []
    parts = [text] if isinstance(text, str) else list(text)
    return [p.strip() for part in parts for p in str(part).split(",") if p.strip()]


def _closest(word: str, candidates: Iterable[str], n: int = 3) -> str:
    close = difflib.get_close_matches(word, list(dict.fromkeys(candidates)), n=n, cutoff=0.5)
    return f"; closest: {', '.join(close)}" if close else ""


def _prefixes(ids: Iterable[str]) -> list[str]:
    """`STREAM-SEQ-001` -> `STREAM-*`, `STREAM-SEQ-*`: what a glob is compared with for a hint."""
    out = []
    for rid in ids:
        parts = rid.split("-")
        out += ["-".join(parts[:i]) + "-*" for i in range(1, len(parts))]
    return out


@dataclass(frozen=True)
class Selection:
    areas: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.areas or self.patterns or self.levels)

    def matches(self, req: Requirement) -> bool:
        if self.areas and req.area not in self.areas:
            return False
        if self.levels and req.level.value not in self.levels:
            return False
        return not self.patterns or any(fnmatch.fnmatchcase(req.id, p) for p in self.patterns)

    def describe(self) -> str:
        parts = [f"--area {','.join(self.areas)}" if self.areas else "",
                 f"--requirements {','.join(self.patterns)}" if self.patterns else "",
                 f"--level {','.join(self.levels)}" if self.levels else ""]
        return " ".join(p for p in parts if p)


def parse_selection(areas: str | Iterable[str] | None, requirements: str | Iterable[str] | None,
                    levels: str | Iterable[str] | None, registry: Iterable[Requirement]) -> Selection:
    """The selection, each name checked against the registry; `SelectionError` names the first bad one."""
    reqs = list(registry)
    known_areas = list(dict.fromkeys([*AREA_MODULES, *(r.area for r in reqs)]))
    wanted_areas = split(areas)
    for area in wanted_areas:
        if area not in known_areas:
            raise SelectionError(f"--area {area!r} is not an area{_closest(area, known_areas)} "
                                 f"(areas: {', '.join(known_areas)})")
    wanted_levels = [lv.upper() for lv in split(levels)]
    for lv in wanted_levels:
        if lv not in Level.__members__:
            raise SelectionError(f"--level {lv!r} is not a level; use MUST, SHOULD or MAY (comma-separated)")
    ids = [r.id for r in reqs]
    patterns = [p.upper() for p in split(requirements)]  # ids are upper case: `stream-*` means the same
    for p in patterns:
        if not any(fnmatch.fnmatchcase(rid, p) for rid in ids):
            candidates = _prefixes(ids) if any(c in p for c in "*?[") else ids
            raise SelectionError(f"--requirements {p!r} matches no requirement id{_closest(p, candidates)} "
                                 "(`python -m conformance requirements` lists them; globs such as STREAM-* work)")
    selection = Selection(tuple(wanted_areas), tuple(patterns), tuple(wanted_levels))
    if selection and not any(selection.matches(r) for r in reqs):
        raise SelectionError(f"{selection.describe()} together select no requirement; widen one of them")
    return selection
