"""Ed25519 keys after the move to PyNaCl: signatures, public key lines, fingerprints and
private key files are those the ``cryptography`` implementation made (keys and decisions
signed before still verify), public keys are parsed strictly, and an install without the
cli extra verifies and reads a raw seed, and names the extra for a PEM file."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.signing import SigningKey

from handrail.governance.signing import (
    KEY_ENV,
    Decision,
    SigningError,
    fingerprint,
    load_private_key,
    parse_public_key,
    private_key,
    private_key_pem,
    public_key_line,
    sign,
    verify,
)

SEED = bytes(range(32))
LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
"""The public key line of ``SEED``, as handrail wrote it with ``cryptography``."""
FINGERPRINT = "SHA256:Vkdap1RjR0wChd9dvyvKtz2mUTWIOem3dIGy6rEHcIw"
DECISION = Decision("resume", "alice", "payer", "op-1", "nonce-of-halt", "fixed", "wf")
PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
"""RFC 8410: an Ed25519 seed's PKCS#8 DER is this, then the 32 bytes."""


def old(seed: bytes = SEED) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def key_file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "k.key"
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def test_keys_lines_fingerprints_and_signatures_are_the_ones_made_before() -> None:
    new = SigningKey(SEED)
    assert public_key_line(new.verify_key) == LINE
    assert fingerprint(new.verify_key) == FINGERPRINT
    openssh = (
        old()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    assert public_key_line(parse_public_key(openssh.decode())) == LINE
    # Ed25519 is deterministic: both sign alike, and each verifies the other's
    message = b"handrail decision v1\n" + DECISION.canonical().encode()
    assert sign(DECISION, new) == old().sign(message)
    assert verify(DECISION, old().sign(message), {"alice": [new.verify_key]}) == "alice"
    old().public_key().verify(sign(DECISION, new), message)  # raises if it does not


def test_the_pem_written_is_pkcs8_as_before_and_pem_or_openssh_files_read_back(
    tmp_path: Path,
) -> None:
    pem = private_key_pem(SigningKey(SEED))
    assert pem == old().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der = base64.b64decode(b"".join(pem.splitlines()[1:-1]))
    assert der == PKCS8_PREFIX + SEED
    openssh = old().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    for data in (pem, openssh):
        path = key_file(tmp_path, data)
        assert bytes(load_private_key(path)) == SEED
        assert bytes(private_key(None, {KEY_ENV: data.decode()})) == SEED
        path.unlink()
    assert bytes(private_key(None, {KEY_ENV: base64.b64encode(SEED).decode()})) == SEED


def test_an_encrypted_or_non_ed25519_private_key_is_refused_without_echoing_it(
    tmp_path: Path,
) -> None:
    encrypted = old().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass"),
    )
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

    ec = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    short = base64.b64encode(SEED[:31])
    for data in (encrypted, ec, short, base64.b64encode(SEED + b"x")):
        with pytest.raises(SigningError) as err:
            load_private_key(key_file(tmp_path, data))
        material = [line for line in data.decode().splitlines() if "-----" not in line]
        assert not any(line in str(err.value) for line in material)
        (tmp_path / "k.key").unlink()


def blob_line(blob: bytes) -> str:
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


def ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


RAW = bytes(SigningKey(SEED).verify_key)
B64: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def other_spelling(text: str) -> str:
    """``text`` (base64 ending in one ``=``) with the padding bits of its last character
    flipped: it decodes to the same bytes."""
    index = B64.index(text[-2])
    return text[:-2] + B64[index ^ 1] + "="


@pytest.mark.parametrize(
    "text",
    [
        blob_line(ssh_string(b"ssh-ed25519") + ssh_string(RAW) + b"\x00"),  # a byte more
        blob_line(ssh_string(b"ssh-ed25519") + ssh_string(RAW[:31])),  # a short key
        blob_line(ssh_string(b"ssh-ed25519") + ssh_string(RAW + b"\x00")),  # a long key
        blob_line(ssh_string(b"ssh-ed25518") + ssh_string(RAW)),  # another type inside
        blob_line(ssh_string(b"ssh-ed25519") + (33).to_bytes(4, "big") + RAW),  # lying length
        blob_line(ssh_string(b"ssh-ed25519")),  # no key
        "ssh-ed25519 " + base64.b64encode(RAW).decode(),  # raw bytes where the blob goes
        base64.b64encode(RAW[:31]).decode(),
        base64.b64encode(RAW + b"\x00").decode(),
        base64.b64encode(RAW).decode().rstrip("="),  # unpadded
        other_spelling(base64.b64encode(RAW).decode()),  # the same key, bits in the padding
        LINE.replace("ssh-ed25519", "ssh-rsa"),
    ],
)
def test_a_public_key_is_parsed_strictly(text: str) -> None:
    with pytest.raises(SigningError, match="Ed25519"):
        parse_public_key(text)


NO_CRYPTOGRAPHY = """
import base64, sys
from pathlib import Path
sys.modules["cryptography"] = None
from handrail.governance.signing import (Decision, SigningError, load_private_key, parse_public_key,
    private_key, sign, verify, write_private_key)
seed = base64.b64encode(bytes(range(32))).decode()
key = private_key(None, {"HANDRAIL_SIGNING_KEY": seed})
decision = Decision("resume", "alice", "payer", "", "n", "fixed")
print(verify(decision, sign(decision, key), {"alice": [parse_public_key(sys.argv[1])]}))
for attempt in (lambda: load_private_key(Path(sys.argv[2])),
                lambda: write_private_key(Path(sys.argv[2]).with_suffix(".new"), key)):
    try:
        attempt()
    except SigningError as exc:
        print(exc)
print(Path(sys.argv[2]).with_suffix(".new").exists())
"""


def test_without_the_cli_extra_agents_verify_and_a_pem_names_the_extra(tmp_path: Path) -> None:
    path = key_file(tmp_path, private_key_pem(SigningKey(SEED)))
    done = subprocess.run([sys.executable, "-c", NO_CRYPTOGRAPHY, LINE, str(path)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0] == "alice"
    assert len(out) == 4
    assert all("pip install 'handrail[cli]'" in line for line in out[1:3])
    assert out[3] == "False"  # no empty key file left behind
