"""The `kafka` settings: topics, group, fetch, and `kafka.security`, how the clients connect.

Protocols PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL; SASL mechanisms PLAIN,
SCRAM-SHA-256 and SCRAM-SHA-512; TLS with a CA file, an optional client
certificate and key, and hostname checking. A password comes from the
environment (``TICKSMITH_KAFKA__SECURITY__SASL_PASSWORD``) or from a file
(``sasl_password_file``, e.g. a mounted Kubernetes Secret, read when a client is
built so a rotated Secret is picked up on restart).

Secrets never reach a log line or an error message: they are ``SecretStr``,
every validation error raised here carries no password in its input, and a
failed connection is explained (diagnose.py) from the broker's answer, which
names the user and the mechanism, never the password.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ticksmith.errors import TicksmithError

Positive = Annotated[int, Field(gt=0)]
NonNegative = Annotated[int, Field(ge=0)]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
SSL_PROTOCOLS = ("SSL", "SASL_SSL")
SASL_FIELDS = ("sasl_mechanism", "sasl_username", "sasl_password", "sasl_password_file")
SSL_FILES = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
MASK = "**********"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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


class KafkaSettings(_Section):
    bootstrap_servers: str = "localhost:9092"
    ticks_topic: str = Field("ticks", min_length=1)
    dead_letter_topic: str = Field("ticks.dlq", min_length=1)
    group_id: str = Field("ticksmith", min_length=1)
    client_id: str = "ticksmith"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    fetch_max_records: Positive = 20_000
    fetch_timeout_ms: Positive = 200
    # a fetch returns once this much is there, or after fetch_max_wait_ms: fewer,
    # fuller fetches (each partition emptied by getmany() was fetched again at once)
    fetch_min_bytes: Positive = 1_048_576
    fetch_max_wait_ms: Positive = 3
    commit_interval_ms: NonNegative = 100  # 0: commit after every batch
    session_timeout_ms: Positive = 10_000
    output_topic: str = Field("indicators", min_length=1)
    topic_partitions: Positive = 4
    topic_replication_factor: Positive = 1
    security: KafkaSecurity = KafkaSecurity()
