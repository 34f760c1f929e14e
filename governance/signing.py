"""Signed decisions (pure apart from reading and writing key files): who decided what on
the control channel, provable with the public keys alone.

A person (``handrail approvals approve|deny``, ``handrail resume``) or a processor (a halt)
signs a ``Decision`` with an Ed25519 private key. The signature covers the decision's
canonical text, which names its kind, the signer, the agent, the approval id (or halted
operation), the event it answers (the approval request, the halt it lifts, the alert behind a
halt), the reason, the workflow and a random nonce, after a fixed domain tag. So a signature
cannot be moved onto another request, another kind of decision or another signer, and a
replayed copy carries a nonce already seen.

Public keys are written ``ssh-ed25519 <base64> [comment]`` (OpenSSH) in the governance file;
a bare base64 of the raw 32 bytes is read too. Private keys live in a file only its owner
can read (PKCS#8 PEM or OpenSSH), or in ``HANDRAIL_SIGNING_KEY`` (the PEM text, or the base64
of the raw 32-byte seed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final, Literal, get_args

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from handrail.errors import HandrailError

KEY_ENV: Final = "HANDRAIL_SIGNING_KEY"
"""Environment variable holding a private key when no key file is given."""
DOMAIN: Final = b"handrail decision v1\n"
"""Prefixed to every signed text: a handrail signature means nothing anywhere else."""
MAX_TEXT: Final = 64 * 1024
"""Longest signed text read back (characters); a longer one is refused unread."""
_MAX_KEY_FILE: Final = 16 * 1024

DecisionKind = Literal["approval_granted", "approval_denied", "resume", "halt"]
KINDS: Final[frozenset[str]] = frozenset(get_args(DecisionKind))

PublicKeys = Mapping[str, Sequence[Ed25519PublicKey]]
"""Who holds which keys: a signer's name -> its public keys (several while rotating)."""


class SigningError(HandrailError):
    """A key or a signed text that cannot be used; the message says why, never the key."""


def new_nonce() -> str:
    """128 random bits, hex: makes every decision's signed text unique."""
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class Decision:
    """What a signature covers. Every field is text; the empty string means "none"."""

    kind: DecisionKind
    signer: str
    """Who signs, as named in the governance file (a person, or a processor for halts)."""
    agent: str
    """The agent that asked for the approval, or the halted agent."""
    subject: str
    """The approval id; for a halt or a resume the operation id ("" = the whole agent)."""
    refers_to: str
    """What it answers: the approval request's event id; for a resume the signed nonce of
    the halt it lifts; for a halt the alert's dedup key (or "")."""
    reason: str
    workflow_id: str = ""
    nonce: str = field(default_factory=new_nonce)

    def canonical(self) -> str:
        """The one text signed: sorted keys, no spaces, ASCII only (JSON escapes)."""
        return json.dumps({"v": 1, **asdict(self)}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str) -> Decision:
        """The decision ``text`` is the canonical text of; ``SigningError`` if it is not
        exactly that (one encoding per decision, so nothing else can be slipped in)."""
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise SigningError("the signed text is not text, or is too long")
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError):
            raise SigningError("the signed text is not JSON") from None
        names = {f for f in cls.__dataclass_fields__}
        if not isinstance(raw, dict) or raw.pop("v", None) != 1 or set(raw) != names:
            raise SigningError("the signed text is not a version 1 decision")
        if not all(isinstance(v, str) for v in raw.values()) or raw["kind"] not in KINDS:
            raise SigningError("the signed text has a field of the wrong type or kind")
        decision = cls(**raw)
        if decision.canonical() != text:
            raise SigningError("the signed text is not in canonical form")
        return decision


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a signed decision is not accepted."""

    reason: str


def _message(decision: Decision) -> bytes:
    return DOMAIN + decision.canonical().encode("ascii")


def sign(decision: Decision, key: Ed25519PrivateKey) -> bytes:
    """The 64-byte Ed25519 signature of ``decision``'s canonical text."""
    return key.sign(_message(decision))


def signed_fields(decision: Decision, key: Ed25519PrivateKey) -> dict[str, str]:
    """The ``signed`` and ``signature`` fields an event carries ``decision`` in (schema v3)."""
    return {"signed": decision.canonical(), "signature": encode_signature(sign(decision, key))}


def verify(decision: Decision, signature: bytes, keys: PublicKeys) -> str | Refused:
    """The signer's name if one of ``decision.signer``'s keys signed exactly ``decision``;
    else why not. Whether the signer holds the right to decide is the caller's question."""
    held = keys.get(decision.signer, ())
    if not held:
        return Refused(f"{decision.signer!r} has no public key in the governance file")
    message = _message(decision)
    for public in held:
        try:
            public.verify(signature, message)
        except InvalidSignature:
            continue
        return decision.signer
    return Refused(f"the signature does not verify with {decision.signer!r}'s keys")


def encode_signature(signature: bytes) -> str:
    return base64.b64encode(signature).decode("ascii")


def decode_signature(text: str) -> bytes | Refused:
    """The signature bytes from their base64 (as carried in events)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError, binascii.Error):
        return Refused("the signature is not base64")
    return raw if len(raw) == 64 else Refused("the signature is not 64 bytes")


def verify_signed(signed: str, signature: str, keys: PublicKeys) -> Decision | Refused:
    """Parse and verify a decision as carried in an event: its canonical ``signed`` text and
    ``signature`` in base64. The decision if it verifies; else why not."""
    try:
        decision = Decision.parse(signed)
    except SigningError as exc:
        return Refused(str(exc))
    raw = decode_signature(signature)
    if isinstance(raw, Refused):
        return raw
    who = verify(decision, raw, keys)
    return who if isinstance(who, Refused) else decision


# Keys


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_line(public: Ed25519PublicKey, comment: str = "") -> str:
    """``ssh-ed25519 <base64> [comment]``: the line to paste into the governance file."""
    line = public.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode("ascii")
    return f"{line} {comment}" if comment else line


def fingerprint(public: Ed25519PublicKey) -> str:
    """``SHA256:<base64>`` of the raw key, as ``ssh-keygen -l`` shows it."""
    digest = hashlib.sha256(_raw(public)).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key from ``ssh-ed25519 <base64> [comment]`` or the base64 of its 32 raw
    bytes; ``SigningError`` for anything else (other algorithms included)."""
    parts = text.strip().split()
    if not parts or len(text) > 4096:
        raise SigningError("a public key is empty or too long")
    try:
        if parts[0] == "ssh-ed25519" and len(parts) >= 2:
            key = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode("ascii"))
        elif len(parts) == 1:
            raw = base64.b64decode(parts[0].encode("ascii"), validate=True)
            if len(raw) != 32:
                raise ValueError("not 32 bytes")
            key = Ed25519PublicKey.from_public_bytes(raw)
        else:
            raise ValueError("not ssh-ed25519")
    except (ValueError, UnicodeEncodeError, binascii.Error, UnsupportedAlgorithm):
        raise SigningError(
            "not an Ed25519 public key (expected `ssh-ed25519 AAAA...` or 32 bytes in base64)"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError("not an Ed25519 public key")
    return key


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _parse_private(data: bytes) -> Ed25519PrivateKey:
    """A private key from PEM (PKCS#8 or OpenSSH) or the base64 of the 32-byte seed."""
    text = data.strip()
    key: object
    try:
        if text.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
            key = serialization.load_ssh_private_key(text, password=None)
        elif text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(text, password=None)
        else:
            seed = base64.b64decode(text, validate=True)
            if len(seed) != 32:
                raise ValueError("not 32 bytes")
            key = Ed25519PrivateKey.from_private_bytes(seed)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        # The message never repeats the key material.
        raise SigningError("not an unencrypted Ed25519 private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError("not an Ed25519 private key")
    return key


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write ``key`` to a new file only its owner can read; never over an existing file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise SigningError(f"{path} exists; a key is never overwritten") from None
    except OSError as exc:
        raise SigningError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)  # whatever the umask
        out.write(private_key_pem(key))
        out.flush()
        os.fsync(out.fileno())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The private key in ``path``: a regular file (not a symlink) that its owner alone can
    read; one readable by the group or others is refused, as ssh does."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise SigningError(f"cannot open the key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise SigningError(f"the key file {path} is not a regular file")
        if st.st_mode & 0o077:
            raise SigningError(
                f"the key file {path} can be read by others (mode {st.st_mode & 0o777:o}); "
                f"`chmod 600 {path}`"
            )
        if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
            raise SigningError(f"the key file {path} belongs to another user")
        data = f.read(_MAX_KEY_FILE + 1)
    if len(data) > _MAX_KEY_FILE:
        raise SigningError(f"the key file {path} is too large to be a key")
    return _parse_private(data)


def private_key(path: Path | None, env: Mapping[str, str] | None = None) -> Ed25519PrivateKey:
    """The signing key: from ``path`` when given, else from ``HANDRAIL_SIGNING_KEY``."""
    if path is not None:
        return load_private_key(path)
    value = (os.environ if env is None else env).get(KEY_ENV)
    if not value:
        raise SigningError(f"no signing key: give --key FILE or set {KEY_ENV}")
    if len(value) > _MAX_KEY_FILE:
        raise SigningError(f"{KEY_ENV} is too long to be a key")
    return _parse_private(value.encode("utf-8", "replace"))
