"""The server side's settings sections, as plain models: detector thresholds
(``thresholds``) and alert routes and channels (``alerts``).

They live below ``handrail.settings`` so that the one ``Settings`` object can hold them
while the SDK loads nothing of the processors or the router. May import: pydantic,
``handrail.schemas``. Nothing here does I/O.
"""
