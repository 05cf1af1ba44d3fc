"""The server under test: which one, how it is started, and whether it is ready.

- a running server named by `--server-url` (`RemoteServer`);
- the embedded reference server when no server is named (`EmbeddedServer`);
- (docker and local-process servers live in `conformance.server.container` / `conformance.server.process`).

`preflight()` checks the server before any test runs and turns every problem (bad URL, refused
connection, 401, unknown model) into one `ServerProblem` with a line saying how to fix it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from conformance.wire.guard import tls_context


class ServerProblem(Exception):
    """The server cannot be tested: one clear sentence, and how to fix it."""


@dataclass
class ServerHandle:
    """What the tests need to reach the server, shareable across xdist workers (JSON)."""

    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)  # never in a traceback's locals
    kind: str = "remote"  # remote | embedded | docker | process
    info: dict[str, Any] = field(default_factory=dict)  # version, image digest, models, ...

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServerHandle:
        return cls(**json.loads(text))


class Server:
    """A server the suite may have started; `stop()` is always safe to call."""

    handle: ServerHandle

    def stop(self) -> None:  # pragma: no cover - trivial for servers we did not start
        pass


class RemoteServer(Server):
    def __init__(self, url: str, model: str | None, api_key: str | None) -> None:
        self.handle = ServerHandle(url=url.rstrip("/"), model=model or "", api_key=api_key, kind="remote")


class EmbeddedServer(Server):
    """The reference server in a thread of this process, on a free loopback port."""

    def __init__(self, model: str | None, api_key: str | None = None, defect: str | None = None) -> None:
        from conformance.refserver import start_in_thread

        self._server = start_in_thread(defect=defect, api_key=api_key)
        self.handle = ServerHandle(url=self._server.url, model=model or "ref-reasoner", api_key=api_key,
                                   kind="embedded", info={"server": "embedded reference server",
                                                          "defect": defect})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def check_url(url: str) -> None:
    """Any http(s) base URL, as the openai SDK takes it (`base_url`): the API may live under any prefix."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServerProblem(f"--server-url {url!r} is not an http(s) URL; "
                            "give the API base, e.g. http://127.0.0.1:8000/v1")


def _lists_models(client: httpx.Client, url: str) -> bool:
    """Whether GET url answers 200 with a model list (`{"data": [...]}`)."""
    try:
        reply = client.get(url)
        return reply.status_code == 200 and isinstance(reply.json().get("data"), list)
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def _missing_v1(client: httpx.Client, url: str, reply: httpx.Response) -> str | None:
    """A base URL without /v1 whose /models gives no model list while <url>/v1/models does: the fixed URL."""
    if urlsplit(url).path.rstrip("/").endswith("/v1"):
        return None
    try:
        listed = reply.status_code == 200 and isinstance(reply.json().get("data"), list)
    except (ValueError, AttributeError):
        listed = False
    if listed or not _lists_models(client, url + "/v1/models"):
        return None
    return url + "/v1"


def preflight(handle: ServerHandle, timeout: float = 10.0) -> ServerHandle:
    """Reach the server, check the key and the model; fill in `handle.model` when it can be inferred."""
    check_url(handle.url)
    headers = {"Authorization": f"Bearer {handle.api_key}"} if handle.api_key else {}
    try:
        with httpx.Client(timeout=timeout, headers=headers, verify=tls_context()) as client:
            reply = client.get(handle.url + "/models")
            fixed = _missing_v1(client, handle.url, reply)
    except httpx.ConnectError:
        raise ServerProblem(f"cannot connect to {handle.url} (connection refused or host unreachable); "
                            "is the server running, and is the host and port right?") from None
    except httpx.TimeoutException:
        raise ServerProblem(f"{handle.url}/models did not answer within {timeout:.0f} s; "
                            "is the server up and not overloaded?") from None
    except httpx.HTTPError as exc:
        raise ServerProblem(f"cannot reach {handle.url}: {exc}") from None
    if fixed:
        raise ServerProblem(f"{handle.url}/models answers HTTP {reply.status_code}, but {fixed}/models lists the "
                            f"models: the API is under /v1; use --server-url {fixed}")
    if reply.status_code in (401, 403):
        raise ServerProblem(f"{handle.url}/models answered HTTP {reply.status_code}: the API key was refused; "
                            "pass the right one with --api-key or OPENAI_API_KEY")
    models: list[str] = []
    if reply.status_code == 200:
        try:
            models = [m.get("id") for m in reply.json().get("data", []) if isinstance(m, dict)]
        except (ValueError, AttributeError):
            models = []
    handle.info.setdefault("models", models)
    if not handle.model:
        if len(models) == 1:
            handle.model = models[0]
        elif reply.status_code != 200:
            raise ServerProblem(f"{handle.url}/models answered HTTP {reply.status_code}, no model list: is "
                                "--server-url the API base (the openai SDK's base_url)? Or pass --model NAME")
        else:
            listed = f"; the server lists: {', '.join(models)}" if models else ""
            raise ServerProblem(f"no --model given{listed}; pass --model NAME")
    elif models and handle.model not in models:
        raise ServerProblem(f"model {handle.model!r} is not served by {handle.url} "
                            f"(it lists: {', '.join(models)}); pass one of those with --model")
    root = handle.url[: -len("/v1")] if handle.url.endswith("/v1") else handle.url
    try:
        with httpx.Client(timeout=timeout, headers=headers, verify=tls_context()) as client:
            version = client.get(root + "/version")
        if version.status_code == 200 and len(version.content) < 4096:
            handle.info.setdefault("version", version.json())
    except (httpx.HTTPError, ValueError):
        pass
    return handle
