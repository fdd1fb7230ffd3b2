"""Kafka security against a real broker with SASL listeners (PLAIN, SCRAM-SHA-256/512).

The broker is the project's own (deploy/kafka/broker.sh with KAFKA_SASL_PORT and
KAFKA_SSL_PORT), a second instance on ports 19592 (PLAINTEXT), 19593 (controller),
19594 (SASL_PLAINTEXT) and 19595 (SASL_SSL, with a certificate for `localhost`
signed by a CA made here with openssl), apart from the shared test broker on 19092.
This module starts it on fresh storage (the SCRAM user is written at format time)
and stops it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

from tests.conftest import without_settings
from tests.integration.conftest import BROKER, ROOT, run_until_consumed, wait_for
from ticksmith.kafka.clients import client_kwargs
from ticksmith.kafka.diagnose import start_client
from ticksmith.kafka.redact import RedactSaslFrames
from ticksmith.kafka.settings import KafkaSecurity, KafkaSecurityError
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import encode_chunk, send_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(150)]

PORT, SASL_PORT, SSL_PORT = 19592, 19594, 19595
USER, PASSWORD = "ticksmith", "s3cret-Passw0rd-for-tests"
WRONG = "wr0ng-Passw0rd-never-shown"
SASL_DIR = ROOT / ".run" / f"kafka-sasl-{PORT}"
TLS_DIR = ROOT / ".run" / f"kafka-sasl-{PORT}-tls"
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def _broker(command: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKA_PORT": str(PORT),
        "KAFKA_SASL_PORT": str(SASL_PORT),
        "KAFKA_SSL_PORT": str(SSL_PORT),
        "KAFKA_SSL_KEYSTORE": str(TLS_DIR / "keystore.pem"),
        "KAFKA_DIR": str(SASL_DIR),
        "KAFKA_SASL_USER": USER,
        "KAFKA_SASL_PASSWORD": PASSWORD,
    }
    return subprocess.run([str(BROKER), command], env=env, text=True, capture_output=True)


def make_tls(d: Path) -> None:
    """A CA, and the broker's key and certificate for `localhost` signed by it."""
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    (d / "san").write_text("subjectAltName=DNS:localhost\n")
    for args in (
        "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca",
        "req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj /CN=localhost",
        "x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out broker.pem"
        " -days 2 -extfile san",
    ):
        subprocess.run(["openssl", *args.split()], cwd=d, check=True, capture_output=True)
    parts = ("broker.key", "broker.pem", "ca.pem")
    (d / "keystore.pem").write_text("".join((d / p).read_text() for p in parts))


@pytest.fixture(scope="module")
def sasl_bootstrap() -> Iterator[str]:
    """The SASL_PLAINTEXT listener of a broker started here on fresh storage."""
    _broker("stop")
    shutil.rmtree(SASL_DIR, ignore_errors=True)
    make_tls(TLS_DIR)
    started = _broker("start")
    assert started.returncode == 0, f"SASL broker did not start:\n{started.stderr}"
    yield f"localhost:{SASL_PORT}"
    _broker("stop")


def sasl(mechanism: str = "SCRAM-SHA-256", password: str = PASSWORD) -> KafkaSecurity:
    return KafkaSecurity.model_validate(
        {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": mechanism,
            "sasl_username": USER,
            "sasl_password": password,
        }
    )


@pytest.fixture(scope="module")
async def sasl_admin(sasl_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=sasl_bootstrap, **client_kwargs(sasl()))
    await admin.start()
    yield admin
    await admin.close()


async def new_topic(admin: AIOKafkaAdminClient, prefix: str, partitions: int = 1) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    await admin.create_topics([NewTopic(name, partitions, replication_factor=1)])

    async def has_leaders() -> bool:
        described = await admin.describe_topics([name])
        parts = described[0].get("partitions", []) if described else []
        return len(parts) == partitions and all(p.get("leader", -1) >= 0 for p in parts)

    await wait_for(has_leaders, f"topic {name}")
    return name


async def round_trip(bootstrap: str, security: KafkaSecurity, topic: str) -> bytes:
    """Produce one record and read it back, both clients authenticated by `security`."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **client_kwargs(security))
    await start_client(producer, bootstrap, security)
    try:
        await producer.send_and_wait(topic, b"tick", key=b"AAPL")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        **client_kwargs(security),
    )
    await start_client(consumer, bootstrap, security)
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    value: bytes = record.value
    return value


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_each_mechanism_authenticates_and_round_trips_a_record(
    mechanism: str, sasl_bootstrap: str, sasl_admin: AIOKafkaAdminClient
) -> None:
    topic = await new_topic(sasl_admin, f"sasl-{mechanism.lower()}")
    assert await round_trip(sasl_bootstrap, sasl(mechanism), topic) == b"tick"


async def test_the_password_can_come_from_a_mounted_secret_file(
    tmp_path: Path, sasl_bootstrap: str, sasl_admin: AIOKafkaAdminClient
) -> None:
    secret = tmp_path / "sasl-password"
    secret.write_text(PASSWORD + "\n")  # as `kubectl create secret --from-file` often has it
    security = KafkaSecurity(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=USER,
        sasl_password_file=secret,
    )
    topic = await new_topic(sasl_admin, "sasl-file")
    assert await round_trip(sasl_bootstrap, security, topic) == b"tick"


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_a_wrong_password_is_refused_and_shown_nowhere(
    mechanism: str, sasl_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = sasl(mechanism, WRONG)
    producer = AIOKafkaProducer(bootstrap_servers=sasl_bootstrap, **client_kwargs(bad))
    with pytest.raises(KafkaConnectionError) as raw:
        await producer.start()  # aiokafka alone: a bare bootstrap failure, cause only logged
    await producer.stop()
    assert "SaslAuthenticationFailed" in caplog.text
    consumer = AIOKafkaConsumer(bootstrap_servers=sasl_bootstrap, **client_kwargs(bad))
    with pytest.raises(KafkaSecurityError) as explained:
        await start_client(consumer, sasl_bootstrap, bad)
    message = str(explained.value)
    assert f"refused user '{USER}' with {mechanism}" in message
    assert "TICKSMITH_KAFKA__SECURITY__SASL_PASSWORD" in message
    for text in (message, str(raw.value), caplog.text, repr(bad), str(bad.model_dump())):
        assert WRONG not in text


async def test_plain_credentials_are_redacted_from_aiokafka_debug_logs(
    sasl_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    """aiokafka logs the SaslAuthenticate frame, PLAIN password in it, at DEBUG: the
    filter that building a SASL client's arguments installs must hide it (and without
    it, it shows)."""
    caplog.set_level(logging.DEBUG)
    security = sasl("PLAIN")

    async def connect(kwargs: dict[str, object]) -> str:
        caplog.clear()
        producer = AIOKafkaProducer(bootstrap_servers=sasl_bootstrap, **kwargs)
        await start_client(producer, sasl_bootstrap, security)
        await producer.stop()
        return caplog.text

    kwargs = client_kwargs(security)
    logged = await connect(kwargs)
    assert "SaslAuthenticateRequest" in logged and "redacted" in logged
    assert PASSWORD not in logged
    conn_logger = logging.getLogger("aiokafka.conn")
    filters = [f for f in conn_logger.filters if isinstance(f, RedactSaslFrames)]
    for f in filters:
        conn_logger.removeFilter(f)
    try:
        assert PASSWORD in await connect(kwargs), "the unfiltered log should show what is redacted"
    finally:
        for f in filters:
            conn_logger.addFilter(f)


async def test_a_plaintext_client_on_the_sasl_listener_is_told_the_protocol(
    sasl_bootstrap: str,
) -> None:
    security = KafkaSecurity()
    consumer = AIOKafkaConsumer(bootstrap_servers=sasl_bootstrap, **client_kwargs(security))
    with pytest.raises(KafkaSecurityError, match=r"security_protocol: .*expects SASL or TLS"):
        await start_client(consumer, sasl_bootstrap, security)


async def test_a_sasl_client_on_the_plaintext_listener_is_told_the_protocol(
    sasl_bootstrap: str,
) -> None:
    plaintext = f"localhost:{PORT}"
    security = sasl()
    producer = AIOKafkaProducer(bootstrap_servers=plaintext, **client_kwargs(security))
    with pytest.raises(KafkaSecurityError, match=r"security_protocol: .*not a SASL listener"):
        await start_client(producer, plaintext, security)


def sasl_ssl(**tls: Any) -> KafkaSecurity:
    return KafkaSecurity.model_validate(
        {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": USER,
            "sasl_password": PASSWORD,
            **tls,
        }
    )


async def test_sasl_ssl_verifies_the_broker_against_the_ca_and_round_trips(
    sasl_bootstrap: str, sasl_admin: AIOKafkaAdminClient
) -> None:
    topic = await new_topic(sasl_admin, "sasl-ssl")
    security = sasl_ssl(ssl_cafile=TLS_DIR / "ca.pem")
    assert await round_trip(f"localhost:{SSL_PORT}", security, topic) == b"tick"


async def test_a_certificate_for_another_name_is_refused_unless_hostname_checks_are_off(
    sasl_bootstrap: str, sasl_admin: AIOKafkaAdminClient
) -> None:
    by_address = f"127.0.0.1:{SSL_PORT}"  # the certificate names localhost only
    security = sasl_ssl(ssl_cafile=TLS_DIR / "ca.pem")
    admin = AIOKafkaAdminClient(bootstrap_servers=by_address, **client_kwargs(security))
    with pytest.raises(
        KafkaSecurityError, match=r"TLS with 127\.0\.0\.1:\d+ failed: IP address mismatch"
    ) as exc:
        await start_client(admin, by_address, security)
    assert "ssl_check_hostname" in str(exc.value)
    topic = await new_topic(sasl_admin, "no-hostname-check")
    unchecked = sasl_ssl(ssl_cafile=TLS_DIR / "ca.pem", ssl_check_hostname=False)
    assert await round_trip(by_address, unchecked, topic) == b"tick"


async def test_a_broker_signed_by_an_unknown_ca_is_refused(sasl_bootstrap: str) -> None:
    server = f"localhost:{SSL_PORT}"
    security = sasl_ssl()  # the system's CAs: none of them signed the test CA
    producer = AIOKafkaProducer(bootstrap_servers=server, **client_kwargs(security))
    with pytest.raises(KafkaSecurityError, match=r"self-signed certificate in certificate chain"):
        await start_client(producer, server, security)


async def test_a_plain_client_on_the_tls_listener_is_told_the_protocol(
    sasl_bootstrap: str,
) -> None:
    server = f"localhost:{SSL_PORT}"
    security = sasl("SCRAM-SHA-512")  # SASL_PLAINTEXT against SASL_SSL
    producer = AIOKafkaProducer(bootstrap_servers=server, **client_kwargs(security))
    with pytest.raises(KafkaSecurityError, match=r"security_protocol: .*expects SASL or TLS"):
        await start_client(producer, server, security)


# The service itself, as an operator configures it: environment variables only.
# These cross config.py and app.py (the `kafka.security` setting and the clients).


def service_env(bootstrap: str, topics: dict[str, str], **security: str) -> dict[str, str]:
    env = without_settings()
    env |= {
        "TICKSMITH_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "TICKSMITH_HTTP__PORT": "0",
        "TICKSMITH_LOG_LEVEL": "DEBUG",
        **{f"TICKSMITH_KAFKA__{k.upper()}": v for k, v in topics.items()},
        **{f"TICKSMITH_KAFKA__SECURITY__{k.upper()}": v for k, v in security.items()},
    }
    return env


async def service_topics(admin: AIOKafkaAdminClient) -> dict[str, str]:
    ticks = await new_topic(admin, "sec-ticks", 2)
    return {
        "ticks_topic": ticks,
        "dead_letter_topic": await new_topic(admin, "sec-dlq"),
        "output_topic": await new_topic(admin, "sec-out", 2),
        "group_id": f"g-{ticks}",
    }


async def test_the_service_with_a_wrong_password_stops_naming_the_problem(
    sasl_bootstrap: str, sasl_admin: AIOKafkaAdminClient
) -> None:
    env = service_env(
        sasl_bootstrap,
        await service_topics(sasl_admin),
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=USER,
        sasl_password=WRONG,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ticksmith", "run", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
    stderr = err.decode()
    assert proc.returncode == 1, stderr[-3000:]
    assert f"ticksmith: kafka.security: {sasl_bootstrap} refused user '{USER}'" in stderr
    assert "Traceback" not in stderr
    assert WRONG not in stderr


async def test_the_service_authenticates_with_a_password_file_and_stops_cleanly(
    tmp_path: Path, sasl_bootstrap: str, sasl_admin: AIOKafkaAdminClient, unused_tcp_port: int
) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    topics = await service_topics(sasl_admin)
    env = service_env(
        sasl_bootstrap,
        topics,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username=USER,
        sasl_password_file=str(secret),
    )
    env["TICKSMITH_HTTP__PORT"] = str(unused_tcp_port)
    ticks = Market(symbol_names(5), seed=7).chunk(1_000)
    producer = AIOKafkaProducer(bootstrap_servers=sasl_bootstrap, **client_kwargs(sasl()))
    await start_client(producer, sasl_bootstrap, sasl())
    try:
        await send_all(producer, topics["ticks_topic"], encode_chunk(ticks))
    finally:
        await producer.stop()
    code, stderr = await run_until_consumed(
        [sys.executable, "-m", "ticksmith", "run"], env, unused_tcp_port, len(ticks)
    )
    assert code == 0, stderr[-3000:]
    assert f"Authenticated as {USER} via SCRAM-SHA-256" in stderr
    assert PASSWORD not in stderr
