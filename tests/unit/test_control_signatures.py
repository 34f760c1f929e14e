"""Signed decisions: the signing core, the governance file's people and rights, and the
control state acting only on decisions whose signature verifies and whose signer holds the
right; everything else ignored and kept as forged."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from handrail.control.proof import prove
from handrail.control.state import ControlState
from handrail.governance import GovernanceError, parse
from handrail.governance.authority import Authority
from handrail.governance.signing import (
    KEY_ENV,
    Decision,
    Refused,
    SigningError,
    decode_signature,
    generate,
    load_private_key,
    parse_public_key,
    private_key,
    private_key_pem,
    public_key_line,
    sign,
    verify,
    verify_signed,
    write_private_key,
)
from handrail.ledger.rows import to_row
from tests.support.samples import NOW, event_record
from tests.support.signers import (
    PROCESSOR,
    authority,
    decision_fields,
    governance_yaml,
    halt_fields,
    key,
    nonce_of,
    resume_fields,
    signed,
)


def at(when: datetime, kind: str, agent: str, **fields: Any) -> dict[str, Any]:
    record = event_record(kind, agent=agent, **fields)
    record["time"] = when
    return record


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


def state(*records: dict[str, Any], agent: str | None = None) -> ControlState:
    control = ControlState(agent, authority())
    for record in records:
        control.apply(record)
    return control


# The signing core


DECISION = Decision("approval_granted", "alice", "writer", "ap-1", "ev-1", "ok", "wf")


def test_a_signature_verifies_only_the_decision_it_signed() -> None:
    keys = {"alice": [key("alice").verify_key]}
    signature = sign(DECISION, key("alice"))
    assert verify(DECISION, signature, keys) == "alice"
    for field in ("kind", "agent", "subject", "refers_to", "reason", "workflow_id", "nonce"):
        other = "approval_denied" if field == "kind" else "x"
        moved = dataclasses.replace(DECISION, **{field: other})
        assert isinstance(verify(moved, signature, keys), Refused), field
    tampered = bytes([signature[0] ^ 1]) + signature[1:]
    assert isinstance(verify(DECISION, tampered, keys), Refused)
    by_mallory = sign(DECISION, key("mallory"))  # signed as alice with another key
    assert isinstance(verify(DECISION, by_mallory, keys), Refused)
    unknown = dataclasses.replace(DECISION, signer="carol")
    assert verify(unknown, sign(unknown, key("alice")), keys) == Refused(
        "'carol' has no public key in the governance file"
    )


def test_two_decisions_never_share_a_signed_text() -> None:
    again = Decision("approval_granted", "alice", "writer", "ap-1", "ev-1", "ok", "wf")
    assert again.canonical() != DECISION.canonical()  # the nonce


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        '{"v":1}',
        DECISION.canonical().replace(",", ", "),  # not the canonical form
        DECISION.canonical().replace('"v":1', '"v":2'),
        DECISION.canonical().replace('"approval_granted"', '"halt_everything"'),
        DECISION.canonical().replace('"reason":"ok"', '"reason":1'),
        DECISION.canonical()[:-1] + ',"extra":"x"}',
        "[" * 100_000,
    ],
)
def test_a_signed_text_that_is_not_exactly_a_decision_is_refused(text: str) -> None:
    with pytest.raises(SigningError):
        Decision.parse(text)
    assert isinstance(verify_signed(text, "AAAA", {}), Refused)


def test_a_decision_survives_its_text_and_odd_characters_are_kept_exactly() -> None:
    odd = dataclasses.replace(DECISION, reason='\ud800 \x00 é ✓ "quoted"')
    assert Decision.parse(odd.canonical()) == odd
    fields = signed(odd)
    keys = {"alice": [key("alice").verify_key]}
    assert verify_signed(fields["signed"], fields["signature"], keys) == odd


@pytest.mark.parametrize("text", ["", "!!", "AAAA", "A" * 88, "ÿ"])
def test_a_malformed_signature_is_refused(text: str) -> None:
    assert isinstance(decode_signature(text), Refused)


def test_public_keys_read_in_openssh_and_raw_base64_and_nothing_else() -> None:
    public = key("alice").verify_key
    line = public_key_line(public, "alice@laptop")
    assert line.startswith("ssh-ed25519 AAAA")
    assert line.endswith(" alice@laptop")
    raw = line.split()[1]
    import base64

    bare = base64.b64encode(base64.b64decode(raw)[-32:]).decode()
    for text in (line, line.rsplit(" ", 1)[0], bare):
        assert public_key_line(parse_public_key(text)) == public_key_line(public)
    rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 x"
    for bad in ("", "ssh-ed25519", "ssh-ed25519 !!!", rsa, "QUJD", "x" * 5000):
        with pytest.raises(SigningError):
            parse_public_key(bad)


def test_a_private_key_file_is_created_0600_never_overwritten_and_refused_when_others_can_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alice.key"
    write_private_key(path, key("alice"))
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_private_key(path).verify_key == key("alice").verify_key
    with pytest.raises(SigningError, match="never overwritten"):
        write_private_key(path, generate())
    path.chmod(0o640)
    with pytest.raises(SigningError, match="can be read by others") as err:
        load_private_key(path)
    assert "PRIVATE" not in str(err.value)
    path.chmod(0o600)
    link = tmp_path / "link.key"
    link.symlink_to(path)
    with pytest.raises(SigningError):
        load_private_key(link)
    (tmp_path / "junk.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nsecretstuff\n")
    os.chmod(tmp_path / "junk.key", 0o600)
    with pytest.raises(SigningError) as junk:
        load_private_key(tmp_path / "junk.key")
    assert "secretstuff" not in str(junk.value)


def test_the_private_key_comes_from_the_file_else_the_environment() -> None:
    pem = private_key_pem(key("bob")).decode()
    assert private_key(None, {KEY_ENV: pem}).verify_key == key("bob").verify_key
    with pytest.raises(SigningError, match=KEY_ENV):
        private_key(None, {})
    with pytest.raises(SigningError) as err:
        private_key(None, {KEY_ENV: "hunter2"})
    assert "hunter2" not in str(err.value)


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


# The control state


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


def halt(when: datetime, operation: str | None = "op-1", **changes: Any) -> dict[str, Any]:
    return at(when, "halt", PROCESSOR, **(halt_fields("payer", operation) | changes))


def resume(when: datetime, lifts: dict[str, Any], signer: str = "alice",
           **changes: Any) -> dict[str, Any]:  # fmt: skip
    p = lifts["payload"][1]
    fields = resume_fields("payer", p["operation_id"], nonce_of(lifts), signer)
    return at(when, "resume", "handrail-cli", **(fields | changes))


def test_a_resume_dated_2299_does_not_lift_a_halt_raised_later() -> None:
    y2299 = datetime(2299, 1, 1, tzinfo=UTC)
    first = halt(NOW)
    forged = at(y2299, "resume", "handrail-cli", scope="operation", target_agent="payer",
                operation_id="op-1", reason="forged", by="alice")  # fmt: skip
    control = state(first, forged, resume(y2299, first), halt(NOW + timedelta(seconds=5)))
    assert control.halt("payer", "op-1") is not None  # the later halt stands
    assert [f.reason for f in control.forged] == ["unsigned"]


def test_halts_must_be_signed_by_a_processor_and_resumes_by_a_resumer() -> None:
    real = halt(NOW)
    by_person = at(NOW, "halt", PROCESSOR,
                   **(halt_fields("payer", "op-2") | signed(Decision(
                       "halt", "alice", "payer", "op-2", "storm", "storm"))))  # fmt: skip
    unsigned = at(NOW, "halt", PROCESSOR, scope="agent", target_agent="payer",
                  operation_id=None, reason="storm", alert_dedup_key=None)  # fmt: skip
    control = state(real, by_person, unsigned, resume(NOW, real, "bob"),
                    resume(NOW, real, "mallory"))  # fmt: skip
    assert control.halt("payer", "op-1") is not None
    assert control.halt("payer", "op-2") is None
    assert control.halt("payer") is None
    assert [f.reason for f in control.forged] == [
        "'alice' has no public key in the governance file",  # people do not sign halts
        "unsigned",
        "'bob' may not lift halts of payer",
        "'mallory' may not lift halts of payer",
    ]
    control.apply(resume(NOW, real))
    assert control.halt("payer", "op-1") is None


def test_a_replayed_halt_does_not_halt_again() -> None:
    first = halt(NOW)
    copy = dict(first, event_id="5f0e8c6e-0000-4000-8000-000000000000")
    control = state(first, resume(NOW, first), copy)
    assert control.halt("payer", "op-1") is None


def test_a_resume_signed_for_one_operation_does_not_lift_another() -> None:
    op1, op2 = halt(NOW, "op-1"), halt(NOW, "op-2")
    lift_op1 = resume(NOW, op1)
    moved = dict(lift_op1)
    moved["payload"] = (lift_op1["payload"][0], {**lift_op1["payload"][1], "operation_id": "op-2"})
    control = state(op1, op2, moved)
    assert control.halt("payer", "op-2") is not None
    assert [f.reason for f in control.forged] == ["signed for another subject"]


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


def test_a_resume_lifts_only_a_halt_of_the_target_it_names() -> None:
    """bob may lift payer's halts only: his signed resume of payer naming writer's halt
    leaves writer halted (the old state lifted whatever halt id a permitted resume named,
    whatever its target)."""
    text = governance_yaml().replace("  payer: {owner: team}",
                                     "  payer: {owner: team, resumers: [bob]}")  # fmt: skip
    control = ControlState(None, Authority(parse(text)))
    writers = at(NOW, "halt", PROCESSOR, **halt_fields("writer", None))
    control.apply(writers)
    fields = resume_fields("payer", None, nonce_of(writers), "bob")
    control.apply(at(NOW + timedelta(seconds=1), "resume", "handrail-cli", **fields))
    assert control.halt("writer") is not None
    assert control.halt("payer") is None


def test_a_copy_of_a_halt_under_a_lifted_halts_event_id_stays_in_force() -> None:
    """A halt's event id is not signed: a copy of a new halt given the id of one a resume
    lifted is the new halt, in force (the old state took it as lifted, and dropped the real
    one after it as a copy)."""
    first = halt(NOW)
    second = halt(NOW + timedelta(seconds=5))
    copy = {**second, "event_id": first["event_id"]}
    control = state(first, resume(NOW + timedelta(seconds=1), first), copy, second)
    assert control.halt("payer", "op-1") is not None


def test_a_halt_off_the_halts_topic_is_ignored_and_kept_as_forged() -> None:
    """On Kafka halts and resumes travel on the halts topic; a processor-signed halt
    copied onto the control topic (which agents write) counts for nothing there."""
    control = ControlState(None, authority())
    control.apply(halt(NOW), halts=False)
    assert control.halt("payer", "op-1") is None
    assert [f.reason for f in control.forged] == ["a halt or resume off the halts topic"]
