"""Shipping: how recorded events leave the agent for Kafka or the spool.

``start_shipper`` gives a recorder its shipper (``start.py``): the thread shipper
(``shipper.py``: the loop, with its Kafka side in ``delivery.py`` and ``transport.py``,
its spool side in ``keeper.py`` and its counts in ``stats.py``), or the same shipper in a
process of its own (``remote.py`` in the agent's process, ``process.py`` in the child,
``link.py`` the pipe between them).

May import: the SDK's spool, session, event buffer, packing and control modules,
``handrail.schemas``, ``handrail.settings``, ``handrail.files``, ``handrail.backoff`` and
kafka-python (loaded on the first connection).
"""

from handrail.producers.shipping.start import EventShipper, start_shipper
from handrail.producers.shipping.stats import ShipperStats

__all__ = ["EventShipper", "ShipperStats", "start_shipper"]
