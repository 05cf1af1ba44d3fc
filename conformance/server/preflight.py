"""The server under test: which one, how it is started, and whether it is ready.

- a running server named by `--server-url` (`RemoteServer`);
- the embedded reference server when no server is named (`EmbeddedServer`);
- (docker and local-process servers live in `conformance.server.container` / `conformance.server.process`).

`preflight()` checks the server before any test runs and turns every problem (bad URL, refused
connection, 401, unknown model) into one `ServerProblem` with a line saying how to fix it.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from conformance.base.printable import printable
from conformance.base.safejson import loads, strict
from conformance.wire import record
from conformance.wire.guard import BodyTooLarge, BodyTooSlow, Unrecorded, deadline_transport, guarded_client, port_open


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

    def __init__(self, model: str | None, api_key: str | None = None, defect: str | None = None,
                 latency: float = 0.0, serial: bool = False, max_in_flight: int = 0) -> None:
        from conformance.refserver import start_in_thread

        self._server = start_in_thread(defect=defect, api_key=api_key, latency=latency, serial=serial,
                                       max_in_flight=max_in_flight)
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
        # depth-limited parse: a hostile /models must not raise RecursionError here
        return reply.status_code == 200 and isinstance(loads(reply.content).get("data"), list)
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def _missing_v1(client: httpx.Client, url: str, reply: httpx.Response) -> str | None:
    """A base URL without /v1 whose /models gives no model list while <url>/v1/models does: the fixed URL."""
    if urlsplit(url).path.rstrip("/").endswith("/v1"):
        return None
    try:
        listed = reply.status_code == 200 and isinstance(loads(reply.content).get("data"), list)
    except (ValueError, AttributeError):
        listed = False
    if listed or not _lists_models(client, url + "/v1/models"):
        return None
    return url + "/v1"


MODELS_CAP = 4 * 1024 * 1024  # bytes of /v1/models read, after decoding (a list of 10,000 models is ~1 MB)
VERSION_CAP = 4096  # bytes of /version kept in the handle (and every report)
LISTED = 10  # models named in a one-line message


def _listing(models: list[str]) -> str:
    """A bounded, printable list of model ids for a one-line message."""
    shown = [printable(m if len(m) <= 80 else m[:77] + "...", one_line=True) for m in models[:LISTED]]
    more = f" and {len(models) - LISTED} more" if len(models) > LISTED else ""
    return ", ".join(shown) + more


def model_ids(payload: Any) -> list[str] | None:
    """The string ids of a /v1/models reply (`{"data": [{"id": ...}]}`); None when it has no such list."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        return None
    return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]


def _tls_problem(exc: BaseException) -> str | None:
    """The TLS error inside a connect failure, when there is one (https:// to a plain-HTTP port)."""
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, ssl.SSLError) or "SSL" in str(cur) or "TLS" in str(cur):
            return printable(str(cur), one_line=True)[:200]
        cur = cur.__cause__ or cur.__context__
    return None


def preflight(handle: ServerHandle, timeout: float = 10.0) -> ServerHandle:
    """Reach the server, check the key and the model; fill in `handle.model` when it can be inferred.

    Every request keeps the transport policy (one deadline for connect, headers and body; decoded
    bytes capped), and every odd answer is one bounded line, never a traceback."""
    check_url(handle.url)
    headers = {"Authorization": f"Bearer {handle.api_key}"} if handle.api_key else {}
    url = printable(handle.url, one_line=True)
    try:
        with guarded_client(timeout, headers=headers, liveness=Unrecorded(), max_body=MODELS_CAP,
                            inner=record.wrap(deadline_transport())) as client:
            reply = client.get(handle.url + "/models")
            fixed = _missing_v1(client, handle.url, reply)
    except httpx.ConnectError as exc:
        tls = _tls_problem(exc) if handle.url.startswith("https:") else None
        if tls:
            plain = "http:" + handle.url[len("https:"):]
            raise ServerProblem(f"the TLS handshake with {url} failed ({tls}); the port may speak plain HTTP: "
                                f"try --server-url {printable(plain, one_line=True)}") from None
        raise ServerProblem(f"cannot connect to {url} (connection refused or host unreachable); "
                            "is the server running, and is the host and port right?") from None
    except BodyTooSlow:
        raise ServerProblem(f"{url}/models did not send a complete answer within {timeout:.0f} s (bytes "
                            "arrive too slowly); is the server up and not overloaded?") from None
    except httpx.ConnectTimeout:
        if handle.url.startswith("https:") and port_open(httpx.URL(handle.url)):
            # the port accepts connections but no TLS handshake: a plain-HTTP server waiting for a request line
            plain = "http:" + handle.url[len("https:"):]
            raise ServerProblem(f"no TLS handshake with {url} within {timeout:.0f} s; the port may speak plain "
                                f"HTTP: try --server-url {printable(plain, one_line=True)}") from None
        raise ServerProblem(f"cannot connect to {url} within {timeout:.0f} s; is the host and port right?") from None
    except httpx.TimeoutException:
        raise ServerProblem(f"{url}/models did not answer within {timeout:.0f} s; "
                            "is the server up and not overloaded?") from None
    except BodyTooLarge:
        raise ServerProblem(f"{url}/models sent more than {MODELS_CAP} bytes; is this the API base?") from None
    except httpx.HTTPError as exc:
        raise ServerProblem(f"cannot reach {url}: {printable(str(exc), one_line=True)[:300]}") from None
    if fixed:
        raise ServerProblem(f"{url}/models answers HTTP {reply.status_code}, but {printable(fixed, one_line=True)}"
                            f"/models lists the models: the API is under /v1; use --server-url "
                            f"{printable(fixed, one_line=True)}")
    if reply.status_code in (401, 403):
        raise ServerProblem(f"{url}/models answered HTTP {reply.status_code}: the API key was refused; "
                            "pass the right one with --api-key or OPENAI_API_KEY")
    models: list[str] = []
    if reply.status_code == 200:
        try:
            models = model_ids(loads(reply.content)) or []
        except (ValueError, UnicodeDecodeError):
            models = []
    handle.info.setdefault("models", models[:100])
    if not handle.model:
        if len(models) == 1:
            handle.model = models[0]
        elif reply.status_code != 200:
            raise ServerProblem(f"{handle.url}/models answered HTTP {reply.status_code}, no model list: is "
                                "--server-url the API base (the openai SDK's base_url)? Or pass --model NAME")
        else:
            listed = f"; the server lists: {_listing(models)}" if models else ""
            raise ServerProblem(f"no --model given{listed}; pass --model NAME")
    elif models and handle.model not in models:
        raise ServerProblem(f"model {printable(handle.model, one_line=True)!r} is not served by {url} "
                            f"(it lists: {_listing(models)}); pass one of those with --model")
    root = handle.url[: -len("/v1")] if handle.url.endswith("/v1") else handle.url
    try:
        with guarded_client(timeout, headers=headers, liveness=Unrecorded(), max_body=VERSION_CAP,
                            inner=record.wrap(deadline_transport())) as client:
            version = client.get(root + "/version")
        if version.status_code == 200 and len(version.content) < VERSION_CAP:
            value, _ = strict(loads(version.content, limit=16))  # it goes into every report: strict JSON
            handle.info.setdefault("version", value)
    except (httpx.HTTPError, ValueError, UnicodeDecodeError):
        pass
    return handle
