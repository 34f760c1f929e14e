"""``handrail console``: approvals, alerts, halts and decision paths in a browser.

Server-rendered pages (``pages.py``, ``templates/``) over the ledger's sandboxed read path
and the control channel (``data.py``), behind middlewares that demand a session, the CSRF
token and the console's own host (``guard.py``); people sign in with the private key the
governance file knows and sign each decision in their browser (``sessions.py``,
``deciding.py``, ``static/``).
"""
