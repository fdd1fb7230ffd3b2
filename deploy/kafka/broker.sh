#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft) for the local run and the tests,
# assembled from Apache Kafka's own jars on Maven Central and started with the JDK.
#
#   deploy/kafka/broker.sh fetch    download the jar set (cached in $KAFKA_LIBS)
#   deploy/kafka/broker.sh start    fetch, format storage, start, wait until ready
#   deploy/kafka/broker.sh stop     stop the broker started here, by its pid
#   deploy/kafka/broker.sh status   exit 0 when the broker answers
#   deploy/kafka/broker.sh launch   start without waiting (cluster.sh starts nodes together)
#   deploy/kafka/broker.sh wait     wait until the broker started here is ready
#   deploy/kafka/broker.sh kill     SIGKILL the broker by its pid (a crash, for fault tests)
#   deploy/kafka/broker.sh pid      print the broker's pid
#
# Settings (environment): KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1),
# KAFKA_DIR (.run/kafka-$KAFKA_PORT: data, log, pid), KAFKA_HEAP (512m),
# KAFKA_START_TIMEOUT_S (90), KAFKA_LIBS (~/.cache/ticksmith/kafka-<version>).
# One node of a cluster (deploy/kafka/cluster.sh sets these): KAFKA_NODE_ID (1),
# KAFKA_VOTERS (id@host:port,... of every controller; unset: a standalone quorum of
# this node), KAFKA_CLUSTER_ID (shared by the nodes; unset: a random one),
# KAFKA_REPLICATION (1: default and internal topics' replication factor),
# KAFKA_MIN_ISR (1).
# Opt-in SASL: KAFKA_SASL_PORT adds a SASL_PLAINTEXT://localhost:$KAFKA_SASL_PORT
# listener, KAFKA_SSL_PORT a SASL_SSL://localhost:$KAFKA_SSL_PORT listener whose
# certificate is KAFKA_SSL_KEYSTORE (a PEM file: unencrypted PKCS#8 key, then the
# certificate chain). Both offer PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 to the user
# KAFKA_SASL_USER (ticksmith) with KAFKA_SASL_PASSWORD (ticksmith-secret); the SCRAM
# credentials are written when the storage is formatted. The PLAINTEXT client
# listener and the broker's own controller and inter-broker listeners stay as they are.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
dir=${KAFKA_DIR:-$root/.run/kafka-$port}
libs=${KAFKA_LIBS:-${XDG_CACHE_HOME:-$HOME/.cache}/ticksmith/kafka-$version}
heap=${KAFKA_HEAP:-512m}
timeout_s=${KAFKA_START_TIMEOUT_S:-90}
sasl_port=${KAFKA_SASL_PORT:-}
ssl_port=${KAFKA_SSL_PORT:-}
ssl_keystore=${KAFKA_SSL_KEYSTORE:-}
sasl_user=${KAFKA_SASL_USER:-ticksmith}
sasl_password=${KAFKA_SASL_PASSWORD:-ticksmith-secret}
node_id=${KAFKA_NODE_ID:-1}
voters=${KAFKA_VOTERS:-}
cluster_id=${KAFKA_CLUSTER_ID:-}
replication=${KAFKA_REPLICATION:-1}
min_isr=${KAFKA_MIN_ISR:-1}
pidfile=$dir/broker.pid
log=$dir/server.log

say() { printf 'kafka: %s\n' "$*" >&2; }

sasl_on() { [ -n "$sasl_port$ssl_port" ]; }

fetch() {
  if [ -f "$libs/.complete" ]; then return; fi
  command -v mvn >/dev/null || { say "mvn not found: install Maven (apt-get install maven)"; exit 1; }
  say "fetching Apache Kafka $version jars from Maven Central into $libs"
  rm -rf "$libs.tmp"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs.tmp" >&2
  rm -rf "$libs" && mv "$libs.tmp" "$libs"
  touch "$libs/.complete"
  say "$(find "$libs" -name '*.jar' | wc -l) jars, $(du -sh "$libs" | cut -f1)"
}

write_properties() {
  mkdir -p "$dir/data"
  local listeners="PLAINTEXT://localhost:$port,CONTROLLER://localhost:$controller_port"
  local protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [ -n "$sasl_port" ]; then
    listeners+=",SASL_PLAINTEXT://localhost:$sasl_port"
    protocols+=",SASL_PLAINTEXT:SASL_PLAINTEXT"
  fi
  if [ -n "$ssl_port" ]; then
    listeners+=",SASL_SSL://localhost:$ssl_port"
    protocols+=",SASL_SSL:SASL_SSL"
  fi
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$node_id
$(quorum_property)
listeners=$listeners
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$dir/data
num.partitions=4
default.replication.factor=$replication
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$replication
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$replication
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$replication
share.coordinator.state.topic.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=2097152
auto.create.topics.enable=false
PROPS
  if sasl_on; then write_sasl_properties; fi
  if [ -n "$ssl_port" ]; then
    printf 'ssl.keystore.type=PEM\nssl.keystore.location=%s\n' "$ssl_keystore" >>"$dir/server.properties"
  fi
}

# A single node is a standalone (dynamic) quorum of itself; the nodes of a cluster
# name every controller up front (a static quorum), so they format without --standalone.
quorum_property() {
  if [ -n "$voters" ]; then echo "controller.quorum.voters=$voters"
  else echo "controller.quorum.bootstrap.servers=localhost:$controller_port"; fi
}

write_sasl_properties() {
  local scram=org.apache.kafka.common.security.scram.ScramLoginModule
  local plain=org.apache.kafka.common.security.plain.PlainLoginModule
  local listener
  echo "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" >>"$dir/server.properties"
  for listener in ${sasl_port:+sasl_plaintext} ${ssl_port:+sasl_ssl}; do
    cat >>"$dir/server.properties" <<PROPS
listener.name.$listener.plain.sasl.jaas.config=$plain required user_$sasl_user="$sasl_password";
listener.name.$listener.scram-sha-256.sasl.jaas.config=$scram required;
listener.name.$listener.scram-sha-512.sasl.jaas.config=$scram required;
PROPS
  done
}

# SCRAM credentials live in the cluster metadata log, so they are written when
# the storage is formatted; a marker says which user a formatted storage has.
scram_args() {
  if ! sasl_on; then return; fi
  local mechanism
  for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
    printf '%s\n' --add-scram "$mechanism=[name=$sasl_user,password=$sasl_password]"
  done
}

check_scram_user() {
  if ! sasl_on; then return; fi
  if [ "$(cat "$dir/scram-user" 2>/dev/null)" != "$sasl_user" ]; then
    say "storage in $dir was formatted without SCRAM user '$sasl_user'; remove $dir and start again"
    exit 1
  fi
}

# As Kafka's own bin/ scripts: G1 with short pauses, a log4j2 file of our own.
jvm=(java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Djava.awt.headless=true -Dkafka.logs.dir="$dir"
  -Dlog4j2.configurationFile="$here/log4j2.properties" -cp "$libs/*")

format() {
  if [ -f "$dir/data/meta.properties" ]; then check_scram_user; return; fi
  local id=$cluster_id scram=() standalone=(--standalone)
  if [ -z "$id" ]; then id=$("${jvm[@]}" kafka.tools.StorageTool random-uuid); fi
  if [ -n "$voters" ]; then standalone=(); fi
  mapfile -t scram < <(scram_args)
  "${jvm[@]}" kafka.tools.StorageTool format "${standalone[@]}" -t "$id" \
    -c "$dir/server.properties" "${scram[@]}" >/dev/null
  if sasl_on; then printf '%s\n' "$sasl_user" >"$dir/scram-user"; fi
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/${1:-$port}") 2>/dev/null; }

ready() {
  running && grep -q 'Kafka Server started' "$log" 2>/dev/null && port_open \
    && { [ -z "$sasl_port" ] || port_open "$sasl_port"; } \
    && { [ -z "$ssl_port" ] || port_open "$ssl_port"; }
}

launch() {
  if running; then say "already running (pid $(cat "$pidfile")) on localhost:$port"; return; fi
  if port_open; then say "port $port is in use by another process; set KAFKA_PORT"; exit 1; fi
  for extra in "$sasl_port" "$ssl_port"; do
    if [ -n "$extra" ] && port_open "$extra"; then
      say "port $extra is in use by another process; set KAFKA_SASL_PORT / KAFKA_SSL_PORT"; exit 1
    fi
  done
  if [ -n "$ssl_port" ] && [ ! -r "$ssl_keystore" ]; then
    say "KAFKA_SSL_PORT needs KAFKA_SSL_KEYSTORE: a readable PEM file (unencrypted PKCS#8 key, then the certificate chain)"
    exit 1
  fi
  fetch
  write_properties
  format
  : >"$log"
  date +%s%3N >"$dir/launched-ms"
  nohup "${jvm[@]}" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 &
  echo $! >"$pidfile"
}

wait_ready() {
  local t0=$SECONDS
  until ready; do
    if ! running; then say "broker exited during start-up; see $log and $dir/stdout.log"; tail -20 "$dir/stdout.log" >&2; exit 1; fi
    if ((SECONDS - t0 > timeout_s)); then say "not ready after ${timeout_s}s; see $log"; stop; exit 1; fi
    sleep 0.2
  done
  local took_ms=$(($(date +%s%3N) - $(cat "$dir/launched-ms")))
  say "ready on localhost:$port${sasl_port:+, SASL_PLAINTEXT on $sasl_port}${ssl_port:+, SASL_SSL on $ssl_port} in $took_ms ms (pid $(cat "$pidfile"), logs in $dir)"
}

start() { launch && wait_ready; }

# SIGKILL, as a crash or a power cut would: no controlled shutdown, no flush.
kill_hard() {
  if ! running; then say "not running"; return 1; fi
  local pid
  pid=$(cat "$pidfile")
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$pidfile"
  say "killed (pid $pid)"
}

stop() {
  if ! running; then rm -f "$pidfile"; return; fi
  local pid
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then say "pid $pid ignored SIGTERM for 30s; killing"; kill -KILL "$pid"; fi
  rm -f "$pidfile"
  say "stopped (pid $pid)"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) ready ;;
  launch) launch ;;
  wait) wait_ready ;;
  kill) kill_hard ;;
  pid) running && cat "$pidfile" ;;
  *) echo "usage: $0 fetch|start|stop|status|launch|wait|kill|pid" >&2; exit 2 ;;
esac
