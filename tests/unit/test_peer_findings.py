"""Suite bugs found by running the suite against real third-party servers (docs/compatibility.md).

Each test pins the fix of one false alarm a peer exposed, so it does not come back.
"""

from __future__ import annotations

from hypothesis import given, settings

from conformance.fuzz import fit, unusual_text


@settings(max_examples=300, deadline=None)
@given(unusual_text(1, 64))
def test_fuzzed_metadata_keys_fit_64_characters_however_counted(key):
    """responses.js (zod, UTF-16 units) rejected a 64-code-point key holding emoji: ROBUST-FUZZ-001 false alarm."""
    assert len(key) <= 64
    assert len(key.encode("utf-16-le")) // 2 <= 64


def test_fit_never_splits_a_character():
    assert fit("a" * 63 + "👋", 64) == "a" * 63
    assert fit("👋" * 40, 64) == "👋" * 32
    assert fit("plain", 64) == "plain"
