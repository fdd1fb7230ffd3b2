# syntax=docker/dockerfile:1
# ticksmith: `docker build -t ticksmith .`, then `docker run ticksmith` (see docs/operations.md).
#
# Stage 1 builds the ticksmith wheel and installs it, with its runtime dependencies
# only, into a virtual environment; stage 2 is the slim base plus that environment,
# the default configuration and an unprivileged user. Nothing from the build (pip's
# cache, build, setuptools, the sources) reaches the final image.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN pip install build==1.6.1
COPY pyproject.toml README.md ./
COPY service ./service
RUN python -m build --wheel --outdir /dist \
    && python -m venv /opt/ticksmith \
    && /opt/ticksmith/bin/pip install /dist/*.whl \
    && /opt/ticksmith/bin/pip uninstall --yes setuptools pip \
    && /opt/ticksmith/bin/ticksmith --version

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ticksmith" \
      org.opencontainers.image.description="Kafka ticks to bars and indicators, served from a memory-bounded weakref.proxy cache" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 ticksmith \
    && useradd --system --uid 10001 --gid ticksmith --no-create-home --shell /usr/sbin/nologin ticksmith
COPY --from=build /opt/ticksmith /opt/ticksmith
COPY config/ticksmith.toml /etc/ticksmith/ticksmith.toml
# Every setting can be overridden with TICKSMITH_<SECTION>__<NAME>, e.g.
# TICKSMITH_KAFKA__BOOTSTRAP_SERVERS=kafka:9092. The HTTP server listens on all
# interfaces here, so /metrics, /healthz and /readyz are reachable from outside.
ENV PATH=/opt/ticksmith/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TICKSMITH_CONFIG=/etc/ticksmith/ticksmith.toml \
    TICKSMITH_HTTP__HOST=0.0.0.0 \
    TICKSMITH_HTTP__PORT=9464
USER 10001:10001
WORKDIR /tmp
EXPOSE 9464
# /healthz answers while the process is up; readiness (/readyz) is the orchestrator's.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TICKSMITH_HTTP__PORT', '9464'), timeout=2)"]
# Exec form: ticksmith is PID 1 and receives SIGTERM itself (it finishes the batch
# in flight, commits, leaves the group and exits 0); `--workers N` forwards it.
STOPSIGNAL SIGTERM
ENTRYPOINT ["ticksmith"]
CMD ["run"]
