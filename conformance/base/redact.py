"""The one redactor: every secret the suite knows is removed from anything it records or writes.

Secrets are the run's API key, secret-named server environment values, and anything a test adds.
Evidence is redacted where it is recorded (`REDACTOR`), reports once more when written (`redact`,
`redact_command`), and the finished report directory is scrubbed as a last line of defence (`scrub_dir`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REDACTED = "[REDACTED]"


class Redactor:
    """Removes known secret values and credential headers from anything recorded."""

    SECRET_HEADERS = ("authorization", "api-key", "x-api-key", "proxy-authorization", "cookie", "set-cookie")
    # keys that servers ignoring auth are given by convention: not secrets, and words of the API
    # ("none" is a tool_choice value), so replacing them would corrupt every report
    PLACEHOLDERS = frozenset({"none", "null", "empty", "dummy", "test", "token", "apikey", "api_key", "not-needed",
                              "no-key", "sk-no-key-required", "sk-dummy", "sk-none", "sk-xxx", "placeholder"})

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if self.is_secret(s)}, key=len, reverse=True)

    @classmethod
    def is_secret(cls, value: str | None) -> bool:
        return bool(value) and len(value) >= 4 and value.lower() not in cls.PLACEHOLDERS

    def add(self, secret: str | None) -> None:
        if self.is_secret(secret) and secret not in self.secrets:
            self.secrets = sorted([*self.secrets, secret], key=len, reverse=True)

    def text(self, value: str) -> str:
        for s in self.secrets:
            value = value.replace(s, REDACTED)
        return value

    def headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        out = {}
        for k, v in headers:
            out[k] = REDACTED if k.lower() in self.SECRET_HEADERS else self.text(v)
        return out


REDACTOR = Redactor()


# a key or option whose value is secret: named so at its end (`x-api-key`, `hf_token`; not `max_output_tokens`)
SECRET_NAME = re.compile(r"(api[-_]?key|token|secret|password|passwd|authorization|credentials?)$", re.I)
# a secret's value in a command or environment line: `--api-key VALUE`, `--hf-token=VALUE`, `HF_TOKEN=VALUE`
SECRET_ARG = re.compile(r"(--?[\w-]*(?:api[-_]?key|token|secret|password|passwd)\b)(=|\s+)(?!\[REDACTED\])([^\s'\"]+)",
                        re.I)
SECRET_ENV = re.compile(r"\b([A-Z0-9_]*(?:API_KEY|TOKEN|SECRET|PASSWORD))=(?!\[REDACTED\])([^\s'\"]+)")

# -- JSON values, command lines, files -----------------------------------------------------------


def redactor_for(secrets: Iterable[str | None] = ()) -> Redactor:
    """The process-wide redactor's secrets plus these (the run's API key, ...)."""
    red = Redactor(REDACTOR.secrets)
    for s in secrets:
        red.add(s)
    return red


def redact(value: Any, red: Redactor) -> Any:
    """Every string in a JSON-like value through the redactor; values of secret-named keys removed."""
    if isinstance(value, str):
        text = SECRET_ARG.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", red.text(value))
        return SECRET_ENV.sub(lambda m: f"{m[1]}={REDACTED}", text)
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return [redact(v, red) for v in redact_command(value, red)]  # a command line: `--api-key VALUE`
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str) and SECRET_NAME.search(k) and isinstance(v, str) and v and v != REDACTED:
                # an Authorization header is already "[REDACTED]"; anything else secret-named is dropped
                out[k] = REDACTED
            else:
                out[k] = redact(v, red)
        return out
    if isinstance(value, list | tuple):
        return [redact(v, red) for v in value]
    return value


def redact_command(args: Iterable[str], red: Redactor) -> list[str]:
    """A command line with the values of secret-looking options replaced."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        arg = str(arg)
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if arg.startswith("-") and SECRET_NAME.search(name):
            if eq:
                out.append(f"{name}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(red.text(arg))
    return out


def scrub_dir(directory: Path, red: Redactor) -> list[Path]:
    """Last line of defence: remove known secrets from every file under `directory` (Allure, ...)."""
    changed = []
    secrets = [s.encode() for s in red.secrets]
    if not secrets or not directory.is_dir():
        return changed
    for path in directory.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if any(s in data for s in secrets):
            for s in secrets:
                data = data.replace(s, REDACTED.encode())
            path.write_bytes(data)
            changed.append(path)
    return changed


# an environment variable whose value is secret: anywhere in its name (`HF_TOKEN`, `AUTH_HEADER`)
SECRET_ENV_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|CREDENTIAL|PRIVATE|AUTH", re.IGNORECASE)


def secret_env_values(env: Mapping[str, str]) -> list[str]:
    """Values of variables whose names say they are secrets (added to the redactor)."""
    return [v for k, v in env.items() if SECRET_ENV_NAME.search(k) and v]


def redact_env(env: Mapping[str, str] | Sequence[str], redact: object = None) -> list[str]:
    """`K=V` strings with secret values replaced (by name, and by the given redactor's known values)."""
    items = [f"{k}={v}" for k, v in env.items()] if isinstance(env, Mapping) else list(env)
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if SECRET_ENV_NAME.search(key) and value:
            value = REDACTED
        elif redact is not None:
            value = redact.text(value)  # type: ignore[attr-defined]
        out.append(f"{key}{sep}{value}")
    return out


