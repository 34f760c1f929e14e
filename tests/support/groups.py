"""A Unix group the tests may give files to."""

from __future__ import annotations

import grp
import os


def team_group() -> str:
    """A group this user may give files to: another than its own when it can (root: any),
    so that a file given to it shows."""
    if os.geteuid() == 0:
        others = [g.gr_name for g in grp.getgrall() if g.gr_gid != os.getegid()]
    else:
        others = [grp.getgrgid(g).gr_name for g in os.getgroups() if g != os.getegid()]
    return others[0] if others else grp.getgrgid(os.getegid()).gr_name
