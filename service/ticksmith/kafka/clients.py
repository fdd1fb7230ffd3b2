"""Every Kafka client ticksmith builds, from the settings, security included."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from ticksmith.kafka.redact import redact_kafka_logs
from ticksmith.kafka.settings import KafkaSecurity, KafkaSecurityError, KafkaSettings

# aiokafka's default, written down because dead letters are cut to fit it
PRODUCER_MAX_REQUEST_BYTES = 1024 * 1024


def client_kwargs(security: KafkaSecurity) -> dict[str, object]:
    """Keyword arguments for AIOKafkaConsumer, AIOKafkaProducer and AIOKafkaAdminClient.
    With SASL, aiokafka's logs are redacted first (once), at any log level."""
    kwargs: dict[str, object] = {"security_protocol": security.security_protocol}
    if security.sasl:
        redact_kafka_logs()
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


def common_kwargs(k: KafkaSettings) -> dict[str, Any]:
    """What every client gets: the bootstrap servers, the client id and the security."""
    return {
        "bootstrap_servers": k.bootstrap_servers,
        "client_id": k.client_id,
        **client_kwargs(k.security),
    }


def tick_producer(k: KafkaSettings) -> AIOKafkaProducer:
    """`ticksmith produce`'s producer: 20 ms of linger fills its batches."""
    return AIOKafkaProducer(**common_kwargs(k), acks="all", linger_ms=20, max_batch_size=256 * 1024)


def admin_client(k: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**common_kwargs(k))


@dataclass
class KafkaClients:
    producer: AIOKafkaProducer
    consumer: AIOKafkaConsumer
    admin: AIOKafkaAdminClient


def kafka_clients(k: KafkaSettings) -> KafkaClients:
    """The service's clients: the output producer, the group member, the admin."""
    common = common_kwargs(k)
    return KafkaClients(
        # 512 KiB batches: a closed second of 1,000 symbols is ~700 KiB of records, which
        # the default 16 KiB batches split into ~45 sends. No linger: output records
        # go as whole batches the Publisher built, which waiting would only delay.
        producer=AIOKafkaProducer(
            **common,
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            max_batch_size=512 * 1024,
            max_request_size=PRODUCER_MAX_REQUEST_BYTES,
        ),
        consumer=AIOKafkaConsumer(
            **common,
            group_id=k.group_id,
            enable_auto_commit=False,
            auto_offset_reset=k.auto_offset_reset,
            session_timeout_ms=k.session_timeout_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_min_bytes=k.fetch_min_bytes,
            fetch_max_wait_ms=k.fetch_max_wait_ms,
        ),
        admin=AIOKafkaAdminClient(**common),
    )
