"""Which suite judged a run: its version and commit, and the versions of what it judges with.

The version comes from git tags at build time (setuptools-scm writes `conformance/_version.py`); a
checkout that was never installed still names its commit, read from git.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path


@functools.cache
def suite_version() -> str:
    try:
        from conformance._version import version  # written at build/install time

        return str(version)
    except ImportError:
        pass
    try:
        from importlib.metadata import version as dist_version

        return dist_version("responses-conformance")
    except Exception:  # not installed: a bare checkout on sys.path
        return "unknown"


@functools.cache
def suite_commit() -> str | None:
    """The commit of the suite's source: git's HEAD for a checkout (editable installs drift from the
    build-time file), else the commit recorded in the built package."""
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                 text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                       capture_output=True, text=True, timeout=5).stdout.strip()
                return out.stdout.strip() + ("-dirty" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        from conformance._version import commit_id  # type: ignore[attr-defined]

        return str(commit_id).removeprefix("g") if commit_id else None
    except ImportError:
        return None


def sdk_version() -> str | None:
    try:
        from importlib.metadata import version as dist_version

        return dist_version("openai")
    except Exception:
        return None


def facts() -> dict[str, str | None]:
    """Suite version and commit, the openai SDK's version, Python's."""
    return {"name": "responses-conformance", "version": suite_version(), "commit": suite_commit(),
            "openai": sdk_version(), "python": sys.version.split()[0]}
