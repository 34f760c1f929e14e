"""The ``handrail`` command (typer): the top layer, which may import every package.

``command`` is the console script (it names a missing extra), ``app`` the root command,
``lazy`` the commands whose code loads only when they run; one module per family of
commands: ``ledger`` (migrate, verify, digest, explain, sql, sink), ``processors``,
``run`` (the embedded pipeline), ``control`` (approvals, resume, keys). Nothing imports
this package but ``handrail.__main__``.
"""
