"""The one place where ``kafka.client_options`` become each Kafka client's options.

Three clients join the cluster: kafka-python (the SDK's shipper, the control follower, the
ledger sink, topic creation), aiokafka (the processors' ingest consumer) and Faust (the
processors' app, on aiokafka). ``client_options`` speaks kafka-python's names; the
security ones are checked when the settings load (``check``) and mapped here for all three,
with one TLS context made from the same files (``ssl_context``). Other options reach
kafka-python only.

Supported: ``security_protocol`` PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL;
``sasl_mechanism`` PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with ``sasl_plain_username`` and
``sasl_plain_password``; ``ssl_cafile``, ``ssl_certfile``, ``ssl_keyfile``,
``ssl_password``, ``ssl_check_hostname``. Secrets are revealed only in the options handed to
a client; no error here repeats a value, only the option's name.

May import: the standard library; Faust and aiokafka only inside the functions that need
them (the SDK imports this module through the settings).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from handrail.errors import HandrailError

if TYPE_CHECKING:
    from handrail.settings import KafkaSettings

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SASL_OPTIONS = ("sasl_mechanism", "sasl_plain_username", "sasl_plain_password")
SSL_FILES = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
SSL_OPTIONS = (*SSL_FILES, "ssl_password", "ssl_check_hostname")
SECURITY_OPTIONS = ("security_protocol", *SASL_OPTIONS, *SSL_OPTIONS)


class KafkaClientError(HandrailError):
    """A Kafka client cannot be made from the settings (a TLS file cannot be read)."""


class KafkaLoginError(KafkaClientError):
    """The broker refused the credentials, or its certificate did not verify."""


def _name(option: str) -> str:
    """An option's name fit for an error: short, printable (a hostile name is no secret
    we keep, but it may be long or hold control characters)."""
    return repr(option[:64])


def _text(options: Mapping[str, Any], name: str) -> str | None:
    value = options.get(name)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return None
    if not isinstance(value, str) or not value or "\0" in value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def check(options: Mapping[str, Any]) -> None:
    """Refuse security options that some client would not honour, or honour differently:
    unknown ``sasl_*``/``ssl_*`` options, SASL or TLS options under a protocol that ignores
    them, SASL without its three options, PLAIN's password sent in clear (SASL_PLAINTEXT).
    Raises ``ValueError`` naming the option, never its value."""
    unknown = [
        n for n in options
        if n.startswith(("sasl_", "ssl_", "security_")) and n not in SECURITY_OPTIONS
    ]  # fmt: skip
    if unknown:
        raise ValueError(
            f"{', '.join(map(_name, unknown))}: not supported by every Kafka client handrail "
            f"runs; supported: {', '.join(SECURITY_OPTIONS)}"
        )
    protocol = _text(options, "security_protocol") or "PLAINTEXT"
    if protocol not in PROTOCOLS:
        raise ValueError(f"security_protocol must be one of {', '.join(PROTOCOLS)}")
    sasl, tls = protocol.startswith("SASL_"), protocol.endswith("SSL")
    ignored = [n for n in options if (n in SASL_OPTIONS and not sasl)
               or (n in SSL_OPTIONS and not tls)]  # fmt: skip
    if ignored:
        raise ValueError(f"{', '.join(ignored)}: ignored under security_protocol {protocol}")
    for name in (*SASL_OPTIONS, *SSL_FILES, "ssl_password"):
        _text(options, name)
    if sasl:
        missing = [n for n in SASL_OPTIONS if n not in options]
        if missing:
            raise ValueError(f"security_protocol {protocol} needs {', '.join(missing)}")
        mechanism = options["sasl_mechanism"]
        if mechanism not in MECHANISMS:
            raise ValueError(f"sasl_mechanism must be one of {', '.join(MECHANISMS)}")
        if mechanism == "PLAIN" and not tls:
            raise ValueError("sasl_mechanism PLAIN sends the password in clear: use SASL_SSL "
                             "or a SCRAM mechanism")  # fmt: skip
    if "ssl_keyfile" in options and "ssl_certfile" not in options:
        raise ValueError("ssl_keyfile needs ssl_certfile (the client certificate)")
    if "ssl_password" in options and "ssl_certfile" not in options:
        raise ValueError("ssl_password needs ssl_certfile (it unlocks the client key)")
    if not isinstance(options.get("ssl_check_hostname", True), bool):
        raise ValueError("ssl_check_hostname must be true or false")


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context every client uses (None without TLS): the CA file's certificates
    (else the system's), the broker's name checked unless ``ssl_check_hostname`` is false,
    and the client certificate when one is given."""
    options = kafka.client_options
    if not (_text(options, "security_protocol") or "").endswith("SSL"):
        return None
    cafile = _text(options, "ssl_cafile")
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise KafkaClientError(f"kafka.client_options.ssl_cafile {cafile}: {_why(exc)}") from None
    context.check_hostname = options.get("ssl_check_hostname", True)
    certfile = _text(options, "ssl_certfile")
    if certfile:
        try:
            context.load_cert_chain(
                certfile, _text(options, "ssl_keyfile"), _text(options, "ssl_password")
            )
        except (OSError, ssl.SSLError) as exc:  # its text holds no password
            raise KafkaClientError(
                f"kafka.client_options.ssl_certfile {certfile} (or its key): {_why(exc)}"
            ) from None
    return context


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or type(exc).__name__


def _security(kafka: KafkaSettings) -> dict[str, Any]:
    """The security options in kafka-python's and aiokafka's common names, revealed."""
    options = kafka.client_options
    protocol = _text(options, "security_protocol") or "PLAINTEXT"
    out: dict[str, Any] = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        out.update({n: _text(options, n) for n in SASL_OPTIONS})
    if protocol.endswith("SSL"):
        out["ssl_context"] = ssl_context(kafka)
    return out


def kafka_python_options(kafka: KafkaSettings) -> dict[str, Any]:
    """``client_options`` for a kafka-python client: the extras as given, the security
    ones mapped (the TLS files made into ``ssl_context``), the secrets revealed."""
    extras = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in kafka.client_options.items()
        if name not in SECURITY_OPTIONS
    }
    return {**extras, **(_security(kafka) if kafka.client_options else {})}


def aiokafka_options(kafka: KafkaSettings) -> dict[str, Any]:
    """The security options of an aiokafka client (the extras are kafka-python's only)."""
    return _security(kafka)


def faust_options(kafka: KafkaSettings) -> dict[str, Any]:
    """``faust.App``'s ``broker`` and, when secured, ``broker_credentials``."""
    import faust  # noqa: PLC0415 - the processors' dependency, not the SDK's

    options: dict[str, Any] = {"broker": [f"kafka://{server}" for server in kafka.servers]}
    security = _security(kafka)
    protocol, context = security["security_protocol"], security.get("ssl_context")
    if protocol.startswith("SASL_"):
        options["broker_credentials"] = faust.SASLCredentials(
            username=security["sasl_plain_username"],
            password=security["sasl_plain_password"],
            mechanism=security["sasl_mechanism"],
            ssl_context=context,  # given: SASL_SSL; none: SASL_PLAINTEXT
        )
    elif protocol == "SSL":
        options["broker_credentials"] = faust.SSLCredentials(context)
    return options


def check_login(kafka: KafkaSettings, timeout_s: float = 15.0) -> None:
    """Log in once to each bootstrap server in turn and raise ``KafkaLoginError`` when one
    refuses the credentials or fails TLS verification: the clients themselves would retry
    such a refusal until a timeout that names no cause. A server that does not answer is
    left to the clients' own retries; without SASL or TLS there is nothing to refuse."""
    if aiokafka_options(kafka)["security_protocol"] == "PLAINTEXT":
        return
    loop = asyncio.new_event_loop()  # not asyncio.run: it unsets the thread's loop (Faust's)
    try:
        loop.run_until_complete(asyncio.wait_for(_login(kafka), timeout_s))
    except TimeoutError:
        pass
    finally:
        loop.close()


async def _login(kafka: KafkaSettings) -> None:
    from aiokafka.conn import create_conn  # noqa: PLC0415 - the processors' dependency
    from aiokafka.errors import BrokerResponseError, KafkaError  # noqa: PLC0415

    security = aiokafka_options(kafka)
    who = security.get("sasl_plain_username")
    for server in kafka.servers:
        host, _, port = server.rpartition(":")
        try:
            conn = await create_conn(host, int(port), request_timeout_ms=10_000, **security)
        except ssl.SSLCertVerificationError as exc:
            raise KafkaLoginError(
                f"Kafka at {server}: its certificate did not verify ({exc.verify_message}); "
                "check kafka.client_options.ssl_cafile"
            ) from None
        except BrokerResponseError as exc:  # SASL_AUTHENTICATION_FAILED, mechanism refused
            raise KafkaLoginError(
                f"Kafka at {server} refused user {who!r} "
                f"({security.get('sasl_mechanism')} over {security['security_protocol']}): "
                f"{exc}"
            ) from None
        except (OSError, ValueError, KafkaError):  # unreachable: the clients retry
            continue
        conn.close()
        return
