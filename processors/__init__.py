"""Stream processors (Faust) that detect silent failures. Not built yet: see issue 4."""
