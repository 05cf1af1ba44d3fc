"""Requirements of the 'items' area."""

from conformance.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "items"

REQUIREMENTS: list[Requirement] = []
