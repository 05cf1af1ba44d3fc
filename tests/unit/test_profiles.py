"""Feature profiles expand to the features a server does not claim; dotted features are parts."""

from __future__ import annotations

import pytest

from conformance.judge.profiles import PROFILES, ProfileError, covers, declared_unsupported, unsupported_feature
from conformance.suite.requirements import REGISTRY


def test_unsupported_and_profiles_add_up():
    assert declared_unsupported("tools, reasoning", None) == {"tools", "reasoning"}
    assert declared_unsupported("", "vllm") == {"store"}
    assert declared_unsupported("tools", "vllm-store") == {"tools", "store.input_items", "store.delete"}
    assert declared_unsupported(None, "openai") == frozenset()


def test_unknown_profile_is_a_usage_error():
    with pytest.raises(ProfileError, match="known profiles"):
        declared_unsupported("", "no-such-server")


def test_a_feature_covers_its_dotted_parts_only():
    assert covers("store", "store")
    assert covers("store", "store.delete")
    assert not covers("store.delete", "store")
    assert not covers("store", "storefront")
    assert not covers("store.delete", "store.input_items")


def test_a_requirement_needing_several_features_is_unsupported_when_any_is():
    assert unsupported_feature("store,tools", {"tools"}) == "tools"
    assert unsupported_feature("store,tools", {"store"}) == "store"
    assert unsupported_feature("store,tools", {"reasoning"}) is None
    assert unsupported_feature(None, {"store"}) is None
    assert unsupported_feature("store.delete", {"store"}) == "store.delete"


def test_profiles_name_features_that_requirements_use():
    used = {part for r in REGISTRY if r.feature for part in r.feature.split(",")}
    for profile in PROFILES.values():
        for feature in profile.unsupported:
            assert any(covers(feature, u) for u in used), f"profile {profile.name}: no requirement has {feature!r}"
