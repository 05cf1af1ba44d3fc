"""Planted defects of the 'output_text' area."""

from __future__ import annotations

from conformance.refserver.defects import defect  # noqa: F401
