"""setuptools' build backend, less its "editable installation" notice.

A strict editable install (``scripts/test.sh``) makes setuptools emit an
``InformationOnly`` warning on every run; it is a note, not a problem, and pip prints it
as a warning. Every other setuptools warning still shows.
"""

import warnings

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F403 - the PEP 517 hooks, unchanged
from setuptools.warnings import InformationOnly

__all__ = build_meta.__all__

warnings.filterwarnings("ignore", category=InformationOnly)
