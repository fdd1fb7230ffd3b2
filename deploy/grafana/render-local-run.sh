#!/usr/bin/env bash
# Renders the dashboard's panels (deploy/grafana/dashboards/ticksmith.json) over a
# real local run to a PNG: a local broker, the topics, the service, the synthetic
# market, a reader of a few symbols' indicators, and a Prometheus scraping the
# service every second. Everything it started is stopped on exit, Ctrl-C included.
#
#   deploy/grafana/render-local-run.sh [OUT]        # OUT: docs/dashboard.png
#
# Environment: DURATION (120 s of traffic), RATE (5000 ticks/s), SYMBOLS (500),
# KAFKA_PORT (19692), HTTP_PORT (19464), PROMETHEUS_PORT (19090), PYTHON (.venv's).
# Needs `make install` (with the viz extra) and Prometheus (deploy/prometheus/install.sh).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-$root/docs/dashboard.png}
duration=${DURATION:-120}
export KAFKA_PORT=${KAFKA_PORT:-19692}
http_port=${HTTP_PORT:-19464}
prometheus_port=${PROMETHEUS_PORT:-19090}
python=${PYTHON:-$root/.venv/bin/python}
export TICKSMITH_KAFKA__BOOTSTRAP_SERVERS=localhost:$KAFKA_PORT
export TICKSMITH_HTTP__PORT=$http_port
# A small cache budget, so the cache evicts and its panels have something to show.
export TICKSMITH_CACHE__BUDGET_BYTES=${TICKSMITH_CACHE__BUDGET_BYTES:-65536}
topic=${TICKSMITH_KAFKA__TICKS_TOPIC:-ticks}
work=$(mktemp -d)
pids=()

say() { echo "render-local-run: $*" >&2; }

# Wait up to 30 s for a process sent SIGTERM to exit, then kill it.
stop() {
  local tries=150
  while kill -0 "$1" 2>/dev/null && [ "$tries" -gt 0 ]; do
    sleep 0.2
    tries=$((tries - 1))
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do stop "$pid"; done
  "$root/deploy/kafka/broker.sh" stop || true
  if [ "$status" -ne 0 ]; then
    say "failed; the last lines of the logs in $work:"
    tail -n 20 "$work"/*.log >&2 || true
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wait until `curl` gets a 2xx from $1, for at most $2 seconds.
wait_http() {
  local deadline=$((SECONDS + $2))
  until curl -sf -o /dev/null "$1"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "no answer from $1 after $2 s"
      return 1
    fi
    sleep 0.2
  done
}

ticksmith() { exec "$python" -m ticksmith "$@"; }  # in a subshell: `(ticksmith ...)`

command -v prometheus >/dev/null || {
  say "prometheus is not installed: run deploy/prometheus/install.sh"
  exit 1
}
"$python" -c 'import matplotlib' 2>/dev/null || {
  say "matplotlib is missing: pip install -e '.[viz]'"
  exit 1
}

"$root/deploy/kafka/broker.sh" start
(ticksmith topics)
(ticksmith run) >"$work/service.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$http_port/healthz" 60

cat >"$work/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: ["$root/deploy/prometheus/rules/*.yml"]
scrape_configs:
  - job_name: ticksmith
    static_configs: [{targets: ["127.0.0.1:$http_port"]}]
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prometheus_port" --log.level=warn \
  >"$work/prometheus.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$prometheus_port/-/ready" 60

(ticksmith produce --symbols "${SYMBOLS:-500}" --rate "${RATE:-5000}" --quiet) \
  >"$work/produce.log" 2>&1 &
pids+=($!)
# A reader, so the proxy cache has work: ten symbols' indicators every second.
(while sleep 1; do
  for i in 0 1 2 3 4 5 6 7 8 9; do
    curl -sf -o /dev/null "http://127.0.0.1:$http_port/v1/symbols/SYM000$i/indicators?limit=50" || true
  done
done) &
pids+=($!)

# A trickle of bad records (4/s, four reasons), so the dead-letter panels have data.
"$python" - "$TICKSMITH_KAFKA__BOOTSTRAP_SERVERS" "$topic" >"$work/bad.log" 2>&1 <<'PY' &
import asyncio, sys, time
from aiokafka import AIOKafkaProducer

def tick(symbol, price=10.0, side="B"):
    return (f'{{"symbol":"{symbol}","ts":{time.time_ns()},"price":{price},'
            f'"size":1.0,"side":"{side}"}}').encode()

async def main(bootstrap, topic):
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        while True:
            for key, value in [(b"SYM0001", b"{not json"), (b"SYM0001", tick("SYM0001", -1.0)),
                               (b"SYM0001", tick("SYM0001", side="X")), (b"SYM0002", tick("SYM0001"))]:
                await producer.send_and_wait(topic, value, key=key)
            await asyncio.sleep(1)
    finally:
        await producer.stop()

asyncio.run(main(*sys.argv[1:]))
PY
pids+=($!)

say "traffic for ${duration}s (metrics http://127.0.0.1:$http_port/metrics," \
  "Prometheus http://127.0.0.1:$prometheus_port)"
sleep "$duration" &
pids+=($!)
wait $!
minutes=$(awk -v s="$duration" 'BEGIN { printf "%.2f", s / 60 }')
"$python" "$root/deploy/grafana/render.py" --prometheus "http://127.0.0.1:$prometheus_port" \
  --minutes "$minutes" --dashboard "$root/deploy/grafana/dashboards/ticksmith.json" --out "$out"
