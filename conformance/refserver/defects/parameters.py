"""Planted defects of the 'parameters' area."""

from __future__ import annotations

from conformance.refserver.defects import defect  # noqa: F401
