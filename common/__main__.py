"""``python -m handrail`` is the ``handrail`` command."""

from handrail.cli.command import main

main()
