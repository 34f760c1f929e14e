"""The demo: a realistic multi-agent workload in which the essay's failures happen among
normal traffic (``scenario``), the person who answers the approvals (``supervisor``),
and the show around them: ``handrail run`` as a child, alerts as they reach the ledger,
the explanation at the end (``show``).

May import every layer but the command. Needs ``handrail[server]``.
"""
