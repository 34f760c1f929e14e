"""The parts of ``scripts/kafka_broker.py``, one concern a module.

``classpath`` fetches the broker's jars with Maven, ``config`` and ``sasl_ssl`` write its
configuration, ``processes`` and ``probe`` watch the process and its readiness, ``broker``
runs it (start, stop, kill), ``cli`` is the command line. Import them through
``kafka_broker``, which re-exports what tests and benchmarks use.
"""
