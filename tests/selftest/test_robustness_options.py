"""Bad input to the suite — a wrong URL, a refused connection, a refused API key, a malformed
option — stops the run before any test with one clear line and no Python traceback."""

from __future__ import annotations

import socket

import pytest
from robustness_kit import SUITE, one_clear_error, pytest_run

from conformance.refserver import start_in_thread


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture(scope="module")
def server():
    srv = start_in_thread(api_key="right-key-0123456789")
    yield srv
    srv.shutdown()
    srv.server_close()


CASES = {
    "not an http URL": (["--server-url", "ftp://127.0.0.1/v1"], "is not an http(s) URL"),
    "no /v1 at the end": (["--server-url", "http://127.0.0.1:{port}", "--api-key", "right-key-0123456789"],
                          "the API is under /v1; use --server-url http://127.0.0.1:{port}/v1"),
    "refused connection": (["--server-url", "http://127.0.0.1:{closed}/v1"], "cannot connect"),
    "wrong API key": (["--server-url", "{url}", "--api-key", "wrong-key-987654321"], "the API key was refused"),
    "negative timeout": (["--request-timeout", "-1"], "--request-timeout must be a positive number"),
    "unknown feature": (["--unsupported", "store,unknown-feature"], "unknown feature 'unknown-feature'"),
    "non-numeric timeout": (["--request-timeout", "soon"], "invalid float value: 'soon'"),
    "negative fuzz budget": (["--fuzz-examples", "-1"], "--fuzz-examples must be 0"),
    "too much load": (["--load-concurrency", "1000"], "--load-concurrency must be between 0"),
    "no concurrency": (["--concurrency", "0"], "--concurrency must be between 1"),
    # a selection that matches nothing stops with the closest names, never pytest's silent exit 5
    "unknown area": (["--area", "streamng"], "--area 'streamng' is not an area; closest: streaming"),
    "glob matching nothing": (["--requirements", "STREM-*"], "matches no requirement id; closest: STREAM-*"),
    "id typo": (["--requirements", "SEED-01"], "closest: SEED-001"),
    "unknown level": (["--level", "MUSTN"], "is not a level"),
    "empty combination": (["--area", "seed", "--level", "MAY"], "together select no requirement"),
    "unknown profile": (["--profile", "vlm"], "did you mean 'vllm'?"),
    "missing baseline": (["--baseline=/nonexistent/known.json"], "baseline /nonexistent/known.json does not exist"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_error(case, server):
    args, words = CASES[case]
    port = server.server_address[1]
    args = [a.format(port=port, closed=_closed_port(), url=server.url) for a in args]
    words = words.format(port=port)
    if "--server-url" not in args:
        args += ["--server-url", server.url, "--api-key", "right-key-0123456789"]
    one_clear_error(pytest_run(str(SUITE), "-q", *args, timeout=120), words)


@pytest.mark.parametrize(("text", "words"), [
    ('servr-url = "http://127.0.0.1:8000/v1"', "unknown key `servr-url`; did you mean `server-url`?"),
    ("request-timeout = [", "not valid TOML"),
    ('area = "streamng"', "--area 'streamng' is not an area; closest: streaming"),
    ("request-timeout = -1", "--request-timeout must be a positive number of seconds, not -1 (set in"),
])
def test_a_bad_config_file_is_one_clear_error(tmp_path, text, words):
    path = tmp_path / "conformance.toml"
    path.write_text(text + "\n")
    run = pytest_run(str(SUITE), "-q", f"--conformance-config={path}", timeout=120)
    one_clear_error(run, words)
    assert str(path) in run.output
