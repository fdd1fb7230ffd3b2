"""Secrets stay out of aiokafka's logs, whatever the log level: install
:func:`redact_kafka_logs` before the first client connects (the command line does, and
``clients.client_kwargs`` for SASL)."""

from __future__ import annotations

import logging

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
