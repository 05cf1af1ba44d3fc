"""Requirements of the 'parameters' area."""

from conformance.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "parameters"

REQUIREMENTS: list[Requirement] = []
