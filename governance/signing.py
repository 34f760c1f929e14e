"""Signed decisions (pure apart from reading and writing key files): who decided what on
the control channel, provable with the public keys alone.

A person (``handrail approvals approve|deny``, ``handrail resume``) or a processor (a halt)
signs a ``Decision`` with an Ed25519 private key. The signature covers the decision's
canonical text, which names its kind, the signer, the agent, the approval id (or halted
operation), the event it answers (the approval request, the halt it lifts, the alert behind a
halt), the reason, the workflow and a random nonce, after a fixed domain tag. So a signature
cannot be moved onto another request, another kind of decision or another signer, and a
replayed copy carries a nonce already seen.

Ed25519 is PyNaCl's (libsodium), loaded on first use. Public keys are written
``ssh-ed25519 <base64> [comment]`` (OpenSSH) in the governance file; a bare base64 of the raw
32 bytes is read too. Private keys live in a file only its owner can read (PKCS#8 PEM or
OpenSSH), or in ``HANDRAIL_SIGNING_KEY`` (the PEM text, or the base64 of the raw 32-byte
seed). Those files are read and written with ``cryptography``, which only the signers
install (the ``cli`` extra): agents verify and never load it.
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
from typing import TYPE_CHECKING, Final, Literal, TypeAlias, get_args

from handrail.errors import HandrailError

if TYPE_CHECKING:
    from nacl.signing import SigningKey, VerifyKey

KEY_ENV: Final = "HANDRAIL_SIGNING_KEY"
"""Environment variable holding a private key when no key file is given."""
DOMAIN: Final = b"handrail decision v1\n"
"""Prefixed to every signed text: a handrail signature means nothing anywhere else."""
MAX_TEXT: Final = 64 * 1024
"""Longest signed text read back (characters); a longer one is refused unread."""
_MAX_KEY_FILE: Final = 16 * 1024

DecisionKind = Literal["approval_granted", "approval_denied", "resume", "halt"]
KINDS: Final[frozenset[str]] = frozenset(get_args(DecisionKind))

PublicKeys: TypeAlias = "Mapping[str, Sequence[VerifyKey]]"
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


def sign(decision: Decision, key: SigningKey) -> bytes:
    """The 64-byte Ed25519 signature of ``decision``'s canonical text."""
    return key.sign(_message(decision)).signature


def signed_fields(decision: Decision, key: SigningKey) -> dict[str, str]:
    """The ``signed`` and ``signature`` fields an event carries ``decision`` in (schema v3)."""
    return {"signed": decision.canonical(), "signature": encode_signature(sign(decision, key))}


def verifies(public: VerifyKey, message: bytes, signature: bytes) -> bool:
    """Whether ``public`` signed ``message`` (any malformed signature is simply no)."""
    from nacl.exceptions import BadSignatureError  # noqa: PLC0415 - libsodium on first use

    try:
        public.verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):  # a wrong length or type too
        return False
    return True


def verify(decision: Decision, signature: bytes, keys: PublicKeys) -> str | Refused:
    """The signer's name if one of ``decision.signer``'s keys signed exactly ``decision``;
    else why not. Whether the signer holds the right to decide is the caller's question."""
    held = keys.get(decision.signer, ())
    if not held:
        return Refused(f"{decision.signer!r} has no public key in the governance file")
    message = _message(decision)
    if any(verifies(public, message, signature) for public in held):
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


def generate() -> SigningKey:
    from nacl.signing import SigningKey  # noqa: PLC0415 - libsodium on first use

    return SigningKey.generate()


_SSH_TYPE: Final = b"ssh-ed25519"
_RAW_LEN: Final = 32
_BAD_PUBLIC: Final = (
    "not an Ed25519 public key (expected `ssh-ed25519 AAAA...` or 32 bytes in base64)"
)


def _ssh_string(data: bytes) -> bytes:
    """An SSH wire-format string (RFC 4251): its length, 4 bytes big-endian, then the bytes."""
    return len(data).to_bytes(4, "big") + data


_SSH_PREFIX: Final = _ssh_string(_SSH_TYPE) + _RAW_LEN.to_bytes(4, "big")
"""What every ssh-ed25519 key blob starts with: the type string, then the key's length."""


def public_key_line(public: VerifyKey, comment: str = "") -> str:
    """``ssh-ed25519 <base64> [comment]``: the line to paste into the governance file."""
    blob = base64.b64encode(_SSH_PREFIX + bytes(public)).decode("ascii")
    line = f"{_SSH_TYPE.decode()} {blob}"
    return f"{line} {comment}" if comment else line


def fingerprint(public: VerifyKey) -> str:
    """``SHA256:<base64>`` of the raw 32 bytes (``ssh-keygen -l`` hashes the whole blob
    instead): one key, one fingerprint, whichever way it was written."""
    digest = hashlib.sha256(bytes(public)).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def _strict_b64(text: str) -> bytes:
    """The bytes ``text`` is the canonical padded base64 of; ``ValueError`` otherwise (so a
    key has one spelling)."""
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return raw


def parse_public_key(text: str) -> VerifyKey:
    """A public key from ``ssh-ed25519 <base64> [comment]`` or the base64 of its 32 raw
    bytes; ``SigningError`` for anything else (other algorithms included)."""
    from nacl.signing import VerifyKey  # noqa: PLC0415 - libsodium on first use

    parts = text.strip().split()
    if not parts or len(text) > 4096:
        raise SigningError("a public key is empty or too long")
    try:
        if parts[0] == _SSH_TYPE.decode() and len(parts) >= 2:
            blob = _strict_b64(parts[1])
            # exactly the type string and one 32-byte string, nothing after
            if len(blob) != len(_SSH_PREFIX) + _RAW_LEN or not blob.startswith(_SSH_PREFIX):
                raise ValueError("not one ssh-ed25519 key")
            raw = blob[len(_SSH_PREFIX) :]
        elif len(parts) == 1:
            raw = _strict_b64(parts[0])
        else:
            raise ValueError("not ssh-ed25519")
        if len(raw) != _RAW_LEN:
            raise ValueError("not 32 bytes")
        return VerifyKey(raw)
    except (ValueError, UnicodeEncodeError, binascii.Error):
        raise SigningError(_BAD_PUBLIC) from None


# Private keys: PEM and OpenSSH files go through cryptography (the cli extra), imported here
# only; the raw seed becomes a PyNaCl key, so one implementation signs.

_NEEDS_CLI: Final = (
    "reading or writing a PEM or OpenSSH private key needs the `cryptography` package: "
    "pip install 'handrail[cli]'"
)


def private_key_pem(key: SigningKey) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM (RFC 8410), as ``handrail keys new`` writes it."""
    try:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
            Ed25519PrivateKey,
        )
    except ImportError:
        raise SigningError(_NEEDS_CLI) from None
    return Ed25519PrivateKey.from_private_bytes(bytes(key)).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_seed(text: bytes) -> bytes:
    """The 32-byte seed of an unencrypted Ed25519 key in PEM: PKCS#8 or OpenSSH."""
    try:
        from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
            Ed25519PrivateKey,
        )
    except ImportError:
        raise SigningError(_NEEDS_CLI) from None
    key: object
    try:
        if text.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
            key = serialization.load_ssh_private_key(text, password=None)
        else:
            key = serialization.load_pem_private_key(text, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # The message never repeats the key material.
        raise SigningError("not an unencrypted Ed25519 private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError("not an Ed25519 private key")
    return key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def _parse_private(data: bytes) -> SigningKey:
    """A private key from PEM (PKCS#8 or OpenSSH) or the base64 of the 32-byte seed."""
    from nacl.signing import SigningKey  # noqa: PLC0415 - libsodium on first use

    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        return SigningKey(_pem_seed(text))
    try:
        seed = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        seed = b""
    if len(seed) != _RAW_LEN:
        # The message never repeats the key material.
        raise SigningError("not an unencrypted Ed25519 private key")
    return SigningKey(seed)


def write_private_key(path: Path, key: SigningKey) -> None:
    """Write ``key`` to a new file only its owner can read; never over an existing file."""
    pem = private_key_pem(key)  # before the file exists: a missing extra leaves no empty file
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise SigningError(f"{path} exists; a key is never overwritten") from None
    except OSError as exc:
        raise SigningError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)  # whatever the umask
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())


def load_private_key(path: Path) -> SigningKey:
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


def private_key(path: Path | None, env: Mapping[str, str] | None = None) -> SigningKey:
    """The signing key: from ``path`` when given, else from ``HANDRAIL_SIGNING_KEY``."""
    if path is not None:
        return load_private_key(path)
    value = (os.environ if env is None else env).get(KEY_ENV)
    if not value:
        raise SigningError(f"no signing key: give --key FILE or set {KEY_ENV}")
    if len(value) > _MAX_KEY_FILE:
        raise SigningError(f"{KEY_ENV} is too long to be a key")
    return _parse_private(value.encode("utf-8", "replace"))
