"""A client that cannot reach the cluster: why, in operator terms, naming the setting."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from typing import Protocol

from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from ticksmith.kafka.clients import client_kwargs, sasl_password
from ticksmith.kafka.settings import MASK, KafkaSecurity, KafkaSecurityError


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
