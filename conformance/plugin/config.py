"""The suite's options from a file: `[tool.responses-conformance]` in the invocation directory's pyproject.toml,
or a TOML file named by `--conformance-config FILE` (its top level, or its own `[tool.responses-conformance]`).

Every key is a command-line option's name without the dashes (`server-url`, `server-preset`, `report-dir`;
`_` and `-` alike); the command line overrides the file.  Two keys have no option: `api-key-env` names the
environment variable holding the key (a key itself never belongs in a file), and `[profiles.NAME]` tables
define profiles beside the built-in ones (`unsupported = ["store", "tools"]`, optional `summary`).  Paths are
relative to the file.  A malformed file stops the run with one line naming the file and the key.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (the `tomli` dependency)
    import tomli as tomllib

from conformance.judge.profiles import PROFILES, Profile
from conformance.server.presets import PRESETS

TABLE = "responses-conformance"
CONFIG_OPTION = "--conformance-config"

# key -> kind: str, float, int, bool, csv (a string "a,b" or a list), list (a repeatable option), path
KINDS: dict[str, str] = {
    "server-url": "str", "model": "str", "request-timeout": "float", "unsupported": "csv", "profile": "csv",
    "area": "csv", "requirements": "csv", "level": "csv", "baseline": "path", "report-dir": "path",
    "results-json": "path", "fuzz-examples": "int", "fuzz-seed": "int", "load-concurrency": "int", "concurrency": "int",
    "server-image": "str", "server-preset": "str", "server-cmd": "str", "server-args": "list",
    "server-env": "list", "server-volume": "list", "gpus": "str", "shm-size": "str", "ipc": "str",
    "server-startup-timeout": "float", "keep-server": "bool", "server-log-dir": "path",
}
SPECIAL = ("api-key-env", "profiles")
SERVER_KEYS = ("server-url", "server-image", "server-cmd", "server-preset")


class ConfigError(ValueError):
    """A malformed configuration file: one line naming the file and the key."""


@dataclass
class FileConfig:
    """What a configuration file sets: option values by pytest `dest`, and the profiles it defines."""

    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)  # dest -> value, typed as the option
    profiles: dict[str, Profile] = field(default_factory=dict)
    api_key_env: str | None = None

    def names_server(self) -> bool:
        return any(_dest(k) in self.values for k in SERVER_KEYS)


def _dest(key: str) -> str:
    return key.replace("-", "_")


def find(invocation_dir: Path, explicit: str | None) -> tuple[Path | None, bool]:
    """The configuration file of a run, and whether it was named (a named file must exist)."""
    if explicit:
        return invocation_dir / explicit, True
    candidate = invocation_dir / "pyproject.toml"
    return (candidate, False) if candidate.is_file() else (None, False)


def load(invocation_dir: Path, explicit: str | None = None) -> FileConfig:
    """The run's file configuration (empty when there is none); `ConfigError` when the file is malformed."""
    path, named = find(invocation_dir, explicit)
    if path is None:
        return FileConfig()
    if not path.is_file():
        raise ConfigError(f"{CONFIG_OPTION} {explicit}: no such file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    table = data.get("tool", {}).get(TABLE) if isinstance(data.get("tool"), dict) else None
    if table is None:
        if not named:  # a pyproject.toml that does not configure the suite
            return FileConfig()
        if "tool" in data or "project" in data:
            raise ConfigError(f"{path} has no [tool.{TABLE}] table")
        table = data  # a file of its own: the keys at its top level
    where = f"{path}: [tool.{TABLE}]" if table is not data else str(path)
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of options")
    return parse(table, where, path.parent, path)


def parse(table: dict[str, Any], where: str = "config", base: Path | None = None,
          path: Path | None = None) -> FileConfig:
    """The options of one table (keys as documented above), checked and typed."""
    out = FileConfig(path=path)
    for raw_key, value in table.items():
        key = raw_key.replace("_", "-")
        if key == "api-key":
            raise ConfigError(f"{where}: `{raw_key}`: never write the key into a file; put it in an environment "
                              "variable and name it with api-key-env = \"MY_KEY\"")
        if key == "api-key-env":
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}: `{raw_key}` must be the name of an environment variable")
            out.api_key_env = value
        elif key == "profiles":
            out.profiles = parse_profiles(value, where)
        elif key in KINDS:
            out.values[_dest(key)] = _typed(key, raw_key, KINDS[key], value, where, base)
        else:
            close = difflib.get_close_matches(key, [*KINDS, *SPECIAL], n=1, cutoff=0.5)
            hint = f"; did you mean `{close[0]}`?" if close else f"; known keys: {', '.join([*KINDS, *SPECIAL])}"
            raise ConfigError(f"{where}: unknown key `{raw_key}`{hint}")
    return out


def _typed(key: str, raw_key: str, kind: str, value: Any, where: str, base: Path | None) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where}: `{raw_key}` must be {expected}, not {value!r}")

    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int if kind == "int" else (int, float)):
            raise bad("an integer" if kind == "int" else "a number")
        return int(value) if kind == "int" else float(value)
    if kind in ("csv", "list"):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise bad("a string or a list of strings")
        if kind == "csv":
            return ",".join(items)
        # a string of server arguments is one --server-args value, as on the command line
        return list(items)
    if not isinstance(value, str) or not value:
        raise bad("a non-empty string")
    if key == "server-preset" and value not in PRESETS:
        raise bad(f"one of {', '.join(sorted(PRESETS))}")
    if kind == "path" and base is not None:
        return str(base / os.path.expanduser(value))
    return value


def parse_profiles(value: Any, where: str) -> dict[str, Profile]:
    """`[profiles.NAME] unsupported = [...]` tables -> profiles (a built-in name cannot be redefined)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: `profiles` must be tables: [tool.{TABLE}.profiles.NAME]")
    out = {}
    for name, body in value.items():
        if name in PROFILES:
            raise ConfigError(f"{where}: profile {name!r} is built in; give yours another name")
        if not isinstance(body, dict) or set(body) - {"unsupported", "summary"}:
            raise ConfigError(f"{where}: profile {name!r} takes `unsupported` (a list of features) and `summary`")
        features = body.get("unsupported", [])
        if isinstance(features, str):
            features = features.split(",")
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ConfigError(f"{where}: profile {name!r}: `unsupported` must be a list of feature names")
        summary = body.get("summary", f"defined in {where.split(':')[0]}")
        out[name] = Profile(name, frozenset(f.strip() for f in features if f.strip()), str(summary))
    return out


def given_options(args: Iterable[str]) -> set[str]:
    """The option names (`--server-url`) on the command line, PYTEST_ADDOPTS and ini addopts included."""
    return {a.split("=", 1)[0] for a in args if str(a).startswith("--")}


def apply(option: Any, file_config: FileConfig, given: set[str], environ: dict[str, str] | None = None) -> None:
    """Set each option the file names and the command line does not."""
    environ = os.environ if environ is None else environ
    for dest, value in file_config.values.items():
        if "--" + dest.replace("_", "-") not in given:
            setattr(option, dest, value)
    if file_config.api_key_env and "--api-key" not in given:
        key = environ.get(file_config.api_key_env)
        if not key:
            raise ConfigError(f"{file_config.path}: api-key-env names {file_config.api_key_env}, which is not set "
                              f"in the environment; export it, or pass --api-key")
        option.api_key = key
