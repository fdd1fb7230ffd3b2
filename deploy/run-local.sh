#!/usr/bin/env bash
# `make run`: a local broker, the topics, the service and the synthetic market
# together. Stops everything on Ctrl-C, or after DURATION seconds if given.
#
#   deploy/run-local.sh [DURATION]
# Environment: KAFKA_PORT (9092), SYMBOLS (500), RATE (20000 ticks/s),
# TICKSMITH_HTTP__PORT (9464). `ticksmith` must be on PATH (make run sees to it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
duration=${1:-}
export KAFKA_PORT=${KAFKA_PORT:-9092}
# A demo starts from an empty broker: no old topics to replay, no old group offsets.
export KAFKA_DIR=${KAFKA_DIR:-$(cd "$here/.." && pwd)/.run/run-local-$KAFKA_PORT}
export TICKSMITH_KAFKA__BOOTSTRAP_SERVERS=localhost:$KAFKA_PORT
http_port=${TICKSMITH_HTTP__PORT:-9464}
export TICKSMITH_HTTP__PORT=$http_port
pids=()

cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$here/kafka/broker.sh" stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/kafka/broker.sh" stop
rm -rf "$KAFKA_DIR"
"$here/kafka/broker.sh" start
ticksmith topics
ticksmith run --summary &
pids+=($!)
ticksmith produce --symbols "${SYMBOLS:-500}" --rate "${RATE:-20000}" --quiet &
pids+=($!)
# A reader, so the proxy cache has work: a few symbols' indicators every second.
(while sleep 1; do
  for i in 0 1 2 3 4 5 6 7 8 9; do
    curl -sf -o /dev/null "http://127.0.0.1:$http_port/v1/symbols/SYM000$i/indicators?limit=50" || true
  done
done) &
pids+=($!)
echo "ticksmith: metrics at http://127.0.0.1:$http_port/metrics," \
  "indicators at http://127.0.0.1:$http_port/v1/symbols/SYM0000/indicators" >&2
echo "ticksmith: ${duration:+stopping after ${duration}s; }Ctrl-C stops everything" >&2
if [ -n "$duration" ]; then
  sleep "$duration" &
  wait $! || true
else
  wait -n "${pids[@]}" || true
fi
