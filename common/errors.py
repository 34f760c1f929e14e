"""The root of every exception handrail raises on purpose."""


class HandrailError(Exception):
    """Base class of all handrail errors; each subpackage derives its own root from it."""
