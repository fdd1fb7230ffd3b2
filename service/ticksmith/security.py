"""Kafka client security: the `kafka.security` settings and the aiokafka arguments they make.

Protocols PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL; SASL mechanisms PLAIN,
SCRAM-SHA-256 and SCRAM-SHA-512; TLS with a CA file, an optional client
certificate and key, and hostname checking. A password comes from the
environment (``TICKSMITH_KAFKA__SECURITY__SASL_PASSWORD``) or from a file
(``sasl_password_file``, e.g. a mounted Kubernetes Secret, read when a client is
built so a rotated Secret is picked up on restart).

Secrets never reach a log line or an error message: they are ``SecretStr``,
every validation error raised here carries no password in its input, and a
failed connection is explained (:func:`start_client`) from the broker's answer,
which names the user and the mechanism, never the password.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest
from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ticksmith.errors import TicksmithError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
SSL_PROTOCOLS = ("SSL", "SASL_SSL")
SASL_FIELDS = ("sasl_mechanism", "sasl_username", "sasl_password", "sasl_password_file")
SSL_FILES = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
MASK = "**********"
SASL_AUTHENTICATE_API_KEY = 36  # Kafka's SaslAuthenticate request and response


class RedactSaslFrames(logging.Filter):
    """aiokafka logs every request and response at DEBUG, SaslAuthenticate included,
    whose bytes hold a PLAIN password in the clear (a SCRAM proof otherwise): show
    the frame's type only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(map(_is_sasl_frame, record.args)):
            record.args = tuple(
                f"<{type(arg).__name__} redacted>" if _is_sasl_frame(arg) else arg
                for arg in record.args
            )
        return True


def _is_sasl_frame(arg: object) -> bool:
    return getattr(arg, "API_KEY", None) == SASL_AUTHENTICATE_API_KEY


def redact_kafka_logs() -> None:
    """Install :class:`RedactSaslFrames` on aiokafka's connection logger, once."""
    logger = logging.getLogger("aiokafka.conn")
    if not any(isinstance(f, RedactSaslFrames) for f in logger.filters):
        logger.addFilter(RedactSaslFrames())


# Whoever can configure credentials (config.py imports this module) is protected,
# whatever the log level, without a call to remember.
redact_kafka_logs()


class KafkaSecurityError(TicksmithError):
    """Kafka refused the client's credentials or TLS; the message names the setting."""


class KafkaSecurity(BaseModel):
    """How the Kafka clients connect: the `kafka.security` section of the settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_keyfile_password: SecretStr | None = None
    ssl_check_hostname: bool = True

    @property
    def sasl(self) -> bool:
        return self.security_protocol in SASL_PROTOCOLS

    @property
    def tls(self) -> bool:
        return self.security_protocol in SSL_PROTOCOLS

    @model_validator(mode="wrap")
    @classmethod
    def _checked(
        cls, data: Any, handler: ModelWrapValidatorHandler[KafkaSecurity]
    ) -> KafkaSecurity:
        """Field errors with any secret masked, then the cross-field rules.

        A model-level error would carry the whole section (password included) as
        its input, and the settings loader prints inputs; so every rule is
        reported on one field, with that field's (non-secret) value.
        """
        try:
            security = handler(data)
        except ValidationError as exc:
            raise _masked(exc) from None
        problems = [_error(field, message, security) for field, message in _problems(security)]
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return security


def client_kwargs(security: KafkaSecurity) -> dict[str, object]:
    """Keyword arguments for AIOKafkaConsumer, AIOKafkaProducer and AIOKafkaAdminClient."""
    kwargs: dict[str, object] = {"security_protocol": security.security_protocol}
    if security.sasl:
        kwargs["sasl_mechanism"] = security.sasl_mechanism
        kwargs["sasl_plain_username"] = security.sasl_username
        kwargs["sasl_plain_password"] = sasl_password(security)
    if security.tls:
        kwargs["ssl_context"] = ssl_context(security)
    return kwargs


def sasl_password(security: KafkaSecurity) -> str:
    """The SASL password, from the setting or read from `sasl_password_file`."""
    if security.sasl_password is not None:
        return security.sasl_password.get_secret_value()
    path = security.sasl_password_file
    if path is None:
        raise KafkaSecurityError("kafka.security: SASL needs sasl_password or sasl_password_file")
    try:
        password = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise KafkaSecurityError(
            f"kafka.security.sasl_password_file: cannot read {path}: {exc.__class__.__name__}"
        ) from None
    if not password:
        raise KafkaSecurityError(f"kafka.security.sasl_password_file: {path} is empty")
    return password


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext:
    """A client TLS context: the CA file (else the system's CAs), an optional client
    certificate, and hostname checking as configured (the chain is always verified)."""
    key_password = security.ssl_keyfile_password
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=security.ssl_cafile,
            certfile=security.ssl_certfile,
            keyfile=security.ssl_keyfile,
            password=key_password.get_secret_value() if key_password else None,
        )
    except ssl.SSLError as exc:
        raise KafkaSecurityError(
            f"kafka.security: cannot load the TLS files (ssl_cafile, ssl_certfile, ssl_keyfile,"
            f" ssl_keyfile_password): {exc.reason or exc}"
        ) from None
    context.check_hostname = security.ssl_check_hostname
    return context


class Startable(Protocol):
    async def start(self) -> None: ...


async def start_client(client: Startable, bootstrap_servers: str, security: KafkaSecurity) -> None:
    """`client.start()`; when it cannot reach the cluster, say why in operator terms.

    aiokafka logs the cause of a failed bootstrap and raises a bare "Unable to
    bootstrap"; one diagnostic connection per bootstrap server recovers the cause
    (refused credentials, unsupported mechanism, wrong protocol, TLS verification)
    and raises :class:`KafkaSecurityError` naming the setting to fix. The client is
    closed before either error leaves.
    """
    try:
        await client.start()
    except KafkaConnectionError:
        await _close(client)
        explained = await diagnose(bootstrap_servers, security)
        if explained is None:
            raise
        raise explained from None


async def diagnose(bootstrap_servers: str, security: KafkaSecurity) -> KafkaSecurityError | None:
    """Connect to each bootstrap server as the clients would; explain a security failure."""
    kwargs = client_kwargs(security)
    for host, port, _family in collect_hosts(bootstrap_servers):
        server = f"{host}:{port}"
        try:
            conn = await create_conn(host, port, request_timeout_ms=10_000, **kwargs)
        except Exception as exc:
            explained = _explain(exc, server, security)
            if explained is not None:
                return _scrubbed(explained, security)
            continue
        try:
            await conn.send(MetadataRequest([]))
        except KafkaConnectionError:
            return _closed_on_first_request(server, security)
        except (KafkaError, TimeoutError):
            pass
        finally:
            conn.close()
    return None


def _closed_on_first_request(server: str, security: KafkaSecurity) -> KafkaSecurityError:
    return KafkaSecurityError(
        f"kafka.security.security_protocol: {server} closed the connection on the first"
        f" request; the listener probably expects SASL or TLS ({security.security_protocol}"
        " given); check the broker's listener for this port"
    )


async def _close(client: object) -> None:
    close = getattr(client, "stop", None) or getattr(client, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


def _explain(exc: Exception, server: str, security: KafkaSecurity) -> KafkaSecurityError | None:
    who = f"user {security.sasl_username!r} with {security.sasl_mechanism}"
    if isinstance(exc, SaslAuthenticationFailed):
        return KafkaSecurityError(
            f"kafka.security: {server} refused {who} ({_broker_message(exc)}); check"
            " kafka.security.sasl_username and the password"
            " (TICKSMITH_KAFKA__SECURITY__SASL_PASSWORD or kafka.security.sasl_password_file)"
        )
    if isinstance(exc, UnsupportedSaslMechanismError):
        return KafkaSecurityError(
            f"kafka.security.sasl_mechanism: {server} does not offer"
            f" {security.sasl_mechanism} ({_broker_message(exc)})"
        )
    if isinstance(exc, KafkaConnectionError):  # connected, then closed on the first request
        return _closed_on_first_request(server, security)
    if isinstance(exc, IllegalSaslStateError):
        return KafkaSecurityError(
            f"kafka.security.security_protocol: {server} is not a SASL listener"
            f" ({security.security_protocol} given); check the broker's listener for this port"
        )
    if isinstance(exc, ssl.SSLError):
        detail = str(getattr(exc, "verify_message", None) or exc.reason or exc).rstrip(".")
        return KafkaSecurityError(
            f"kafka.security: TLS with {server} failed: {detail}; check"
            " kafka.security.ssl_cafile, ssl_check_hostname and security_protocol"
        )
    return None  # unreachable, or not a security problem: the caller's error stands


def _broker_message(exc: KafkaError) -> str:
    return str(exc.args[0]) if exc.args else exc.__class__.__name__


def _scrubbed(error: KafkaSecurityError, security: KafkaSecurity) -> KafkaSecurityError:
    """Belt and braces: no secret survives in a message, whatever a broker echoed."""
    text = str(error)
    for secret in _secrets(security):
        text = text.replace(secret, MASK)
    return KafkaSecurityError(text)


def _secrets(security: KafkaSecurity) -> Iterator[str]:
    for value in (security.sasl_password, security.ssl_keyfile_password):
        if value is not None and value.get_secret_value():
            yield value.get_secret_value()
    if security.sasl and security.sasl_password is None:
        with contextlib.suppress(KafkaSecurityError):
            yield sasl_password(security)


def _problems(s: KafkaSecurity) -> Iterator[tuple[str, str]]:
    protocol = f"security_protocol is {s.security_protocol}"
    if s.sasl:
        yield from _sasl_problems(s, protocol)
    else:
        for field in SASL_FIELDS:
            if getattr(s, field) is not None:
                yield field, f"only used with SASL_PLAINTEXT or SASL_SSL, but {protocol}"
    if not s.tls:
        for field in (*SSL_FILES, "ssl_keyfile_password"):
            if getattr(s, field) is not None:
                yield field, f"only used with SSL or SASL_SSL, but {protocol}"
    if s.ssl_keyfile is not None and s.ssl_certfile is None:
        yield "ssl_keyfile", "needs ssl_certfile (the client certificate that goes with the key)"
    for field in (*SSL_FILES, "sasl_password_file"):
        yield from _file_problems(field, getattr(s, field))


def _sasl_problems(s: KafkaSecurity, protocol: str) -> Iterator[tuple[str, str]]:
    if s.sasl_mechanism is None:
        yield "sasl_mechanism", f"required when {protocol}: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    if not s.sasl_username:
        yield "sasl_username", f"required when {protocol}"
    if s.sasl_password is None and s.sasl_password_file is None:
        yield (
            "sasl_password",
            f"required when {protocol}: set sasl_password (e.g. from the environment)"
            " or sasl_password_file (a file holding it, e.g. a mounted Kubernetes Secret)",
        )
    if s.sasl_password is not None and s.sasl_password_file is not None:
        yield "sasl_password_file", "set sasl_password or sasl_password_file, not both"


def _file_problems(field: str, path: Path | None) -> Iterator[tuple[str, str]]:
    if path is None:
        return
    if not path.is_file():
        yield field, f"no such file: {path}"
    elif not _readable(path):
        yield field, f"cannot read {path} (permissions?)"


def _readable(path: Path) -> bool:
    try:
        with path.open("rb"):
            return True
    except OSError:
        return False


def _error(field: str, message: str, security: KafkaSecurity) -> InitErrorDetails:
    value = getattr(security, field)
    return InitErrorDetails(
        type=PydanticCustomError("kafka_security", message),
        loc=(field,),
        input=MASK if isinstance(value, SecretStr) else value,
    )


def _masked(exc: ValidationError) -> ValidationError:
    """The same errors, with any input that may hold a secret replaced by a mask."""
    details = [
        InitErrorDetails(
            type=PydanticCustomError(err["type"], err["msg"]),
            loc=err["loc"],
            input=MASK if _may_be_secret(err) else err["input"],
        )
        for err in exc.errors()
    ]
    return ValidationError.from_exception_data(exc.title, details)


def _may_be_secret(err: Any) -> bool:
    name = str(err["loc"][-1]) if err["loc"] else ""
    return (
        not name  # the section itself was given a value
        or "password" in name
        or err["type"] == "extra_forbidden"  # a misspelt password setting
        or isinstance(err["input"], dict | list)
    )
