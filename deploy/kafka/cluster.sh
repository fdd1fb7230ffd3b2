#!/usr/bin/env bash
# A real 3-node Apache Kafka cluster (KRaft, every node broker and controller) on
# loopback, for fault tests: replication 3, min.insync.replicas 2. Each node is one
# deploy/kafka/broker.sh broker with its own node id, ports and directory.
#
#   deploy/kafka/cluster.sh start              start every node, wait until all are ready
#   deploy/kafka/cluster.sh stop               stop every node (SIGTERM)
#   deploy/kafka/cluster.sh status             exit 0 when every node is ready
#   deploy/kafka/cluster.sh kill <node-id>     SIGKILL one node by its pid
#   deploy/kafka/cluster.sh start-node <id>    start one node again and wait for it
#   deploy/kafka/cluster.sh pids               "<node-id> <pid>" of every running node
#   deploy/kafka/cluster.sh bootstrap          the clients' bootstrap servers
#
# Settings (environment): KAFKA_CLUSTER_PORT (9700): node i serves clients on
# KAFKA_CLUSTER_PORT+i and its controller on KAFKA_CLUSTER_PORT+10+i;
# KAFKA_CLUSTER_DIR (.run/cluster-$KAFKA_CLUSTER_PORT, node i in node-i/);
# KAFKA_HEAP (400m per node); KAFKA_START_TIMEOUT_S (90); KAFKA_LIBS as broker.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
libs=${KAFKA_LIBS:-${XDG_CACHE_HOME:-$HOME/.cache}/ticksmith/kafka-$version}
base=${KAFKA_CLUSTER_PORT:-9700}
dir=${KAFKA_CLUSTER_DIR:-$root/.run/cluster-$base}
timeout_s=${KAFKA_START_TIMEOUT_S:-90}
nodes=(1 2 3)

say() { printf 'kafka cluster: %s\n' "$*" >&2; }

voters() {
  local i out=()
  for i in "${nodes[@]}"; do out+=("$i@localhost:$((base + 10 + i))"); done
  (IFS=,; echo "${out[*]}")
}

bootstrap() {
  local i out=()
  for i in "${nodes[@]}"; do out+=("localhost:$((base + i))"); done
  (IFS=,; echo "${out[*]}")
}

# Every node is formatted with the same cluster id, kept beside the nodes so a
# restarted node (its storage already formatted) joins the same cluster.
# Base64url of 16 random bytes, as Kafka's own, and like Kafka's never starting with
# '-': kafka-storage would read it as an option (1 id in 64 failed to format).
cluster_id() {
  mkdir -p "$dir"
  while [ ! -s "$dir/cluster-id" ] || [ "$(head -c 1 "$dir/cluster-id")" = "-" ]; do
    head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' >"$dir/cluster-id"
  done
  cat "$dir/cluster-id"
}

# broker.sh <command> for node $1, with that node's settings.
node() {
  local id=$1 command=$2
  KAFKA_NODE_ID=$id KAFKA_PORT=$((base + id)) KAFKA_CONTROLLER_PORT=$((base + 10 + id)) \
    KAFKA_DIR="$dir/node-$id" KAFKA_VOTERS=$(voters) KAFKA_CLUSTER_ID=$(cluster_id) \
    KAFKA_REPLICATION=3 KAFKA_MIN_ISR=2 KAFKA_HEAP=${KAFKA_HEAP:-400m} \
    KAFKA_START_TIMEOUT_S=$timeout_s KAFKA_LIBS=$libs "$here/broker.sh" "$command"
}

check_node_id() {
  case "${1:-}" in 1 | 2 | 3) ;; *) say "node id must be one of ${nodes[*]}, not '${1:-}'"; exit 2 ;; esac
}

# A node logs "Kafka Server started" once the controllers unfenced it; the client's
# metadata then has to list every node, as the tests' clients will see it.
clients_see_all() {
  java -Dkafka.logs.dir="$dir" -Dlog4j2.configurationFile="$here/log4j2.properties" \
    -cp "$libs/*" "$here/Ready.java" "$(bootstrap)" "${#nodes[@]}" "$timeout_s"
}

start() {
  local t0 i
  t0=$(date +%s%3N)
  "$here/broker.sh" fetch
  # Launched together: no node is ready before a majority of the controllers runs.
  for i in "${nodes[@]}"; do node "$i" launch; done
  for i in "${nodes[@]}"; do node "$i" wait || { stop; exit 1; }; done
  clients_see_all || { stop; exit 1; }
  say "ready on $(bootstrap) in $(($(date +%s%3N) - t0)) ms (logs in $dir/node-*/server.log)"
}

stop() {
  local i
  for i in "${nodes[@]}"; do node "$i" stop & done
  wait
}

status() {
  local i
  for i in "${nodes[@]}"; do node "$i" status || return 1; done
}

pids() {
  local i pid
  for i in "${nodes[@]}"; do
    if pid=$(node "$i" pid); then echo "$i $pid"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  kill) check_node_id "${2:-}" && node "$2" kill ;;
  start-node) check_node_id "${2:-}" && node "$2" launch && node "$2" wait ;;
  pids) pids ;;
  bootstrap) bootstrap ;;
  *) echo "usage: $0 start|stop|status|kill <node-id>|start-node <node-id>|pids|bootstrap" >&2; exit 2 ;;
esac
