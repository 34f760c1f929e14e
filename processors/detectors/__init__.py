"""Pure detectors: ``(state, observation, now) -> (state, findings)``, no Faust, no I/O.

Each detector owns one slice of a keyed state (a JSON-friendly dict) and may update it
in place. ``now`` is the processor's clock: absence (silence, stalls, gaps) is measured
on it, windows on the events' own times. ``tick`` finds what is detected by absence.

May import: ``handrail.processors``' findings and observations, ``handrail.config``,
``handrail.schemas``, ``handrail.governance`` (to check signatures); never Faust.
"""

from handrail.processors.detectors.base import Detector, State, Step

__all__ = ["Detector", "State", "Step"]
