"""tools.peers without real servers: what it starts it stops, the triage rules, the doc block."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import peers
from tools.peers import PEERS, PeerError, Recipes, Session, Timeouts


class FakeRecipes(Recipes):
    """peers.sh stood in for: records calls; `up` says which peers answer."""

    def __init__(self, tmp: Path, up: set[str], fail_start: set[str] = frozenset()) -> None:
        super().__init__(tmp / "peers.sh", tmp, Timeouts())
        self.up, self.fail_start, self.calls = set(up), set(fail_start), []

    def url(self, name):
        return f"http://127.0.0.1:1/{name}/v1", "m", None

    def installed(self, peer):
        return True

    def start(self, peer):
        self.calls.append(("start", peer.name))
        if peer.name in self.fail_start:
            raise PeerError(f"`peers.sh start {peer.name}` failed")
        self.up.add(peer.name)
        return 0.1

    def stop(self, peer):
        self.calls.append(("stop", peer.name))
        self.up.discard(peer.name)
        return ""


@pytest.fixture
def answering(monkeypatch):
    def install(recipes: FakeRecipes) -> None:
        monkeypatch.setattr(peers, "answers", lambda url, timeout=2.0: url.split("/")[3] in recipes.up)
    return install


def test_stops_only_what_it_started(tmp_path, answering):
    recipes = FakeRecipes(tmp_path, up={"hfserve"})  # someone else's hfserve is running
    answering(recipes)
    session = Session(recipes)
    assert session.ensure(PEERS["hfserve"]) is False
    assert session.ensure(PEERS["litellm"]) is True
    session.close()
    assert recipes.calls == [("start", "litellm"), ("stop", "litellm")]
    assert recipes.up == {"hfserve"}


def test_a_failed_start_is_still_stopped(tmp_path, answering, monkeypatch):
    recipes = FakeRecipes(tmp_path, up=set(), fail_start={"litellm"})
    answering(recipes)
    monkeypatch.setattr(peers, "git_head", lambda: "abc1234")
    run = peers.run_peer(Session(recipes), PEERS["litellm"], tmp_path / "reports", [], [])
    assert run.status == "start-failed" and "failed" in run.problem
    # hfserve (upstream, started) stays for the session; litellm's pid file, if any, is cleaned up
    assert ("stop", "litellm") in recipes.calls
    assert (tmp_path / "reports" / "litellm" / "peer.json").exists()


def test_recipes_default_beside_the_checkout(monkeypatch):
    monkeypatch.delenv("RC_PEERS_SH", raising=False)
    assert Recipes.locate().script == (peers.REPO.parent / "shared" / "peers" / "peers.sh").resolve()
    monkeypatch.setenv("RC_PEERS_SH", "/elsewhere/peers.sh")
    assert Recipes.locate().script == Path("/elsewhere/peers.sh")


TRIAGE = {
    "causes": {"sse": {"verdict": "server deviation", "did": "streams", "spec": "stream default false"},
               "json": {"verdict": "server deviation", "did": "no JSON mode", "spec": "json_schema"},
               "own": {"verdict": "server deviation", "did": "its own", "spec": "x"}},
    "any": {"PARAM-JSON-001": "json"},
    "rules": [{"peer": "hfserve", "match": "answered with an event stream", "cause": "sse"}],
    "peers": {"hfserve": {"ERROR-002": "own"}},
}


def causes(peer, rid, messages):
    found = peers._causes(TRIAGE, peer, rid, messages)
    return [c["did"] for c in found] if found is not None else None


def test_triage_precedence_peer_then_rule_then_any():
    sse = ["... was answered with an event stream, but ..."]
    assert causes("hfserve", "ERROR-002", sse) == ["its own"]  # the peer's entry first
    assert causes("hfserve", "PARAM-JSON-001", sse) == ["streams"]  # what the failure says beats the default
    assert causes("litellm", "PARAM-JSON-001", ["plain text"]) == ["no JSON mode"]


def test_a_rule_needs_every_failing_test_to_say_it():
    assert causes("hfserve", "STATE-GET-001", ["answered with an event stream", "HTTP 404"]) is None
    assert causes("litellm", "STATE-GET-001", ["answered with an event stream"]) is None  # rule is hfserve's


def test_unknown_cause_and_verdict_are_errors():
    with pytest.raises(ValueError, match="unknown cause"):
        peers._causes({"peers": {"p": {"R": "nope"}}}, "p", "R", [])
    with pytest.raises(ValueError, match="verdict"):
        peers._causes({"peers": {"p": {"R": {"verdict": "meh"}}}}, "p", "R", [])


def test_update_doc_replaces_only_the_generated_block(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n\n{peers.MATRIX_BEGIN}\nold table\n{peers.MATRIX_END}\n\nafter\n")
    peers.update_doc(doc, "new table\n")
    text = doc.read_text()
    assert "old table" not in text and "new table" in text
    assert text.startswith("intro\n") and text.endswith("\nafter\n")
    fresh = tmp_path / "fresh.md"
    peers.update_doc(fresh, "t\n")
    assert fresh.read_text() == f"{peers.MATRIX_BEGIN}\nt\n{peers.MATRIX_END}\n"


@pytest.mark.parametrize(("install", "status"), [(False, "not-installed"), (True, "install-failed")])
def test_install_problems_are_named(tmp_path, answering, monkeypatch, install, status):
    class NotInstalled(FakeRecipes):
        def installed(self, peer):
            return False

        def install(self, peer):
            raise PeerError("`peers.sh install llm-mock-api` did not produce it")

    recipes = NotInstalled(tmp_path, up=set())
    answering(recipes)
    monkeypatch.setattr(peers, "git_head", lambda: "abc1234")
    run = peers.run_peer(Session(recipes, install=install), PEERS["llm-mock-api"], tmp_path / "r", [], [])
    assert run.status == status
    assert ("start", "llm-mock-api") not in recipes.calls
