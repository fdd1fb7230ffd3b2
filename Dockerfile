# syntax=docker/dockerfile:1
# Build the wheel in one stage, install only it and its runtime dependencies in the next.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install --no-cache-dir build==1.2.2 && python -m build --wheel --outdir /dist

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home ticksmith
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
COPY config/ticksmith.toml /etc/ticksmith/ticksmith.toml
ENV TICKSMITH_CONFIG=/etc/ticksmith/ticksmith.toml \
    TICKSMITH_HTTP__HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
USER 10001
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["python", "-c", "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=2)"]
ENTRYPOINT ["ticksmith"]
CMD ["run"]
