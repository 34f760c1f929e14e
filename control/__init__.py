"""The control channel: what people and the processors tell agents (halts and resumes,
approvals and their decisions, handoff answers) and how it travels.

It owns the state an agent keeps of the channel (``state``: halts in force, approvals,
answers; signed entries verified by the governance file's authority), the embedded
control log (``log``, framed, compacted by ``compaction``), the Kafka control and halts
topics (``topics``), the follower that keeps the state current from either (``follower``)
and the proof of a person's decisions against the ledger (``proof``). It may import
``handrail.governance``, ``handrail.schemas``, ``handrail.settings`` and the root's
helpers; the SDK (``handrail.producers``), the processors, the ledger and the commands
import it.
"""
