"""The one redactor: every secret the suite knows is removed from anything it records or writes.

Secrets are the run's API key, secret-named server environment values, and anything a test adds.
Evidence is redacted where it is recorded (`REDACTOR`), reports once more when written (`redact`,
`redact_command`), and the finished report directory is scrubbed as a last line of defence (`scrub_dir`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REDACTED = "[REDACTED]"


class Redactor:
    """Removes known secret values and credential headers from anything recorded.

    A secret is removed in the forms a server or a report may give it: as sent, in any letter case,
    with any of its characters JSON-escaped (`\u002d`) or URL-encoded (`%2D`), base64-encoded at any
    offset of a longer base64 text (`Basic`, a token echoed in a JWT-like blob), and in pieces of at
    least FRAGMENT characters (a server streaming it split across events).  Short pieces are left:
    they would match ordinary words.
    """

    SECRET_HEADERS = ("authorization", "api-key", "x-api-key", "proxy-authorization", "cookie", "set-cookie")
    # keys that servers ignoring auth are given by convention: not secrets, and words of the API
    # ("none" is a tool_choice value), so replacing them would corrupt every report
    PLACEHOLDERS = frozenset({"none", "null", "empty", "dummy", "test", "token", "apikey", "api_key", "not-needed",
                              "no-key", "sk-no-key-required", "sk-dummy", "sk-none", "sk-xxx", "placeholder"})
    FRAGMENT = 12  # characters of a secret's piece that are redacted on their own (at least a third of it)
    MIN_BASE64 = 8  # base64 characters of a secret that are redacted (shorter runs are ordinary text)
    ANCHOR = 4  # characters of the substrings pieces are found by

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if self.is_secret(s)}, key=len, reverse=True)
        self._compiled: tuple[re.Pattern[str], re.Pattern[str] | None] | None = None
        self._anchors: dict[str, list[tuple[str, int]]] = {}

    @classmethod
    def is_secret(cls, value: str | None) -> bool:
        return bool(value) and len(value) >= 4 and value.lower() not in cls.PLACEHOLDERS

    def add(self, secret: str | None) -> None:
        if self.is_secret(secret) and secret not in self.secrets:
            self.secrets = sorted([*self.secrets, secret], key=len, reverse=True)
            self._compiled = None

    def _patterns(self) -> tuple[re.Pattern[str], re.Pattern[str] | None]:
        if self._compiled is None:
            whole = [_any_escape(s) for s in self.secrets] + [f"(?-i:{re.escape(b)})" for s in self.secrets
                                                              for b in _base64_forms(s, self.MIN_BASE64)]
            # pieces: every run of FRAGMENT+ characters of a secret holds one of its ANCHOR-long
            # substrings taken every (FRAGMENT - ANCHOR + 1) characters: find those, then grow
            self._anchors: dict[str, list[tuple[str, int]]] = {}
            for secret in self.secrets:
                low, size = secret.lower(), _fragment(secret, self.FRAGMENT)
                if len(secret) <= size:
                    continue
                for j in range(0, len(low) - self.ANCHOR + 1, size - self.ANCHOR + 1):
                    self._anchors.setdefault(low[j:j + self.ANCHOR], []).append((low, j))
            anchors = "|".join(re.escape(x) for x in self._anchors)
            self._compiled = (re.compile("|".join(whole), re.IGNORECASE),
                              re.compile(anchors, re.IGNORECASE) if anchors else None)
        return self._compiled

    def text(self, value: str) -> str:
        if not self.secrets or not value:
            return value
        whole, anchors = self._patterns()
        value = whole.sub(REDACTED, value)
        return self._pieces(value, anchors) if anchors is not None else value

    def _pieces(self, value: str, anchors: re.Pattern[str]) -> str:
        """Remove each run of FRAGMENT+ characters of a secret (a secret the server sent in pieces)."""
        spans: list[tuple[int, int]] = []
        low = value.lower()
        for m in anchors.finditer(low):
            for secret, j in self._anchors.get(m.group(), []):
                start, end, at = m.start(), m.end(), j
                while at > 0 and start > 0 and low[start - 1] == secret[at - 1]:
                    start, at = start - 1, at - 1
                k = j + self.ANCHOR
                while k < len(secret) and end < len(low) and low[end] == secret[k]:
                    end, k = end + 1, k + 1
                if end - start >= _fragment(secret, self.FRAGMENT):
                    spans.append((start, end))
        if not spans:
            return value
        out, last = [], 0
        for start, end in sorted(spans):
            if end <= last:
                continue
            out += [value[last:max(start, last)], REDACTED]
            last = end
        return "".join(out) + value[last:]

    def headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        out = {}
        for k, v in headers:
            out[k] = REDACTED if k.lower() in self.SECRET_HEADERS else self.text(v)
        return out


def _fragment(secret: str, minimum: int) -> int:
    return max(minimum, -(-len(secret) // 3))


def _any_escape(secret: str) -> str:
    """A pattern for `secret` with each character as itself, JSON-escaped or URL-encoded (case-insensitive
    use: letters in any case, hex digits in any case)."""
    parts = []
    for ch in secret:
        forms = [re.escape(ch)]
        if ord(ch) < 0x10000:
            forms.append(re.escape(f"\\u{ord(ch):04x}"))
        if ord(ch) < 0x80:
            forms.append(re.escape(f"%{ord(ch):02x}"))
        if ch == "/":
            forms.append(re.escape("\\/"))
        parts.append(f"(?:{'|'.join(forms)})")
    return "".join(parts)


def _base64_forms(secret: str, minimum: int) -> list[str]:
    """The base64 characters that `secret` alone determines, at each of the 3 byte offsets it may sit at in
    a longer encoded text, in the standard and URL-safe alphabets."""
    data = secret.encode("utf-8")
    forms: list[str] = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode().rstrip("=")
        start = -(-offset * 8 // 6)  # the first character with no bit of the padding before
        end = (offset + len(data)) * 8 // 6  # the last with every bit from the secret
        core = encoded[start:end]
        if len(core) >= minimum:
            forms += [core, core.replace("+", "-").replace("/", "_")]
    return list(dict.fromkeys(forms))


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
    changed: list[Path] = []
    if not red.secrets or not directory.is_dir():
        return changed
    for path in directory.rglob("*"):
        if not path.is_file():
            continue
        # every form the redactor knows (cased, escaped, encoded, pieces); bytes that are not UTF-8 survive
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        clean = red.text(text)
        if clean != text:
            path.write_bytes(clean.encode("utf-8", "surrogateescape"))
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


