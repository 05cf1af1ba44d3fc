"""Planted defects of the 'state' area."""

from __future__ import annotations

from conformance.refserver.defects import defect  # noqa: F401
