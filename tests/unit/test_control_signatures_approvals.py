"""Signed approvals: the governance file's people and rights say who may approve; the
control state applies a grant only when its signature verifies and its signer holds the
right, and keeps everything else as forged; the ledger proves who approved."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from handrail.control.proof import prove
from handrail.control.state import ControlState
from handrail.governance import GovernanceError, parse
from handrail.governance.authority import Authority
from handrail.governance.signing import public_key_line
from handrail.ledger.rows import to_row
from tests.support.control_records import at, state
from tests.support.samples import NOW
from tests.support.signers import authority, decision_fields, governance_yaml, key


def request(
    approval_id: str = "ap-1", agent: str = "writer", action: str = "db.customers.write"
) -> dict[str, Any]:
    return at(
        NOW, "approval_requested", agent, approval_id=approval_id, action=action,
        reason="needs a human",
    )  # fmt: skip


def grant(req: dict[str, Any], signer: str = "alice", **changes: Any) -> dict[str, Any]:
    fields = decision_fields("approval_granted", req, signer) | changes
    return at(NOW + timedelta(seconds=1), "approval_granted", "handrail-cli", **fields)


# The governance file


def test_the_governance_file_refuses_undeclared_approvers_shared_keys_and_agents_as_people() -> (
    None
):
    base = governance_yaml()
    with pytest.raises(GovernanceError, match="'carol' is not declared"):
        parse(base.replace("approvers: [bob]", "approvers: [carol]"))
    with pytest.raises(GovernanceError, match="is not declared"):
        parse(base.replace('"group:leads"', '"group:nobody"'))
    with pytest.raises(GovernanceError, match="not under `people`"):
        parse(base.replace("leads: [alice]", "leads: [alice, writer]"))
    alice_key = public_key_line(key("alice").verify_key)
    bob_line = next(line for line in base.splitlines() if line.startswith("  bob:"))
    with pytest.raises(GovernanceError, match="hold the same public key"):
        parse(base.replace(bob_line, f"  bob: {{keys: ['{alice_key}']}}"))
    with pytest.raises(GovernanceError, match="declared as people and as agents"):
        parse(base.replace("  other: {owner: team}", "  alice: {owner: team}"))
    with pytest.raises(GovernanceError, match="Ed25519"):
        parse(base.replace(alice_key, "ssh-rsa AAAAB3NzaC1yc2E"))


def test_no_approvers_declared_means_nobody_may_approve() -> None:
    governance = parse(governance_yaml().replace('approvers: ["group:leads"]', "approvers: []"))
    assert Authority(governance).approvers("writer", "db.customers.write", None, None) == set()
    assert Authority().approvers("writer", "db.customers.write", None, None) == set()
    assert Authority().resumers("payer") == set()
    req = request()
    control = ControlState("writer", Authority(governance))
    control.apply(req)
    control.apply(grant(req))
    assert control.approvals["ap-1"].state == "pending"
    assert [f.reason for f in control.forged] == [
        "'alice' may not decide writer's db.customers.write"
    ]


def test_approvers_come_from_the_rule_that_asks_groups_expanded() -> None:
    auth = authority()
    assert auth.approvers("writer", "db.customers.write", None, None) == {"alice"}
    assert auth.approvers("payer", "api.charge", None, 50.0) == {"bob"}
    assert auth.approvers("ghost", "db.customers.write", None, None) == set()  # undeclared
    assert auth.resumers("payer") == {"alice"}


# Approvals in the control state


def test_a_permitted_signed_grant_is_applied_and_names_its_signer() -> None:
    req = request()
    control = state(req, grant(req), agent="writer")
    approval = control.approvals["ap-1"]
    assert (approval.state, approval.decided_by) == ("granted", "alice")
    assert not control.forged


def _forged(req: dict[str, Any], *decisions: dict[str, Any]) -> ControlState:
    control = state(req, *decisions, agent="writer")
    assert control.approvals["ap-1"].state == "pending"
    assert control.forged_count == len(decisions)
    return control


def test_an_unsigned_grant_or_one_by_someone_without_the_right_is_forged() -> None:
    req = request()
    unsigned = at(NOW, "approval_granted", "handrail-cli", approval_id="ap-1",
                  approver="alice", reason="trust me")  # fmt: skip
    control = _forged(req, unsigned, grant(req, "mallory"), grant(req, "bob"))
    assert [f.reason for f in control.forged] == [
        "unsigned",
        "'mallory' may not decide writer's db.customers.write",
        "'bob' may not decide writer's db.customers.write",
    ]


def test_a_tampered_or_moved_signature_is_forged() -> None:
    req, other = request(), request("ap-2")
    good = decision_fields("approval_granted", req, "alice")
    sig = good["signature"]
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    control = _forged(
        req,
        grant(req, signature=flipped),
        grant(req, reason="changed"),  # the entry says another reason than was signed
        grant(req, approver="bob"),  # the entry names another approver than signed
        at(NOW, "approval_denied", "handrail-cli", **good),  # a grant's signature on a denial
        # alice's grant of ap-2 replayed onto ap-1
        grant(
            req,
            **{
                k: v
                for k, v in decision_fields("approval_granted", other, "alice").items()
                if k in ("signed", "signature")
            },
        ),
    )
    assert [f.reason for f in control.forged] == [
        "the signature does not verify with 'alice''s keys",
        "signed for another reason",
        "signed for another signer",
        "signed as approval_granted, not approval_denied",
        "signed for another subject",
    ]


def test_a_grant_replayed_onto_a_new_request_with_the_same_approval_id_is_forged() -> None:
    first = request()
    replay = grant(first)
    second = request()  # the same id, another request (another event id)
    control = state(second, replay, agent="writer")
    assert control.approvals["ap-1"].state == "pending"
    assert [f.reason for f in control.forged] == ["signed for another refers to"]


def test_an_agent_cannot_approve_its_own_request() -> None:
    req = request()
    own = at(NOW, "approval_granted", "writer", approval_id="ap-1", approver="writer",
             reason="I approve myself")  # fmt: skip
    cli_trick = at(NOW, "approval_granted", "handrail-cli", approval_id="ap-1",
                   approver="alice", reason="as the CLI")  # fmt: skip
    cli_trick["agent"]["owner"] = "alice"
    _forged(req, own, cli_trick)


def test_forged_entries_reach_the_callback() -> None:
    seen: list[str] = []
    control = ControlState("writer", authority(), on_forged=lambda f: seen.append(f.reason))
    req = request()
    control.apply(req)
    control.apply(grant(req, "mallory"))
    assert seen == ["'mallory' may not decide writer's db.customers.write"]


# The proof from the ledger


def ledger_json(record: dict[str, Any]) -> str:
    """``record``'s ``event_json`` as the ledger stores it."""
    return str(to_row(record, 3, "events", 0, 0)["event_json"])


def test_the_ledger_proves_who_approved_and_refuses_an_edited_row() -> None:
    req, other = request(), request("ap-2")
    edited = grant(other)
    edited["payload"][1]["reason"] = "edited in the ledger afterwards"
    rows = [ledger_json(r) for r in (grant(req, "mallory"), req, grant(req), other, edited)]
    one, two = prove(rows, authority())
    assert (one.approval_id, one.state, one.signer) == ("ap-1", "granted", "alice")
    assert [f.reason for f in one.refused] == [
        "'mallory' may not decide writer's db.customers.write"
    ]
    assert (two.approval_id, two.state, two.signer) == ("ap-2", "pending", None)
    assert [f.reason for f in two.refused] == ["signed for another reason"]
