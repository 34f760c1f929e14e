"""Stream processors that detect silent failures: pure detectors (``detectors``), keyed
detection, the Faust app and worker, and the alert router (``router``).

May import: ``handrail.producers`` (the events they record, the control channel),
``handrail.governance``, ``handrail.settings`` and what is below; never the ledger or the
embedded pipeline. Needs ``handrail[server]``.
"""
