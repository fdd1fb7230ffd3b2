"""kafka.security: validation with clear, secret-free messages, and the aiokafka arguments.

Bad sections are given to the real settings (`Settings`, with `KafkaSettings` in it)
through the environment and loaded by `load_settings`, so the messages are the ones
an operator sees; none of the shell's TICKSMITH_* variables take part.
"""

from __future__ import annotations

import json
import logging
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ticksmith import cli
from ticksmith.config import Settings, load_settings
from ticksmith.errors import ConfigError
from ticksmith.kafka.clients import client_kwargs
from ticksmith.kafka.redact import RedactSaslFrames
from ticksmith.kafka.settings import KafkaSecurity, KafkaSecurityError

pytestmark = pytest.mark.usefixtures("no_settings_env")
SECRET = "hunter2-Sup3r-Secret"


def problems(monkeypatch: pytest.MonkeyPatch, security: object) -> str:
    """What an operator is told of a bad `kafka.security` section in the environment."""
    monkeypatch.setenv("TICKSMITH_KAFKA__SECURITY", json.dumps(security))
    with pytest.raises(ConfigError) as exc:
        load_settings()
    return str(exc.value)


def validation_error(security: object) -> ValidationError:
    """The settings model's own error (what a traceback or a log line would show)."""
    with pytest.raises(ValidationError) as exc:
        Settings.model_validate({"kafka": {"security": security}})
    return exc.value


def sec(**fields: Any) -> KafkaSecurity:
    return KafkaSecurity.model_validate(fields)


SCRAM = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "ticksmith",
    "sasl_password": SECRET,
}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, and a client certificate signed by it with a password-protected key."""
    d = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "2", "-subj", "/CN=ticksmith-test-ca")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-passout", f"pass:{SECRET}", "-keyout", "client.key",
            "-out", "client.csr", "-subj", "/CN=ticksmith")  # fmt: skip
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "client.pem", "-days", "2")  # fmt: skip
    return {"ca": d / "ca.pem", "cert": d / "client.pem", "key": d / "client.key"}


def test_the_default_is_plaintext_and_adds_nothing_else() -> None:
    assert client_kwargs(KafkaSecurity()) == {"security_protocol": "PLAINTEXT"}


def test_sasl_settings_become_aiokafka_arguments() -> None:
    kwargs = client_kwargs(sec(**{**SCRAM, "security_protocol": "SASL_PLAINTEXT"}))
    assert kwargs == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ticksmith",
        "sasl_plain_password": SECRET,
    }


def test_settings_come_from_the_environment_with_double_underscores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = "TICKSMITH_KAFKA__SECURITY__"
    for name, value in {**SCRAM, "security_protocol": "SASL_PLAINTEXT"}.items():
        monkeypatch.setenv(prefix + name.upper(), value)
    security = load_settings().kafka.security
    assert security.sasl_mechanism == "SCRAM-SHA-512"
    assert client_kwargs(security)["sasl_plain_password"] == SECRET


def test_the_password_file_is_read_without_its_trailing_newline(tmp_path: Path) -> None:
    file = tmp_path / "password"
    file.write_text(SECRET + "\n")
    security = sec(**{**SCRAM, "sasl_password": None, "sasl_password_file": file})
    assert client_kwargs(security)["sasl_plain_password"] == SECRET


def test_an_empty_password_file_is_refused_when_a_client_is_built(tmp_path: Path) -> None:
    file = tmp_path / "password"
    file.write_text("\n")
    security = sec(**{**SCRAM, "sasl_password": None, "sasl_password_file": file})
    with pytest.raises(KafkaSecurityError, match=r"sasl_password_file: .* is empty"):
        client_kwargs(security)


@pytest.mark.parametrize(
    ("security", "expected"),
    [
        (
            {"security_protocol": "SASL_PLAINTEXT"},
            [
                "kafka.security.sasl_mechanism [env TICKSMITH_KAFKA__SECURITY__SASL_MECHANISM]:"
                " required when security_protocol is SASL_PLAINTEXT",
                "kafka.security.sasl_username [env TICKSMITH_KAFKA__SECURITY__SASL_USERNAME]:"
                " required when security_protocol is SASL_PLAINTEXT",
                "kafka.security.sasl_password [env TICKSMITH_KAFKA__SECURITY__SASL_PASSWORD]:"
                " required when security_protocol is SASL_PLAINTEXT: set sasl_password",
            ],
        ),
        (
            {**SCRAM, "sasl_password_file": "/etc/hostname"},
            [
                "kafka.security.sasl_password_file [env",
                "set sasl_password or sasl_password_file, not both",
            ],
        ),
        (
            {"sasl_username": "ticksmith", "sasl_password": SECRET},
            [
                "kafka.security.sasl_username [env",
                "only used with SASL_PLAINTEXT or SASL_SSL, but security_protocol is PLAINTEXT",
                "kafka.security.sasl_password [env",
            ],
        ),
        (
            {"security_protocol": "SASL_PLAINTEXT", "ssl_cafile": "/etc/hostname"},
            ["kafka.security.ssl_cafile [env", "only used with SSL or SASL_SSL"],
        ),
        (
            {"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"},
            ["kafka.security.ssl_cafile [env", "no such file: /nonexistent/ca.pem"],
        ),
        (
            {"security_protocol": "SSL", "ssl_keyfile": "/etc/hostname"},
            ["kafka.security.ssl_keyfile [env", "needs ssl_certfile"],
        ),
        (
            {"security_protocol": "SASL_SSLL"},
            ["kafka.security.security_protocol [env", "'SASL_SSL'", "(got 'SASL_SSLL')"],
        ),
        (
            {**SCRAM, "sasl_mechanism": "GSSAPI"},
            ["kafka.security.sasl_mechanism [env", "'SCRAM-SHA-512'", "(got 'GSSAPI')"],
        ),
    ],
)
def test_a_bad_section_is_explained_setting_by_setting(
    monkeypatch: pytest.MonkeyPatch, security: dict[str, Any], expected: list[str]
) -> None:
    message = problems(monkeypatch, security)
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    "security",
    [
        {"security_protocol": "SASL_SSL", "sasl_password": SECRET},  # cross-field rules
        {"sasl_password": SECRET},  # SASL setting with PLAINTEXT
        {**SCRAM, "sasl_pasword": SECRET},  # a misspelt name
        {**SCRAM, "ssl_keyfile_password": SECRET, "security_protocol": "SASL_PLAINTEXT"},
        {**SCRAM, "sasl_password": [SECRET]},  # wrong type
        {**SCRAM, "security_protocol": "nope"},  # another field wrong
    ],
)
def test_no_error_shows_a_secret(monkeypatch: pytest.MonkeyPatch, security: dict[str, Any]) -> None:
    error = validation_error(security)
    for text in (problems(monkeypatch, security), str(error), repr(error.errors())):
        assert SECRET not in text


def test_the_whole_section_given_as_a_string_is_not_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert SECRET not in problems(monkeypatch, SECRET)


def test_printing_the_settings_masks_the_secrets() -> None:
    security = sec(**{**SCRAM, "security_protocol": "SASL_PLAINTEXT"})
    for text in (repr(security), str(security), str(security.model_dump())):
        assert SECRET not in text
    assert security.model_dump_json().count("**********") == 1


def test_tls_verifies_the_broker_against_the_ca_and_checks_its_name(tls: dict[str, Path]) -> None:
    context = client_kwargs(sec(security_protocol="SSL", ssl_cafile=tls["ca"]))["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 1


def test_hostname_checking_can_be_turned_off_but_not_verification(tls: dict[str, Path]) -> None:
    security = sec(security_protocol="SSL", ssl_cafile=tls["ca"], ssl_check_hostname=False)
    context = client_kwargs(security)["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert not context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_a_client_certificate_with_an_encrypted_key_loads(tls: dict[str, Path]) -> None:
    security = sec(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="ticksmith",
        sasl_password="x",
        ssl_cafile=tls["ca"],
        ssl_certfile=tls["cert"],
        ssl_keyfile=tls["key"],
        ssl_keyfile_password=SECRET,
    )
    assert isinstance(client_kwargs(security)["ssl_context"], ssl.SSLContext)


def test_a_wrong_key_password_is_named_and_not_shown(tls: dict[str, Path]) -> None:
    wrong = "not-" + SECRET
    security = sec(
        security_protocol="SSL",
        ssl_cafile=tls["ca"],
        ssl_certfile=tls["cert"],
        ssl_keyfile=tls["key"],
        ssl_keyfile_password=wrong,
    )
    with pytest.raises(KafkaSecurityError, match="cannot load the TLS files") as exc:
        client_kwargs(security)
    assert wrong not in str(exc.value)


def test_sasl_frames_are_redacted_from_log_records() -> None:
    class Frame:
        API_KEY = 36

        def __repr__(self) -> str:
            return f"SaslAuthenticateRequest_v1(auth_bytes=b'\\x00u\\x00u\\x00{SECRET}')"

    record = logging.LogRecord("aiokafka.conn", logging.DEBUG, __file__, 1,
                               "Request to %s:%d %d: %s", ("h", 1, 2, Frame()), None)  # fmt: skip
    assert SECRET in record.getMessage()
    assert RedactSaslFrames().filter(record)
    assert SECRET not in record.getMessage()
    assert "<Frame redacted>" in record.getMessage()


def test_the_command_line_protects_aiokafka_logs_once_before_anything_else(
    tmp_path: Path,
) -> None:
    logger = logging.getLogger("aiokafka.conn")
    before = [f for f in logger.filters if isinstance(f, RedactSaslFrames)]
    for f in before:
        logger.removeFilter(f)
    try:
        missing = str(tmp_path / "missing.toml")
        for _ in range(2):  # even a start-up that fails on its settings installs it, once
            assert cli.main(["--config", missing, "topics"]) == 2
        assert sum(isinstance(f, RedactSaslFrames) for f in logger.filters) == 1
    finally:
        for added in logger.filters[:]:
            if isinstance(added, RedactSaslFrames):
                logger.removeFilter(added)
        for f in before:
            logger.addFilter(f)
