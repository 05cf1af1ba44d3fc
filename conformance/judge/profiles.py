"""Feature profiles: which optional features of the API a server does not claim.

By default every feature is expected, so a server without stored responses fails the store
requirements.  `--unsupported store,tools` or `--profile NAME` names the features a server does
not claim; their requirements are then reported as `unsupported` (with the evidence), not as
passes and not as failures.

Feature names are those of the requirements (`Requirement.feature`).  A dotted name is a part
of the feature before the dot: declaring `store` unsupported covers `store.input_items` and
`store.delete` too, while `store.delete` alone covers only DELETE.  A requirement that needs
several features names them with commas (`store,tools`); it is unsupported when any one is.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    unsupported: frozenset[str]
    summary: str


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("openai", frozenset(), "the OpenAI API: every feature is expected"),
    # vLLM keeps nothing unless VLLM_ENABLE_RESPONSES_API_STORE=1 (notes §1.7): `store` is then
    # silently forced to false, GET and previous_response_id answer 404.
    Profile("vllm", frozenset({"store"}),
            "vLLM as shipped (VLLM_ENABLE_RESPONSES_API_STORE unset): no stored responses"),
    # With the store on, vLLM routes GET /v1/responses/{id} but neither input_items nor DELETE.
    Profile("vllm-store", frozenset({"store.input_items", "store.delete"}),
            "vLLM with VLLM_ENABLE_RESPONSES_API_STORE=1: GET and previous_response_id, no input_items or DELETE"),
    Profile("stateless", frozenset({"store"}),
            "a server that keeps no responses (Ollama, DeepSeek, SGLang without --enable-response-store)"),
)}


# profiles a user defines in the configuration file (`[tool.responses-conformance.profiles.NAME]`), set
# once per process by the plugin before any test asks which features are declared
USER_PROFILES: dict[str, Profile] = {}


class ProfileError(ValueError):
    """An unknown profile name."""


def define_profiles(profiles: dict[str, Profile]) -> None:
    """Add user-defined profiles beside the built-in ones (a built-in name cannot be redefined)."""
    clash = sorted(set(profiles) & set(PROFILES))
    if clash:
        raise ProfileError(f"profile {clash[0]!r} is built in; give yours another name")
    USER_PROFILES.clear()
    USER_PROFILES.update(profiles)


def all_profiles() -> dict[str, Profile]:
    return {**PROFILES, **USER_PROFILES}


def parse_features(text: str | None) -> frozenset[str]:
    return frozenset(f.strip() for f in (text or "").split(",") if f.strip())


def declared_unsupported(unsupported: str | Iterable[str] | None = None,
                         profiles: str | Iterable[str] | None = None) -> frozenset[str]:
    """The features a run declares unsupported: `--unsupported` values plus those of each profile."""
    features = set(parse_features(unsupported) if isinstance(unsupported, str | None) else unsupported)
    known = all_profiles()
    for name in parse_features(profiles) if isinstance(profiles, str | None) else profiles:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ProfileError(f"unknown profile {name!r}; {hint}known profiles: {', '.join(sorted(known))} "
                               "(define your own in [tool.responses-conformance.profiles.NAME])")
        features |= known[name].unsupported
    return frozenset(features)


def covers(declared: str, feature: str) -> bool:
    """Whether declaring `declared` unsupported covers `feature` (itself or a dotted part of it)."""
    return feature == declared or feature.startswith(declared + ".")


def unsupported_feature(feature: str | None, declared: Iterable[str]) -> str | None:
    """The part of a requirement's `feature` the run declares unsupported, or None."""
    if not feature:
        return None
    declared = list(declared)
    for part in parse_features(feature):
        if any(covers(d, part) for d in declared):
            return part
    return None
