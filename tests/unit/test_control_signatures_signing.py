"""The signing core of signed decisions: a signature verifies only the decision it signed, a
signed text is exactly one decision or refused, and public and private keys are read strictly
(OpenSSH or raw base64 public keys; private keys from a 0600 file, else the environment)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

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
from tests.support.signers import key, signed

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
