"""Requirements of the 'state' area."""

from conformance.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "state"

REQUIREMENTS: list[Requirement] = []
