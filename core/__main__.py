"""``python -m handrail`` is the ``handrail`` command."""

from handrail.command import main

main()
