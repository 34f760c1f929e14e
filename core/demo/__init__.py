"""The demo: a realistic multi-agent workload in which the essay's failures happen among
normal traffic (``scenario``), the people who answer approvals and pages
(``supervisor``), and the small fixed ticket workflows the forensics tests use
(``tickets``)."""
