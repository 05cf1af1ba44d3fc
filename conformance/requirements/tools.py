"""Requirements of the 'tools' area."""

from conformance.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "tools"

REQUIREMENTS: list[Requirement] = []
