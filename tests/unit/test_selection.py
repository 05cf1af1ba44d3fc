"""Selection by area, id glob and level: exactly the requirements named, and a selection that matches
nothing is one error naming the closest ids or areas (never pytest's silent exit 5)."""

from __future__ import annotations

import pytest

from conformance.plugin.selection import SelectionError, parse_selection
from conformance.suite.requirements import REGISTRY


def selected(area="", requirements="", level=""):
    sel = parse_selection(area, requirements, level, REGISTRY)
    return {r.id for r in REGISTRY if sel.matches(r)}


def test_an_area_and_its_id_glob_select_the_same_requirements():
    streaming = {r.id for r in REGISTRY if r.area == "streaming"}
    assert streaming and selected(area="streaming") == streaming == selected(requirements="STREAM-*")
    assert selected(requirements="stream-*") == streaming  # ids are upper case; so is the glob


def test_areas_levels_and_ids_combine():
    assert selected(area="seed,streaming") == {r.id for r in REGISTRY if r.area in ("seed", "streaming")}
    must = selected(area="streaming", level="MUST")
    assert must and all(REGISTRY.get(i).level.value == "MUST" and i.startswith("STREAM-") for i in must)
    assert selected(requirements="SEED-001,STREAM-SEQ-*") == {"SEED-001", "STREAM-SEQ-001"}
    assert selected(level="may,should") == {r.id for r in REGISTRY if r.level.value in ("MAY", "SHOULD")}


def test_no_selection_keeps_everything():
    sel = parse_selection("", "", "", REGISTRY)
    assert not sel and all(sel.matches(r) for r in REGISTRY)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"area": "streamng"}, "--area 'streamng' is not an area; closest: streaming"),
    ({"requirements": "STREM-*"}, "closest: STREAM-*"),
    ({"requirements": "SEED-01"}, "closest: SEED-001"),
    ({"requirements": "NOPE"}, "matches no requirement id"),
    ({"level": "MUSTN"}, "'MUSTN' is not a level"),
    ({"area": "seed", "level": "MAY"}, "--area seed --level MAY together select no requirement"),
])
def test_a_selection_matching_nothing_names_the_closest(kwargs, words):
    with pytest.raises(SelectionError) as err:
        parse_selection(kwargs.get("area"), kwargs.get("requirements"), kwargs.get("level"), REGISTRY)
    assert words in str(err.value) and "\n" not in str(err.value)
