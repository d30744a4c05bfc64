#!/usr/bin/env bash
# scripts/services.sh — a real Apache Kafka broker and a real PostgreSQL server
# on loopback, for kafka2pg's integration tests, benchmarks and CI.
#
# Usage:
#   eval "$(scripts/services.sh up)"   install what is missing, start both (if
#                                      not running), wait until they answer,
#                                      then print the export lines below
#   scripts/services.sh env            print the export lines, start nothing
#   scripts/services.sh status         say whether each is up; exit 0 iff both are
#   scripts/services.sh restart-kafka  stop and start the broker (data kept),
#                                      wait until it answers
#   scripts/services.sh down           stop both (data kept)
#
# Only the export lines go to stdout; progress and logs go to stderr:
#   export KAFKA2PG_TEST_BROKERS=127.0.0.1:9092
#   export KAFKA2PG_TEST_DATABASE_URL=postgres://kafka2pg:k2p-local-pw@127.0.0.1:55432/postgres?sslmode=disable
#   export KAFKA2PG_TEST_SASL_BROKERS=127.0.0.1:9094
#   export KAFKA2PG_TEST_SASL_USER=kafka2pg
#   export KAFKA2PG_TEST_SASL_PASSWORD=kafka2pg-secret
#   export KAFKA2PG_KAFKA_HOME=<cache>/kafka      (libs/, config/, VERSION)
#   export KAFKA2PG_PG_CLUSTER="<ver> kafka2pg"   (for pg_ctlcluster)
#
# Kafka (4.x, KRaft, one combined broker+controller node): jars fetched once
# from Maven Central with mvn into ${KAFKA2PG_CACHE:-$HOME/.cache/kafka2pg}/kafka,
# data in <cache>/kafka-data, logs in <cache>/kafka-logs/server.log, pid in
# <cache>/kafka.pid. Listeners: 9092 PLAINTEXT, 9093 controller, 9094
# SASL_PLAINTEXT (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN; user kafka2pg).
# Client property files for the tools: <cache>/kafka/config/client-*.properties.
#
# PostgreSQL: Debian's package (apt-get installs it if missing), in its own
# cluster "<ver> kafka2pg" on 127.0.0.1:55432, run by pg_ctlcluster as the
# postgres user; role kafka2pg (superuser). The "main" cluster is left alone.
#
# Idempotent and safe to run concurrently (a lock in the cache dir): a second
# `up` only checks; stale pid files (Kafka's or postmaster.pid) are cleaned.
# Works from any cwd; every clone on a machine shares the same services.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
export REPO_ROOT

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE="${KAFKA2PG_CACHE:-$HOME/.cache/kafka2pg}"

# ---- fixed settings --------------------------------------------------------
KAFKA_VERSIONS=(4.1.1 4.0.0)        # first one that Maven Central serves wins
LOG4J_VERSION=2.24.3
SLF4J_VERSION=2.0.17
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
KAFKA_CLUSTER_ID=psDo0CofROiOEGi3kBlrPg
KAFKA_HOST=127.0.0.1
KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093
KAFKA_SASL_PORT=9094
SASL_USER=kafka2pg
SASL_PASSWORD=kafka2pg-secret
KAFKA_READY_TIMEOUT=${KAFKA2PG_KAFKA_READY_TIMEOUT:-90}

PG_NAME=kafka2pg
PG_PORT=55432
PG_USER=kafka2pg
PG_PASSWORD=k2p-local-pw
PG_READY_TIMEOUT=60
DATABASE_URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres?sslmode=disable"

KAFKA_HOME="$CACHE/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_CONF="$KAFKA_HOME/config"
KAFKA_DATA="$CACHE/kafka-data"
KAFKA_LOGS="$CACHE/kafka-logs"
KAFKA_PIDFILE="$CACHE/kafka.pid"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# ---- privileges -------------------------------------------------------------
# PostgreSQL refuses to run as root; pg_ctlcluster starts it as postgres.
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
  AS_PG=(runuser -u postgres --)
  HAVE_PRIV=1
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
  AS_PG=(sudo -n -u postgres --)
  HAVE_PRIV=1
else
  SUDO=()
  AS_PG=()
  HAVE_PRIV=0
fi
need_priv() {
  [ "$HAVE_PRIV" = 1 ] || die "PostgreSQL setup needs root or password-less sudo (running as $(id -un))"
}

lock() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  if ! flock -w 900 9; then die "could not take the lock $CACHE/.lock"; fi
}

# A live process (not a zombie waiting to be reaped).
pid_alive() { # $1 = pid
  local st
  [ -n "$1" ] && st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st##*) }
  [ "${st%% *}" != Z ]
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# ---- Kafka ------------------------------------------------------------------
kafka_version() { cat "$KAFKA_HOME/VERSION" 2>/dev/null || echo unknown; }

have_kafka_libs() { compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; }

write_pom() { # $1 = kafka version, $2 = file
  cat >"$2" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.kafka2pg</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$1</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$1</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$SLF4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
}

ensure_kafka_libs() {
  have_kafka_libs && return 0
  command -v java >/dev/null 2>&1 || die "java is not installed (Kafka 4 needs Java 17+)"
  command -v mvn >/dev/null 2>&1 || die "mvn is not installed (needed once to fetch the Kafka jars)"
  mkdir -p "$KAFKA_HOME"
  local v t0=$SECONDS
  for v in "${KAFKA_VERSIONS[@]}"; do
    log "fetching Apache Kafka $v jars from Maven Central into $KAFKA_LIBS"
    rm -rf "$KAFKA_HOME/libs.tmp"
    write_pom "$v" "$KAFKA_HOME/pom.xml"
    if mvn -B -q -Dstyle.color=never -f "$KAFKA_HOME/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
        -DoutputDirectory="$KAFKA_HOME/libs.tmp" -DincludeScope=runtime </dev/null 2>&1 \
        | sed 's/\x1b\[[0-9;]*m//g' >&2 \
        && compgen -G "$KAFKA_HOME/libs.tmp/kafka_2.13-$v.jar" >/dev/null; then
      rm -rf "$KAFKA_LIBS"
      mv "$KAFKA_HOME/libs.tmp" "$KAFKA_LIBS"
      echo "$v" >"$KAFKA_HOME/VERSION"
      log "Kafka $v jars ready ($((SECONDS - t0)) s)"
      return 0
    fi
    log "Kafka $v could not be fetched"
  done
  rm -rf "$KAFKA_HOME/libs.tmp"
  die "could not fetch any of Kafka ${KAFKA_VERSIONS[*]} from Maven Central"
}

install_file() { # $1 = target; content on stdin; replace only when it changed
  local tmp="$1.tmp.$$"
  cat >"$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
  mv -f "$tmp" "$1"
  return 0
}

write_kafka_config() {
  mkdir -p "$KAFKA_CONF" "$KAFKA_LOGS"
  local changed=0
  install_file "$KAFKA_CONF/server.properties" <<EOF && changed=1
# Written by kafka2pg scripts/services.sh; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT,SASL_PLAINTEXT://$KAFKA_HOST:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,SASL_PLAINTEXT://$KAFKA_HOST:$KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT

sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$SASL_USER" password="$SASL_PASSWORD" user_$SASL_USER="$SASL_PASSWORD";

log.dirs=$KAFKA_DATA
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
num.network.threads=3
num.io.threads=4
log.retention.hours=168
EOF
  install_file "$KAFKA_CONF/log4j2.properties" <<EOF || true
status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $KAFKA_LOGS/server.log
appender.file.filePattern = $KAFKA_LOGS/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 100MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
EOF
  install_file "$KAFKA_CONF/tools-log4j2.properties" <<'EOF' || true
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ERROR
rootLogger.appenderRef.err.ref = STDERR
EOF
  install_file "$KAFKA_CONF/client-plaintext.properties" <<EOF || true
request.timeout.ms=5000
default.api.timeout.ms=10000
EOF
  local mech
  for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
    install_file "$KAFKA_CONF/client-$(echo "$mech" | tr '[:upper:]' '[:lower:]').properties" <<EOF || true
security.protocol=SASL_PLAINTEXT
sasl.mechanism=$mech
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$SASL_USER" password="$SASL_PASSWORD";
request.timeout.ms=5000
default.api.timeout.ms=10000
EOF
  done
  install_file "$KAFKA_CONF/client-plain.properties" <<EOF || true
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$SASL_USER" password="$SASL_PASSWORD";
request.timeout.ms=5000
default.api.timeout.ms=10000
EOF
  KAFKA_CONFIG_CHANGED=$changed
}

# A short-lived JVM running one of Kafka's command-line tools.
kafka_tool() {
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Dlog4j2.configurationFile="$KAFKA_CONF/tools-log4j2.properties" \
    -cp "$KAFKA_LIBS/*" "$@" </dev/null 9>&-
}

# A real metadata request (list topics) over PLAINTEXT.
kafka_probe_plaintext() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 30 bash -c 'kafka_tool org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$1" --command-config "$2" --list' _ \
    "$KAFKA_HOST:$KAFKA_PORT" "$KAFKA_CONF/client-plaintext.properties" >/dev/null 2>&1
}

# The same over SASL_PLAINTEXT, authenticated with SCRAM-SHA-512.
kafka_probe_sasl() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 30 bash -c 'kafka_tool org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$1" --command-config "$2" --list' _ \
    "$KAFKA_HOST:$KAFKA_SASL_PORT" "$KAFKA_CONF/client-scram-sha-512.properties" >/dev/null 2>&1
}

is_our_kafka() { # $1 = pid
  pid_alive "$1" || return 1
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ "$cmd" == *kafka.Kafka*"$KAFKA_CONF/server.properties"* ]]
}

# Prints the broker's pid if it is running; fixes a stale or missing pid file.
kafka_pid() {
  local pid=""
  if [ -f "$KAFKA_PIDFILE" ]; then
    pid=$(tr -dc '0-9' 2>/dev/null <"$KAFKA_PIDFILE" || true)
    if is_our_kafka "$pid"; then echo "$pid"; return 0; fi
    rm -f "$KAFKA_PIDFILE"
  fi
  local f
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    if is_our_kafka "$pid"; then
      echo "$pid" >"$KAFKA_PIDFILE"
      echo "$pid"
      return 0
    fi
  done
  return 1
}

kafka_log_tail() {
  log "---- tail of $KAFKA_LOGS/server.log ----"
  tail -n 40 "$KAFKA_LOGS/server.log" >&2 2>/dev/null || true
  log "---- tail of $KAFKA_LOGS/kafka.out ----"
  tail -n 20 "$KAFKA_LOGS/kafka.out" >&2 2>/dev/null || true
}

kafka_wait_ready() { # $1 = pid
  local deadline=$((SECONDS + KAFKA_READY_TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ! pid_alive "$1"; then
      kafka_log_tail
      die "the Kafka broker (pid $1) exited during startup"
    fi
    if port_open "$KAFKA_HOST" "$KAFKA_PORT" && kafka_probe_plaintext; then
      return 0
    fi
    sleep 1
  done
  kafka_log_tail
  die "the Kafka broker (pid $1) did not answer within ${KAFKA_READY_TIMEOUT}s"
}

kafka_format() {
  [ -f "$KAFKA_DATA/meta.properties" ] && return 0
  log "formatting Kafka storage in $KAFKA_DATA (cluster id $KAFKA_CLUSTER_ID)"
  rm -rf "$KAFKA_DATA"
  mkdir -p "$KAFKA_DATA"
  kafka_tool kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" \
    -c "$KAFKA_CONF/server.properties" \
    --add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]" >&2 \
    || die "kafka-storage format failed"
}

kafka_start() {
  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_PORT"; do
    if port_open "$KAFKA_HOST" "$p"; then
      die "port $KAFKA_HOST:$p is taken by a process that is not this script's broker ($KAFKA_CONF/server.properties); stop it first"
    fi
  done
  kafka_format
  mkdir -p "$KAFKA_LOGS"
  rm -f "$KAFKA_PIDFILE"
  log "starting Kafka $(kafka_version) broker (logs: $KAFKA_LOGS/server.log)"
  # Detached in its own session, no inherited stdio (so `$(services.sh up)`
  # returns), no inherited lock fd; the wrapper writes its pid then execs java.
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$KAFKA_PIDFILE" \
    java -Xms512m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_CONF/log4j2.properties" \
    -Dkafka.logs.dir="$KAFKA_LOGS" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF/server.properties" \
    </dev/null >>"$KAFKA_LOGS/kafka.out" 2>&1 9>&- &
  local pid=""
  for _ in $(seq 1 50); do
    pid=$(tr -dc '0-9' 2>/dev/null <"$KAFKA_PIDFILE" || true)
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || die "the Kafka broker did not start (no pid file)"
  kafka_wait_ready "$pid"
  log "Kafka broker up (pid $pid)"
}

kafka_ensure_scram() {
  kafka_probe_sasl && return 0
  log "SASL/SCRAM login failed; (re)creating SCRAM credentials for $SASL_USER"
  kafka_tool kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_HOST:$KAFKA_PORT" \
    --alter --entity-type users --entity-name "$SASL_USER" \
    --add-config "SCRAM-SHA-256=[password=$SASL_PASSWORD],SCRAM-SHA-512=[password=$SASL_PASSWORD]" >&2 \
    || die "could not create the SCRAM credentials"
  for _ in 1 2 3 4 5; do
    kafka_probe_sasl && return 0
    sleep 1
  done
  die "SASL/SCRAM login to $KAFKA_HOST:$KAFKA_SASL_PORT still fails"
}

kafka_stop() {
  local pid
  pid=$(kafka_pid) || { log "Kafka broker not running"; rm -f "$KAFKA_PIDFILE"; return 0; }
  log "stopping Kafka broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 600); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  if pid_alive "$pid"; then
    log "Kafka broker still alive after 60 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      pid_alive "$pid" || break
      sleep 0.1
    done
  fi
  rm -f "$KAFKA_PIDFILE"
}

kafka_up() {
  ensure_kafka_libs
  write_kafka_config
  local pid
  if pid=$(kafka_pid); then
    if port_open "$KAFKA_HOST" "$KAFKA_PORT" && kafka_probe_plaintext; then
      log "Kafka broker already running (pid $pid)"
      [ "$KAFKA_CONFIG_CHANGED" = 0 ] || log "note: server.properties changed; run '$0 restart-kafka' to apply"
      return 0
    fi
    log "Kafka broker (pid $pid) is not answering yet; waiting"
    if ( kafka_wait_ready "$pid" ) 2>/dev/null; then
      log "Kafka broker up (pid $pid)"
      kafka_ensure_scram
      return 0
    fi
    log "Kafka broker (pid $pid) did not become ready; restarting it"
    kafka_stop
  fi
  kafka_start
  kafka_ensure_scram
}

# ---- PostgreSQL -------------------------------------------------------------
pg_have_server() {
  command -v pg_createcluster >/dev/null 2>&1 && command -v pg_ctlcluster >/dev/null 2>&1 \
    && command -v pg_lsclusters >/dev/null 2>&1 && [ -n "$(pg_newest_version)" ]
}

pg_newest_version() {
  local d v best=""
  for d in /usr/lib/postgresql/*/bin/postgres; do
    [ -x "$d" ] || continue
    v=${d#/usr/lib/postgresql/}; v=${v%%/*}
    [ -x "/usr/lib/postgresql/$v/bin/initdb" ] || continue
    best=$(printf '%s\n%s\n' "$best" "$v" | sed '/^$/d' | sort -V | tail -n 1)
  done
  echo "$best"
}

# Version of our cluster if it exists, else of the newest installed server.
pg_version() {
  local v=""
  if command -v pg_lsclusters >/dev/null 2>&1; then
    v=$(pg_lsclusters -h 2>/dev/null | awk -v n="$PG_NAME" '$2 == n { print $1; exit }')
  fi
  [ -n "$v" ] || v=$(pg_newest_version)
  echo "$v"
}

pg_cluster_exists() { # $1 = version
  [ -f "/etc/postgresql/$1/$PG_NAME/postgresql.conf" ]
}

pg_cluster_field() { # $1 = version, $2 = field number of pg_lsclusters -h
  pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v n="$PG_NAME" -v f="$2" '$1 == v && $2 == n { print $f; exit }'
}

# Running = postmaster.pid names a live postgres process (pid reuse after a
# machine restart is not mistaken for a running server).
pg_online() { # $1 = version
  local datadir pid comm
  datadir=$(pg_cluster_field "$1" 6)
  [ -n "$datadir" ] || return 1
  pid=$("${SUDO[@]}" head -n 1 "$datadir/postmaster.pid" 2>/dev/null | tr -dc '0-9' || true)
  pid_alive "$pid" || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
  [[ "$comm" == postgres* ]]
}

ensure_pg_installed() {
  pg_have_server && return 0
  need_priv
  log "installing PostgreSQL from Debian (apt-get)"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null >&2 \
    || die "apt-get update failed"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    postgresql postgresql-client </dev/null >&2 9>&- || die "apt-get install postgresql failed"
  pg_have_server || die "PostgreSQL is still missing after apt-get install"
}

ensure_pg_cluster() { # $1 = version
  local v=$1
  if ! pg_cluster_exists "$v"; then
    log "creating PostgreSQL cluster '$v $PG_NAME' on port $PG_PORT"
    "${SUDO[@]}" env LC_ALL=C.UTF-8 LANG=C.UTF-8 pg_createcluster "$v" "$PG_NAME" -p "$PG_PORT" \
      --locale=C.UTF-8 -e UTF8 -- --auth-local=peer --auth-host=scram-sha-256 \
      </dev/null >&2 9>&- || die "pg_createcluster $v $PG_NAME failed"
  fi
  local port
  port=$(pg_cluster_field "$v" 3)
  [ "$port" = "$PG_PORT" ] || die "cluster '$v $PG_NAME' is configured for port $port, not $PG_PORT"

  local confd="/etc/postgresql/$v/$PG_NAME/conf.d" changed=0
  "${SUDO[@]}" mkdir -p "$confd"
  local want
  want=$(cat <<'EOF'
# Written by kafka2pg scripts/services.sh; edits are overwritten.
listen_addresses = '127.0.0.1'
max_connections = 200
shared_buffers = 256MB
max_wal_size = 2GB
# Durability stays on: kafka2pg's tests check crash safety.
fsync = on
synchronous_commit = on
full_page_writes = on
password_encryption = scram-sha-256
EOF
)
  if ! printf '%s\n' "$want" | "${SUDO[@]}" cmp -s - "$confd/kafka2pg.conf" 2>/dev/null; then
    printf '%s\n' "$want" | "${SUDO[@]}" tee "$confd/kafka2pg.conf" >/dev/null
    "${SUDO[@]}" chown postgres:postgres "$confd/kafka2pg.conf"
    changed=1
  fi

  local hba="/etc/postgresql/$v/$PG_NAME/pg_hba.conf"
  if ! "${SUDO[@]}" grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+(md5|scram-sha-256)' "$hba"; then
    log "allowing password logins from 127.0.0.1 in $hba"
    printf 'host    all             all             127.0.0.1/32            scram-sha-256\n' \
      | "${SUDO[@]}" tee -a "$hba" >/dev/null
    changed=1
  fi
  PG_CONFIG_CHANGED=$changed
}

pg_ctl_cluster() { # $1 = version, rest = action and options
  local v=$1 out rc=0
  shift
  out=$(mktemp)
  "${SUDO[@]}" pg_ctlcluster "$v" "$PG_NAME" "$@" </dev/null >"$out" 2>&1 9>&- || rc=$?
  cat "$out" >&2
  rm -f "$out"
  return "$rc"
}

pg_log_tail() { # $1 = version
  local f="/var/log/postgresql/postgresql-$1-$PG_NAME.log"
  log "---- tail of $f ----"
  "${SUDO[@]}" tail -n 30 "$f" >&2 2>/dev/null || true
}

pg_clear_stale_pid() { # $1 = version; call only when pg_online is false
  local datadir
  datadir=$(pg_cluster_field "$1" 6)
  [ -n "$datadir" ] || return 0
  if "${SUDO[@]}" test -f "$datadir/postmaster.pid"; then
    log "removing stale $datadir/postmaster.pid"
    "${SUDO[@]}" rm -f "$datadir/postmaster.pid"
  fi
}

pg_wait_ready() { # $1 = version
  local v=$1 deadline=$((SECONDS + PG_READY_TIMEOUT)) bin="/usr/lib/postgresql/$1/bin"
  while [ "$SECONDS" -lt "$deadline" ]; do
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2 \
      && [ "$("${AS_PG[@]}" "$bin/psql" -X -A -t -q -p "$PG_PORT" -d postgres -c 'SELECT 1' 2>/dev/null </dev/null)" = 1 ]; then
      return 0
    fi
    sleep 0.5
  done
  pg_log_tail "$v"
  die "PostgreSQL '$v $PG_NAME' did not accept connections within ${PG_READY_TIMEOUT}s"
}

pg_up() {
  ensure_pg_installed
  need_priv
  local v
  v=$(pg_version)
  [ -n "$v" ] || die "no PostgreSQL server version found under /usr/lib/postgresql"
  ensure_pg_cluster "$v"
  "${SUDO[@]}" install -d -o postgres -g postgres -m 2775 /var/run/postgresql
  "${SUDO[@]}" install -d -o root -g postgres -m 1775 /var/log/postgresql
  if pg_online "$v"; then
    if [ "$PG_CONFIG_CHANGED" = 1 ]; then
      log "restarting PostgreSQL '$v $PG_NAME' to apply its settings"
      pg_ctl_cluster "$v" restart -m fast || { pg_log_tail "$v"; die "pg_ctlcluster restart failed"; }
    else
      log "PostgreSQL '$v $PG_NAME' already running"
    fi
  else
    pg_clear_stale_pid "$v"
    log "starting PostgreSQL '$v $PG_NAME' on 127.0.0.1:$PG_PORT"
    pg_ctl_cluster "$v" start || { pg_log_tail "$v"; die "pg_ctlcluster $v $PG_NAME start failed"; }
  fi
  pg_wait_ready "$v"
  "${AS_PG[@]}" "/usr/lib/postgresql/$v/bin/psql" -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres </dev/null -c "
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN SUPERUSER PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_USER LOGIN SUPERUSER PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;" >&2 || die "could not create the role $PG_USER"
  local got
  got=$(PGCONNECT_TIMEOUT=5 "/usr/lib/postgresql/$v/bin/psql" "$DATABASE_URL" -X -A -t -q -c 'SELECT 1' </dev/null) \
    || die "could not log in as $PG_USER over TCP ($DATABASE_URL)"
  [ "$got" = 1 ] || die "unexpected answer to SELECT 1: $got"
  log "PostgreSQL '$v $PG_NAME' up on 127.0.0.1:$PG_PORT"
}

pg_down() {
  command -v pg_lsclusters >/dev/null 2>&1 || { log "PostgreSQL not installed"; return 0; }
  local v
  v=$(pg_version)
  if [ -z "$v" ] || ! pg_cluster_exists "$v"; then log "PostgreSQL cluster $PG_NAME does not exist"; return 0; fi
  if pg_online "$v"; then
    need_priv
    log "stopping PostgreSQL '$v $PG_NAME'"
    pg_ctl_cluster "$v" stop -m fast || die "pg_ctlcluster $v $PG_NAME stop failed"
  else
    log "PostgreSQL '$v $PG_NAME' not running"
  fi
}

# ---- commands -----------------------------------------------------------------
print_env() {
  local v
  v=$(pg_version)
  if [ -z "$v" ]; then
    v=15
    log "warning: PostgreSQL is not installed yet; assuming version $v"
  fi
  printf 'export KAFKA2PG_TEST_BROKERS=%s\n' "$KAFKA_HOST:$KAFKA_PORT"
  printf 'export KAFKA2PG_TEST_DATABASE_URL=%s\n' "$DATABASE_URL"
  printf 'export KAFKA2PG_TEST_SASL_BROKERS=%s\n' "$KAFKA_HOST:$KAFKA_SASL_PORT"
  printf 'export KAFKA2PG_TEST_SASL_USER=%s\n' "$SASL_USER"
  printf 'export KAFKA2PG_TEST_SASL_PASSWORD=%s\n' "$SASL_PASSWORD"
  printf 'export KAFKA2PG_KAFKA_HOME=%q\n' "$KAFKA_HOME"
  printf 'export KAFKA2PG_PG_CLUSTER="%s %s"\n' "$v" "$PG_NAME"
}

cmd_status() {
  local ok=0 pid v
  if pid=$(kafka_pid) && port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    echo "kafka: up (Kafka $(kafka_version), pid $pid, $KAFKA_HOST:$KAFKA_PORT, SASL $KAFKA_HOST:$KAFKA_SASL_PORT)"
  elif [ -n "${pid:-}" ]; then
    echo "kafka: starting or unresponsive (pid $pid, $KAFKA_HOST:$KAFKA_PORT not answering)"
    ok=1
  else
    echo "kafka: down"
    ok=1
  fi
  v=$(pg_version)
  if [ -n "$v" ] && [ -x "/usr/lib/postgresql/$v/bin/pg_isready" ] \
      && "/usr/lib/postgresql/$v/bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 3; then
    echo "postgresql: up ('$v $PG_NAME', 127.0.0.1:$PG_PORT)"
  else
    if [ -n "$v" ]; then echo "postgresql: down ('$v $PG_NAME')"; else echo "postgresql: down (not installed)"; fi
    ok=1
  fi
  return "$ok"
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
}

export -f kafka_tool
export KAFKA_CONF KAFKA_LIBS

main() {
  local cmd=${1:-}
  case "$cmd" in
    up)
      lock
      local t0=$SECONDS
      pg_up
      kafka_up
      log "services up ($((SECONDS - t0)) s)"
      print_env
      ;;
    down)
      lock
      kafka_stop
      pg_down
      ;;
    restart-kafka)
      lock
      ensure_kafka_libs
      write_kafka_config
      kafka_stop
      kafka_start
      kafka_ensure_scram
      ;;
    status)
      cmd_status
      ;;
    env)
      print_env
      ;;
    -h|--help|help)
      usage
      ;;
    *)
      usage
      exit 2
      ;;
  esac
}

main "$@"
