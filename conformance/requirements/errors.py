"""Requirements of the 'errors' area."""

from conformance.requirements import MAY, MUST, SHOULD, Requirement  # noqa: F401

AREA = "errors"

REQUIREMENTS: list[Requirement] = []
