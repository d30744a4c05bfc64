#!/usr/bin/env bash
# scripts/services.sh — a real Apache Kafka broker, a real PostgreSQL server
# and PgBouncer on loopback, for kafka2pg's integration tests, benchmarks and CI.
#
# Usage:
#   eval "$(scripts/services.sh up)"   install what is missing, start all three
#                                      (if not running), wait until they answer,
#                                      then print the export lines below
#   scripts/services.sh env            print the export lines, start nothing
#   scripts/services.sh status         say whether each is up; exit 0 iff all are
#   scripts/services.sh restart-kafka  stop and start the broker (data kept),
#                                      wait until it answers
#   scripts/services.sh down           stop all three (data kept)
#
# Only the export lines go to stdout; progress and logs go to stderr:
#   export KAFKA2PG_TEST_BROKERS=127.0.0.1:9092
#   export KAFKA2PG_TEST_DATABASE_URL=postgres://kafka2pg:k2p-local-pw@127.0.0.1:55432/postgres?sslmode=disable
#   export KAFKA2PG_TEST_SASL_BROKERS=127.0.0.1:9094
#   export KAFKA2PG_TEST_SASL_USER=kafka2pg
#   export KAFKA2PG_TEST_SASL_PASSWORD=kafka2pg-secret
#   export KAFKA2PG_KAFKA_HOME=<cache>/kafka      (libs/, config/, VERSION)
#   export KAFKA2PG_PG_CLUSTER="<ver> kafka2pg"   (for pg_ctlcluster)
#   export KAFKA2PG_TEST_TLS_BROKERS=127.0.0.1:9095        SSL, server auth only
#   export KAFKA2PG_TEST_SASL_SSL_BROKERS=127.0.0.1:9096   SASL_SSL, same user
#   export KAFKA2PG_TEST_MTLS_BROKERS=127.0.0.1:9097       SSL, client cert required
#   export KAFKA2PG_TEST_CA_FILE=<cache>/tls/ca.crt        signs every server cert
#   export KAFKA2PG_TEST_UNTRUSTED_CA_FILE=<cache>/tls/untrusted-ca.crt  signs nothing
#   export KAFKA2PG_TEST_CLIENT_CERT_FILE=<cache>/tls/client.crt  CN=kafka2pg_cert
#   export KAFKA2PG_TEST_CLIENT_KEY_FILE=<cache>/tls/client.key
#   export KAFKA2PG_TEST_PG_TLS_URL=postgres://kafka2pg:…@127.0.0.1:55432/postgres?sslmode=verify-full&sslrootcert=<ca>
#   export KAFKA2PG_TEST_PG_CERT_URL=postgres://kafka2pg_cert@127.0.0.1:55432/postgres?sslmode=verify-full&sslrootcert=…&sslcert=…&sslkey=…
#   export KAFKA2PG_TEST_PGBOUNCER_URL=postgres://kafka2pg:…@127.0.0.1:6433/postgres?sslmode=disable
#   export KAFKA2PG_TEST_PROXIED_BROKERS=127.0.0.1:19093   where the fault tests' proxy listens
#   export KAFKA2PG_TEST_PROXIED_UPSTREAM=127.0.0.1:19092  the broker listener behind that proxy
# (the new lines are shell-quoted with printf %q: `eval` them, do not paste.)
#
# TLS material: a test CA, a server certificate for 127.0.0.1 and localhost
# (IP and DNS SANs) used by both Kafka and PostgreSQL, a client certificate
# (CN=kafka2pg_cert, clientAuth) and a second, unrelated "untrusted" CA, made
# with openssl (keys RSA 2048, PKCS#8 PEM) in <cache>/tls; the broker's
# PKCS#12 keystore is made by openssl, its truststore by Java's keytool.
# Regenerated only when missing, not matching their key or CA, or expiring
# within 30 days (the CA lives 10 years, the others 825 days).
#
# Kafka (4.x, KRaft, one combined broker+controller node): jars fetched once
# from Maven Central with mvn into ${KAFKA2PG_CACHE:-$HOME/.cache/kafka2pg}/kafka,
# data in <cache>/kafka-data, logs in <cache>/kafka-logs/server.log, pid in
# <cache>/kafka.pid. Listeners: 9092 PLAINTEXT, 9093 controller, 9094
# SASL_PLAINTEXT and 9096 SASL_SSL (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN; user
# kafka2pg), 9095 SSL (no client certificate asked), 9097 "MTLS" (SSL with a
# client certificate required). The mTLS listener is separate so that a test
# with a client certificate proves it was sent: that listener refuses a client
# without one, while 9095 serves plain server-authenticated TLS.
# Client property files for the tools: <cache>/kafka/config/client-*.properties.
# A sixth listener, PROXIED (PLAINTEXT), serves the fault-injection tests: the
# broker listens on KAFKA_PORT+10000 (19092) and advertises KAFKA_PORT+10001
# (19093), where nothing listens until a test starts a toxiproxy proxy there
# (upstream 19092). A Kafka client connects to the advertised address after
# bootstrapping, so every connection of a client bootstrapped on 19093 goes
# through the test's proxy. It is passed to the broker as command-line
# overrides rather than in server.properties, so that a clone with an older
# copy of this script (which fingerprints server.properties) does not restart
# the shared broker to take it away; a running broker without it is restarted
# once by `up` (data kept).
# A running broker started with another server.properties or other TLS
# material is restarted once by `up` (data kept); the fingerprint of what it
# was started with is in <cache>/kafka.config.sha256.
#
# PostgreSQL: Debian's package (apt-get installs it if missing), in its own
# cluster "<ver> kafka2pg" on 127.0.0.1:55432, run by pg_ctlcluster as the
# postgres user; role kafka2pg (superuser, password). ssl=on with the server
# certificate above (copied to /etc/postgresql/<ver>/kafka2pg/tls); plain and
# TLS logins both work; role kafka2pg_cert (superuser, no password) logs in
# only over TLS with the client certificate (pg_hba "cert"). A settings change
# reloads the server, and restarts it only when a changed setting needs it.
# The "main" cluster is left alone.
#
# PgBouncer: Debian's package (installed if missing), pool_mode=transaction on
# 127.0.0.1:6433, every database name routed to the same database of the
# cluster above (`* = host=127.0.0.1 port=55432`), SCRAM logins of kafka2pg
# (also admin of the "pgbouncer" console database). Started as root with
# `-u postgres` (it refuses to run as root); config, log and pid in
# <cache>/pgbouncer.
#
# Environment overrides (defaults in brackets), for a second, private instance:
#   KAFKA2PG_CACHE [~/.cache/kafka2pg]  KAFKA2PG_KAFKA_PORT [9092] (base: the
#   other listeners are base+1 … base+5)  KAFKA2PG_PG_PORT [55432]
#   KAFKA2PG_PG_NAME [kafka2pg]  KAFKA2PG_PGBOUNCER_PORT [6433]
#   KAFKA2PG_KAFKA_READY_TIMEOUT [90]
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

# ---- settings ----------------------------------------------------------------
KAFKA_VERSIONS=(4.1.1 4.0.0)        # first one that Maven Central serves wins
LOG4J_VERSION=2.24.3
SLF4J_VERSION=2.0.17
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
KAFKA_CLUSTER_ID=psDo0CofROiOEGi3kBlrPg
KAFKA_HOST=127.0.0.1
KAFKA_PORT=${KAFKA2PG_KAFKA_PORT:-9092}
SASL_USER=kafka2pg
SASL_PASSWORD=kafka2pg-secret
KAFKA_READY_TIMEOUT=${KAFKA2PG_KAFKA_READY_TIMEOUT:-90}

PG_NAME=${KAFKA2PG_PG_NAME:-kafka2pg}
PG_PORT=${KAFKA2PG_PG_PORT:-55432}
PG_USER=kafka2pg
PG_PASSWORD=k2p-local-pw
PG_CERT_USER=kafka2pg_cert          # logs in with the client certificate only
PG_READY_TIMEOUT=60
PGBOUNCER_PORT=${KAFKA2PG_PGBOUNCER_PORT:-6433}   # below the ephemeral range (32768+)

for _v in KAFKA_PORT PG_PORT PGBOUNCER_PORT KAFKA_READY_TIMEOUT; do
  [[ "${!_v}" =~ ^[0-9]+$ ]] || { printf '[services] ERROR: KAFKA2PG_%s=%q is not a number\n' "$_v" "${!_v}" >&2; exit 2; }
done
[[ "$PG_NAME" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] \
  || { printf '[services] ERROR: KAFKA2PG_PG_NAME=%q is not a valid cluster name\n' "$PG_NAME" >&2; exit 2; }
if [ "$KAFKA_PORT" -lt 1024 ] || [ "$KAFKA_PORT" -gt 55530 ]; then
  printf '[services] ERROR: KAFKA2PG_KAFKA_PORT=%s: want 1024..55530 (it uses base..base+5 and base+10000, base+10001)\n' "$KAFKA_PORT" >&2
  exit 2
fi
unset _v

KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
KAFKA_SASL_PORT=$((KAFKA_PORT + 2))
KAFKA_SSL_PORT=$((KAFKA_PORT + 3))
KAFKA_SASL_SSL_PORT=$((KAFKA_PORT + 4))
KAFKA_MTLS_PORT=$((KAFKA_PORT + 5))
KAFKA_PROXIED_PORT=$((KAFKA_PORT + 10000))      # the broker listens here …
KAFKA_PROXIED_ADV_PORT=$((KAFKA_PORT + 10001))  # … and advertises the test proxy's address

KAFKA_HOME="$CACHE/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_CONF="$KAFKA_HOME/config"
KAFKA_DATA="$CACHE/kafka-data"
KAFKA_LOGS="$CACHE/kafka-logs"
KAFKA_PIDFILE="$CACHE/kafka.pid"
KAFKA_STARTED_FP="$CACHE/kafka.config.sha256"   # what the running broker was started with

# TLS material (see the header). Bump TLS_SPEC to regenerate every certificate.
TLS_DIR="$CACHE/tls"
TLS_SPEC=1
TLS_CA_DAYS=3650
TLS_LEAF_DAYS=825
TLS_RENEW_DAYS=30
TLS_STORE_PASSWORD=kafka2pg-tls-store    # PKCS#12 stores; test-only, never printed
CA_FILE="$TLS_DIR/ca.crt"
CA_KEY="$TLS_DIR/ca.key"
SERVER_CERT="$TLS_DIR/server.crt"
SERVER_KEY="$TLS_DIR/server.key"
CLIENT_CERT="$TLS_DIR/client.crt"
CLIENT_KEY="$TLS_DIR/client.key"
UNTRUSTED_CA_FILE="$TLS_DIR/untrusted-ca.crt"
UNTRUSTED_CA_KEY="$TLS_DIR/untrusted-ca.key"
KAFKA_KEYSTORE="$TLS_DIR/kafka.keystore.p12"
KAFKA_TRUSTSTORE="$TLS_DIR/kafka.truststore.p12"
CLIENT_KEYSTORE="$TLS_DIR/client.keystore.p12"

PGB_DIR="$CACHE/pgbouncer"
PGB_INI="$PGB_DIR/pgbouncer.ini"
PGB_USERLIST="$PGB_DIR/userlist.txt"
PGB_LOG="$PGB_DIR/pgbouncer.log"
PGB_PIDFILE="$PGB_DIR/pgbouncer.pid"
PGB_STARTED_FP="$PGB_DIR/pgbouncer.config.sha256"
PGB_READY_TIMEOUT=30

# A query-string value: every byte outside [A-Za-z0-9/._~-] percent-encoded.
urlenc() {
  local LC_ALL=C s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case "$c" in
      [A-Za-z0-9/._~-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

DATABASE_URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
PG_TLS_URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres?sslmode=verify-full&sslrootcert=$(urlenc "$CA_FILE")"
PG_CERT_URL="postgres://$PG_CERT_USER@127.0.0.1:$PG_PORT/postgres?sslmode=verify-full&sslrootcert=$(urlenc "$CA_FILE")&sslcert=$(urlenc "$CLIENT_CERT")&sslkey=$(urlenc "$CLIENT_KEY")"
PGBOUNCER_URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PGBOUNCER_PORT/postgres?sslmode=disable"

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

# Debian packages, installed once; waits for a dpkg lock another run holds.
APT_UPDATED=0
apt_install() { # $@ = packages
  need_priv
  log "installing $* from Debian (apt-get)"
  if [ "$APT_UPDATED" = 0 ]; then
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update \
      </dev/null >&2 9>&- || die "apt-get update failed"
    APT_UPDATED=1
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
    --no-install-recommends "$@" </dev/null >&2 9>&- || die "apt-get install $* failed"
}

# ---- TLS material -------------------------------------------------------------
KEYTOOL=""
ensure_tls_tools() {
  command -v openssl >/dev/null 2>&1 || apt_install openssl
  command -v openssl >/dev/null 2>&1 || die "openssl is still missing after apt-get install"
  if command -v keytool >/dev/null 2>&1; then
    KEYTOOL=$(command -v keytool)
  elif command -v java >/dev/null 2>&1 && [ -x "$(dirname "$(readlink -f "$(command -v java)")")/keytool" ]; then
    KEYTOOL="$(dirname "$(readlink -f "$(command -v java)")")/keytool"
  else
    die "keytool (from Java 17) is not installed; it makes the broker's truststore"
  fi
}

tls_openssl_config() {
  install_file "$TLS_DIR/openssl.cnf" <<'EOF' || true
# Written by kafka2pg scripts/services.sh; edits are overwritten.
[req]
distinguished_name = dn
prompt = no
[dn]
CN = kafka2pg
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
}

# The certificate is not expiring soon, is issued by $3 (itself for a CA) and
# belongs to the key.
tls_cert_ok() { # $1 = cert, $2 = key, $3 = issuer cert
  [ -s "$1" ] && [ -s "$2" ] && [ -s "$3" ] || return 1
  openssl x509 -in "$1" -noout -checkend "$((TLS_RENEW_DAYS * 86400))" >/dev/null 2>&1 || return 1
  openssl verify -CAfile "$3" "$1" >/dev/null 2>&1 || return 1
  local a b
  a=$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null) || return 1
  b=$(openssl pkey -in "$2" -pubout 2>/dev/null) || return 1
  [ -n "$a" ] && [ "$a" = "$b" ]
}

tls_new_key() { # $1 = file
  ( umask 077; openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null ) \
    || die "openssl genpkey failed ($1)"
}

# A self-signed CA; the key is written first, so a crash in between leaves a
# pair that tls_cert_ok rejects.
tls_make_ca() { # $1 = cert, $2 = key, $3 = common name
  log "making the TLS certificate authority '$3' ($1)"
  tls_new_key "$2.tmp"
  openssl req -x509 -new -config "$TLS_DIR/openssl.cnf" -extensions ca_ext -sha256 \
    -key "$2.tmp" -subj "/O=kafka2pg tests/CN=$3" -days "$TLS_CA_DAYS" -out "$1.tmp" 2>/dev/null \
    || die "openssl could not make the CA $1"
  mv -f "$2.tmp" "$2"
  mv -f "$1.tmp" "$1"
}

tls_make_leaf() { # $1 = cert, $2 = key, $3 = common name, $4 = extension section
  log "making the TLS certificate $1 (CN=$3, signed by $CA_FILE)"
  tls_new_key "$2.tmp"
  openssl req -new -config "$TLS_DIR/openssl.cnf" -key "$2.tmp" -subj "/O=kafka2pg tests/CN=$3" \
    -out "$1.csr" 2>/dev/null || die "openssl could not make a request for $1"
  openssl x509 -req -in "$1.csr" -CA "$CA_FILE" -CAkey "$CA_KEY" -set_serial "0x$(openssl rand -hex 16)" \
    -days "$TLS_LEAF_DAYS" -sha256 -extfile "$TLS_DIR/openssl.cnf" -extensions "$4" -out "$1.tmp" 2>/dev/null \
    || die "openssl could not sign $1"
  rm -f "$1.csr"
  mv -f "$2.tmp" "$2"
  mv -f "$1.tmp" "$1"
}

# The broker's PKCS#12 keystore (server key + chain, by openssl), its
# truststore (the CA, by keytool, for client certificates) and a client
# keystore for the Java tools' mTLS probe.
tls_make_stores() {
  log "making the broker's keystore and truststore in $TLS_DIR"
  local pw=K2P_TLS_STORE_PASSWORD
  export K2P_TLS_STORE_PASSWORD=$TLS_STORE_PASSWORD
  ( umask 077
    rm -f "$KAFKA_KEYSTORE.tmp" "$KAFKA_TRUSTSTORE.tmp" "$CLIENT_KEYSTORE.tmp"
    openssl pkcs12 -export -in "$SERVER_CERT" -inkey "$SERVER_KEY" -certfile "$CA_FILE" \
      -name kafka2pg-server -passout "env:$pw" -out "$KAFKA_KEYSTORE.tmp" \
      || die "openssl pkcs12 could not make $KAFKA_KEYSTORE"
    openssl pkcs12 -export -in "$CLIENT_CERT" -inkey "$CLIENT_KEY" -certfile "$CA_FILE" \
      -name kafka2pg-client -passout "env:$pw" -out "$CLIENT_KEYSTORE.tmp" \
      || die "openssl pkcs12 could not make $CLIENT_KEYSTORE"
    "$KEYTOOL" -importcert -noprompt -alias kafka2pg-ca -file "$CA_FILE" -storetype PKCS12 \
      -keystore "$KAFKA_TRUSTSTORE.tmp" -storepass:env "$pw" >/dev/null 2>&1 9>&- \
      || die "keytool could not make $KAFKA_TRUSTSTORE"
    "$KEYTOOL" -list -storetype PKCS12 -keystore "$KAFKA_KEYSTORE.tmp" -storepass:env "$pw" 2>&1 9>&- \
      | grep -q PrivateKeyEntry || die "keytool cannot read the key in $KAFKA_KEYSTORE.tmp"
  ) || exit 1
  unset K2P_TLS_STORE_PASSWORD
  mv -f "$KAFKA_KEYSTORE.tmp" "$KAFKA_KEYSTORE"
  mv -f "$CLIENT_KEYSTORE.tmp" "$CLIENT_KEYSTORE"
  mv -f "$KAFKA_TRUSTSTORE.tmp" "$KAFKA_TRUSTSTORE"
}

ensure_tls() {
  ensure_tls_tools
  mkdir -p "$TLS_DIR"
  chmod 700 "$TLS_DIR"
  tls_openssl_config
  local leaves=0 stores=0
  if [ "$(cat "$TLS_DIR/spec" 2>/dev/null || true)" != "$TLS_SPEC" ]; then
    rm -f "$CA_FILE" "$UNTRUSTED_CA_FILE"
  fi
  if ! tls_cert_ok "$CA_FILE" "$CA_KEY" "$CA_FILE"; then
    tls_make_ca "$CA_FILE" "$CA_KEY" "kafka2pg test CA"
    leaves=1
  fi
  if [ "$leaves" = 1 ] || ! tls_cert_ok "$SERVER_CERT" "$SERVER_KEY" "$CA_FILE"; then
    tls_make_leaf "$SERVER_CERT" "$SERVER_KEY" localhost server_ext
    stores=1
  fi
  if [ "$leaves" = 1 ] || ! tls_cert_ok "$CLIENT_CERT" "$CLIENT_KEY" "$CA_FILE"; then
    tls_make_leaf "$CLIENT_CERT" "$CLIENT_KEY" "$PG_CERT_USER" client_ext
    stores=1
  fi
  if ! tls_cert_ok "$UNTRUSTED_CA_FILE" "$UNTRUSTED_CA_KEY" "$UNTRUSTED_CA_FILE"; then
    tls_make_ca "$UNTRUSTED_CA_FILE" "$UNTRUSTED_CA_KEY" "kafka2pg untrusted test CA"
  fi
  if [ "$stores" = 1 ] || [ ! -s "$KAFKA_KEYSTORE" ] || [ ! -s "$KAFKA_TRUSTSTORE" ] || [ ! -s "$CLIENT_KEYSTORE" ]; then
    tls_make_stores
  fi
  echo "$TLS_SPEC" >"$TLS_DIR/spec"
}

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

# The listeners of server.properties; kafka_overrides adds PROXIED to them.
KAFKA_LISTENERS="PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT,SASL_PLAINTEXT://$KAFKA_HOST:$KAFKA_SASL_PORT,SSL://$KAFKA_HOST:$KAFKA_SSL_PORT,SASL_SSL://$KAFKA_HOST:$KAFKA_SASL_SSL_PORT,MTLS://$KAFKA_HOST:$KAFKA_MTLS_PORT"
KAFKA_ADVERTISED="PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,SASL_PLAINTEXT://$KAFKA_HOST:$KAFKA_SASL_PORT,SSL://$KAFKA_HOST:$KAFKA_SSL_PORT,SASL_SSL://$KAFKA_HOST:$KAFKA_SASL_SSL_PORT,MTLS://$KAFKA_HOST:$KAFKA_MTLS_PORT"
KAFKA_PROTOCOL_MAP="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,MTLS:SSL"

# kafka.Kafka's --override arguments: server.properties' listeners plus
# PROXIED (see the header).
kafka_overrides() {
  printf '%s\n' \
    --override "listeners=$KAFKA_LISTENERS,PROXIED://$KAFKA_HOST:$KAFKA_PROXIED_PORT" \
    --override "advertised.listeners=$KAFKA_ADVERTISED,PROXIED://$KAFKA_HOST:$KAFKA_PROXIED_ADV_PORT" \
    --override "listener.security.protocol.map=$KAFKA_PROTOCOL_MAP,PROXIED:PLAINTEXT"
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
  # A running broker notices a change through kafka_restart_reason.
  install_file "$KAFKA_CONF/server.properties" <<EOF || true
# Written by kafka2pg scripts/services.sh; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=$KAFKA_LISTENERS
advertised.listeners=$KAFKA_ADVERTISED
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$KAFKA_PROTOCOL_MAP

sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$SASL_USER" password="$SASL_PASSWORD" user_$SASL_USER="$SASL_PASSWORD";
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$SASL_USER" password="$SASL_PASSWORD" user_$SASL_USER="$SASL_PASSWORD";

# TLS: one server certificate (SANs 127.0.0.1, localhost) for SSL, SASL_SSL
# and MTLS; only MTLS requires a client certificate signed by the test CA.
ssl.keystore.type=PKCS12
ssl.keystore.location=$KAFKA_KEYSTORE
ssl.keystore.password=$TLS_STORE_PASSWORD
ssl.key.password=$TLS_STORE_PASSWORD
ssl.truststore.type=PKCS12
ssl.truststore.location=$KAFKA_TRUSTSTORE
ssl.truststore.password=$TLS_STORE_PASSWORD
ssl.enabled.protocols=TLSv1.2,TLSv1.3
ssl.client.auth=none
listener.name.mtls.ssl.client.auth=required

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
  local trust
  trust=$(cat <<EOF
ssl.truststore.type=PKCS12
ssl.truststore.location=$KAFKA_TRUSTSTORE
ssl.truststore.password=$TLS_STORE_PASSWORD
request.timeout.ms=5000
default.api.timeout.ms=10000
EOF
)
  install_file "$KAFKA_CONF/client-ssl.properties" <<EOF || true
security.protocol=SSL
$trust
EOF
  install_file "$KAFKA_CONF/client-mtls.properties" <<EOF || true
security.protocol=SSL
ssl.keystore.type=PKCS12
ssl.keystore.location=$CLIENT_KEYSTORE
ssl.keystore.password=$TLS_STORE_PASSWORD
ssl.key.password=$TLS_STORE_PASSWORD
$trust
EOF
  install_file "$KAFKA_CONF/client-sasl-ssl-scram-sha-512.properties" <<EOF || true
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$SASL_USER" password="$SASL_PASSWORD";
$trust
EOF
  chmod 600 "$KAFKA_CONF"/client-*.properties "$KAFKA_CONF/server.properties"
}

# A short-lived JVM running one of Kafka's command-line tools.
kafka_tool() {
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Dlog4j2.configurationFile="$KAFKA_CONF/tools-log4j2.properties" \
    -cp "$KAFKA_LIBS/*" "$@" </dev/null 9>&-
}

# A real metadata request (list topics) on one listener.
kafka_probe() { # $1 = port, $2 = client properties file
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 30 bash -c 'kafka_tool org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$1" --command-config "$2" --list' _ \
    "$KAFKA_HOST:$1" "$2" >/dev/null 2>&1
}

# Over PLAINTEXT.
kafka_probe_plaintext() { kafka_probe "$KAFKA_PORT" "$KAFKA_CONF/client-plaintext.properties"; }

# Over SASL_PLAINTEXT, authenticated with SCRAM-SHA-512.
kafka_probe_sasl() {
  kafka_probe "$KAFKA_SASL_PORT" "$KAFKA_CONF/client-scram-sha-512.properties" \
    && kafka_probe "$KAFKA_SASL_PORT" "$KAFKA_CONF/client-scram-sha-256.properties"
}

# A TLS handshake with the listener on $1, its certificate verified against
# the test CA for 127.0.0.1 (milliseconds; no Kafka request).
tls_handshake() { # $1 = port, rest = extra s_client options
  local port=$1
  shift
  timeout 10 openssl s_client -connect "$KAFKA_HOST:$port" -CAfile "$CA_FILE" -verify_return_error \
    -verify_ip 127.0.0.1 "$@" </dev/null >/dev/null 2>&1 9>&-
}

# The TLS listeners after a start. Always: handshakes on SSL, SASL_SSL and
# MTLS (with the client certificate). With "full" (after `up` started the
# broker), also a Kafka request over SASL_SSL with SCRAM-SHA-512 and one over
# MTLS with the client certificate, by the Java tools (a few seconds each).
kafka_check_tls() { # [$1 = full]
  local p
  for p in "$KAFKA_SSL_PORT" "$KAFKA_SASL_SSL_PORT"; do
    tls_handshake "$p" || { kafka_log_tail; die "no verified TLS handshake with $KAFKA_HOST:$p"; }
  done
  tls_handshake "$KAFKA_MTLS_PORT" -cert "$CLIENT_CERT" -key "$CLIENT_KEY" \
    || { kafka_log_tail; die "no verified TLS handshake with $KAFKA_HOST:$KAFKA_MTLS_PORT (client certificate)"; }
  [ "${1:-}" = full ] || return 0
  kafka_probe "$KAFKA_SASL_SSL_PORT" "$KAFKA_CONF/client-sasl-ssl-scram-sha-512.properties" \
    || { kafka_log_tail; die "SASL_SSL on $KAFKA_HOST:$KAFKA_SASL_SSL_PORT does not answer (TLS or SCRAM)"; }
  kafka_probe "$KAFKA_MTLS_PORT" "$KAFKA_CONF/client-mtls.properties" \
    || { kafka_log_tail; die "mTLS on $KAFKA_HOST:$KAFKA_MTLS_PORT does not answer with the client certificate"; }
}

# Identifies the broker's configuration: server.properties and the TLS
# stores it loads. kafka_start records it with the broker's pid in
# $KAFKA_STARTED_FP; a running broker whose record differs is restarted by `up`.
kafka_config_fp() {
  cat "$KAFKA_CONF/server.properties" "$KAFKA_KEYSTORE" "$KAFKA_TRUSTSTORE" | sha256sum | cut -d' ' -f1
}

kafka_all_ports_open() {
  local p
  for p in "$KAFKA_PORT" "$KAFKA_SASL_PORT" "$KAFKA_SSL_PORT" "$KAFKA_SASL_SSL_PORT" "$KAFKA_MTLS_PORT"; do
    port_open "$KAFKA_HOST" "$p" || return 1
  done
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
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_PORT" "$KAFKA_SSL_PORT" "$KAFKA_SASL_SSL_PORT" "$KAFKA_MTLS_PORT" "$KAFKA_PROXIED_PORT"; do
    if port_open "$KAFKA_HOST" "$p"; then
      die "port $KAFKA_HOST:$p is taken by a process that is not this script's broker ($KAFKA_CONF/server.properties); stop it first"
    fi
  done
  kafka_format
  mkdir -p "$KAFKA_LOGS"
  rm -f "$KAFKA_PIDFILE" "$KAFKA_STARTED_FP"
  local fp overrides
  fp=$(kafka_config_fp)
  mapfile -t overrides < <(kafka_overrides)
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
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF/server.properties" "${overrides[@]}" \
    </dev/null >>"$KAFKA_LOGS/kafka.out" 2>&1 9>&- &
  local pid=""
  for _ in $(seq 1 50); do
    pid=$(tr -dc '0-9' 2>/dev/null <"$KAFKA_PIDFILE" || true)
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || die "the Kafka broker did not start (no pid file)"
  echo "$fp $pid" >"$KAFKA_STARTED_FP"
  kafka_wait_ready "$pid"
  log "Kafka broker up (pid $pid)"
}

kafka_ensure_scram() {
  # Right after a start the broker may not have loaded its credentials yet.
  local mech
  for _ in 1 2 3 4 5; do
    kafka_probe_sasl && return 0
    sleep 1
  done
  log "SASL/SCRAM login failed; (re)creating SCRAM credentials for $SASL_USER"
  # One mechanism per request: Kafka refuses two credentials of one user in
  # a request that also replaces one ("cannot be altered twice").
  for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
    kafka_tool kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_HOST:$KAFKA_PORT" \
      --alter --entity-type users --entity-name "$SASL_USER" \
      --add-config "$mech=[password=$SASL_PASSWORD]" >&2 \
      || die "could not create the $mech credential of $SASL_USER"
  done
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

# Why the running broker (pid $1) must be restarted to match the current
# configuration; empty when it need not. A broker without a record of its
# own (started by an older version of this script, possibly from another
# clone) is adopted if every listener of the current configuration is open,
# restarted otherwise.
kafka_restart_reason() { # $1 = pid
  local want rec
  want=$(kafka_config_fp)
  rec=$(cat "$KAFKA_STARTED_FP" 2>/dev/null || true)
  if [ "${rec#* }" != "$1" ]; then
    if kafka_all_ports_open; then
      echo "$want $1" >"$KAFKA_STARTED_FP"
    else
      echo "it was started without the current listeners (SSL, SASL_SSL, MTLS)"
      return 0
    fi
  elif [ "${rec%% *}" != "$want" ]; then
    echo "server.properties or the TLS stores changed since it started"
    return 0
  fi
  if ! port_open "$KAFKA_HOST" "$KAFKA_PROXIED_PORT"; then
    echo "it runs without the PROXIED listener ($KAFKA_HOST:$KAFKA_PROXIED_PORT) of the fault tests"
  fi
}

kafka_up() {
  ensure_kafka_libs
  write_kafka_config
  local pid why
  if pid=$(kafka_pid); then
    if port_open "$KAFKA_HOST" "$KAFKA_PORT" && kafka_probe_plaintext; then
      why=$(kafka_restart_reason "$pid")
      if [ -z "$why" ]; then
        log "Kafka broker already running (pid $pid)"
        kafka_ensure_scram # a credential may have been changed since it started
        return 0
      fi
      log "restarting the Kafka broker (pid $pid) once: $why (data kept)"
      kafka_stop
      kafka_start
      kafka_ensure_scram
      kafka_check_tls full
      return 0
    fi
    log "Kafka broker (pid $pid) is not answering yet; waiting"
    if ( kafka_wait_ready "$pid" ) 2>/dev/null; then
      log "Kafka broker up (pid $pid)"
      kafka_ensure_scram
      why=$(kafka_restart_reason "$pid")
      if [ -z "$why" ]; then
        return 0
      fi
      log "restarting the Kafka broker (pid $pid) once: $why (data kept)"
      kafka_stop
    else
      log "Kafka broker (pid $pid) did not become ready; restarting it"
      kafka_stop
    fi
  fi
  kafka_start
  kafka_ensure_scram
  kafka_check_tls full
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
  apt_install postgresql postgresql-client
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

  # The server certificate, its key and the CA (for client certificates),
  # readable by postgres only (the cache dir may not be).
  local tlsd="/etc/postgresql/$v/$PG_NAME/tls" f
  "${SUDO[@]}" install -d -o postgres -g postgres -m 0700 "$tlsd"
  for f in "$SERVER_CERT:server.crt" "$SERVER_KEY:server.key" "$CA_FILE:ca.crt"; do
    if ! "${SUDO[@]}" cmp -s "${f%%:*}" "$tlsd/${f#*:}"; then
      "${SUDO[@]}" install -o postgres -g postgres -m 0600 "${f%%:*}" "$tlsd/${f#*:}"
      changed=1
    fi
  done

  local want
  want=$(cat <<EOF
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
# TLS with the test CA's server certificate (SANs 127.0.0.1, localhost);
# ssl_ca_file verifies client certificates (pg_hba "cert").
ssl = on
ssl_cert_file = '$tlsd/server.crt'
ssl_key_file = '$tlsd/server.key'
ssl_ca_file = '$tlsd/ca.crt'
ssl_min_protocol_version = 'TLSv1.2'
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
  # The certificate role's rules come first (pg_hba takes the first match):
  # over TLS with a client certificate whose CN is the role, never otherwise.
  local block cur new
  block=$(cat <<EOF
# BEGIN kafka2pg scripts/services.sh (edits are overwritten)
hostssl all             $PG_CERT_USER   127.0.0.1/32            cert
host    all             $PG_CERT_USER   127.0.0.1/32            reject
# END kafka2pg scripts/services.sh
EOF
)
  cur=$("${SUDO[@]}" cat "$hba")
  new=$(printf '%s\n' "$block"
        printf '%s\n' "$cur" | awk '/^# BEGIN kafka2pg scripts\/services\.sh/ { skip = 1 } !skip { print } /^# END kafka2pg scripts\/services\.sh/ { skip = 0 }')
  if [ "$new" != "$cur" ]; then
    log "adding the client-certificate rules for $PG_CERT_USER to $hba"
    printf '%s\n' "$new" | "${SUDO[@]}" tee "$hba.tmp" >/dev/null
    "${SUDO[@]}" chown postgres:postgres "$hba.tmp"
    "${SUDO[@]}" chmod 640 "$hba.tmp"
    "${SUDO[@]}" mv -f "$hba.tmp" "$hba"
    changed=1
  fi
  PG_CONFIG_CHANGED=$changed
}

# psql as the postgres user on the cluster (peer auth over the socket).
pg_admin_psql() { # $1 = version, rest = psql arguments
  local v=$1
  shift
  "${AS_PG[@]}" "/usr/lib/postgresql/$v/bin/psql" -X -A -t -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@" </dev/null
}

# The running server's files hold settings that only a restart applies
# (pg_file_settings marks them "setting could not be applied").
pg_needs_restart() { # $1 = version
  local n
  n=$(pg_admin_psql "$1" -c 'SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL' 2>/dev/null) \
    || { [ "$PG_CONFIG_CHANGED" = 1 ]; return; }
  [ "$n" != 0 ]
}

pg_check_hba() { # $1 = version
  local bad
  bad=$(pg_admin_psql "$1" -c "SELECT line_number || ': ' || error FROM pg_hba_file_rules WHERE error IS NOT NULL" 2>&1) \
    || die "could not read pg_hba_file_rules: $bad"
  [ -z "$bad" ] || die "pg_hba.conf of '$1 $PG_NAME' has errors: $bad"
}

# TLS logins: verify-full with the CA as kafka2pg, and the client certificate
# as kafka2pg_cert. A reload applies asynchronously: retry for a while.
pg_check_tls() { # $1 = version
  local psql="/usr/lib/postgresql/$1/bin/psql" got="" err
  err=$(mktemp)
  for _ in $(seq 1 20); do
    got=$(PGCONNECT_TIMEOUT=5 "$psql" "$PG_TLS_URL" -X -A -t -q \
      -c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()' </dev/null 2>"$err" || true)
    [ "$got" = t ] && break
    sleep 0.5
  done
  [ "$got" = t ] || { cat "$err" >&2; rm -f "$err"; die "no TLS (verify-full) login to 127.0.0.1:$PG_PORT as $PG_USER"; }
  got=$(PGCONNECT_TIMEOUT=5 "$psql" "$PG_CERT_URL" -X -A -t -q -c 'SELECT current_user' </dev/null 2>"$err" || true)
  [ "$got" = "$PG_CERT_USER" ] || { cat "$err" >&2; rm -f "$err"; die "no client-certificate login to 127.0.0.1:$PG_PORT as $PG_CERT_USER"; }
  rm -f "$err"
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
    if pg_needs_restart "$v"; then
      log "restarting PostgreSQL '$v $PG_NAME' to apply settings that need a restart"
      pg_ctl_cluster "$v" restart -m fast || { pg_log_tail "$v"; die "pg_ctlcluster restart failed"; }
    elif [ "$PG_CONFIG_CHANGED" = 1 ]; then
      pg_check_hba "$v"
      log "reloading PostgreSQL '$v $PG_NAME' to apply its settings"
      pg_ctl_cluster "$v" reload || { pg_log_tail "$v"; die "pg_ctlcluster reload failed"; }
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
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_CERT_USER') THEN
    CREATE ROLE $PG_CERT_USER LOGIN SUPERUSER PASSWORD NULL;
  ELSE
    ALTER ROLE $PG_CERT_USER LOGIN SUPERUSER PASSWORD NULL;
  END IF;
END
\$\$;" >&2 || die "could not create the roles $PG_USER and $PG_CERT_USER"
  local got
  got=$(PGCONNECT_TIMEOUT=5 "/usr/lib/postgresql/$v/bin/psql" "$DATABASE_URL" -X -A -t -q -c 'SELECT 1' </dev/null) \
    || die "could not log in as $PG_USER over TCP ($DATABASE_URL)"
  [ "$got" = 1 ] || die "unexpected answer to SELECT 1: $got"
  pg_check_tls "$v"
  log "PostgreSQL '$v $PG_NAME' up on 127.0.0.1:$PG_PORT (TLS and client certificates too)"
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

# ---- PgBouncer --------------------------------------------------------------------
pgb_bin() {
  if [ -x /usr/sbin/pgbouncer ]; then echo /usr/sbin/pgbouncer; else command -v pgbouncer 2>/dev/null; fi
}

ensure_pgbouncer_installed() {
  [ -n "$(pgb_bin)" ] && return 0
  apt_install pgbouncer
  [ -n "$(pgb_bin)" ] || die "pgbouncer is still missing after apt-get install"
}

# Config and userlist are read as root before pgbouncer switches to postgres
# (-u), so they may stay in the (private) cache dir; it is never reloaded
# with SIGHUP (it could not re-read them), a change restarts it.
write_pgbouncer_config() {
  mkdir -p "$PGB_DIR"
  chmod 700 "$PGB_DIR"
  ( umask 077
    install_file "$PGB_USERLIST" <<EOF || true
"$PG_USER" "$PG_PASSWORD"
EOF
  )
  install_file "$PGB_INI" <<EOF || true
; Written by kafka2pg scripts/services.sh; edits are overwritten.
[databases]
; every database name goes to the same database of the project's cluster
* = host=127.0.0.1 port=$PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
; TCP only: no socket in /tmp shared with other instances
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $PGB_USERLIST
admin_users = $PG_USER
stats_users = $PG_USER
pool_mode = transaction
; SHOW STATS' totals are refreshed every stats_period (60 s by default):
; e2e's TestPooler reads them right after its suite
stats_period = 1
log_stats = 0
max_client_conn = 1000
default_pool_size = 20
; at most this many server connections per user, below max_connections (200)
max_user_connections = 100
server_idle_timeout = 30
ignore_startup_parameters = extra_float_digits
; log to stderr, which the script sends to $PGB_LOG; the pid file is the script's
logfile =
pidfile =
log_connections = 0
log_disconnections = 0
EOF
}

pgb_config_fp() { cat "$PGB_INI" "$PGB_USERLIST" | sha256sum | cut -d' ' -f1; }

is_our_pgbouncer() { # $1 = pid
  pid_alive "$1" || return 1
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = pgbouncer ] || return 1
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ "$cmd" == *" $PGB_INI"* ]]
}

# Prints PgBouncer's pid if it is running; fixes a stale or missing pid file.
pgb_pid() {
  local pid=""
  if [ -f "$PGB_PIDFILE" ]; then
    pid=$(tr -dc '0-9' 2>/dev/null <"$PGB_PIDFILE" || true)
    if is_our_pgbouncer "$pid"; then echo "$pid"; return 0; fi
    rm -f "$PGB_PIDFILE"
  fi
  local f
  for f in /proc/[0-9]*/comm; do
    [ "$(cat "$f" 2>/dev/null)" = pgbouncer ] || continue
    pid=${f#/proc/}; pid=${pid%/comm}
    if is_our_pgbouncer "$pid"; then
      [ -d "$PGB_DIR" ] && echo "$pid" >"$PGB_PIDFILE"
      echo "$pid"
      return 0
    fi
  done
  return 1
}

pgb_probe() { # a query through the pooler, authenticated like the tests
  local v
  v=$(pg_version)
  [ "$(PGCONNECT_TIMEOUT=3 "/usr/lib/postgresql/$v/bin/psql" "$PGBOUNCER_URL" -X -A -t -q \
    -c 'SELECT 1' </dev/null 2>/dev/null)" = 1 ]
}

pgb_log_tail() {
  log "---- tail of $PGB_LOG ----"
  tail -n 20 "$PGB_LOG" >&2 2>/dev/null || true
}

pgbouncer_start() {
  if port_open 127.0.0.1 "$PGBOUNCER_PORT"; then
    die "port 127.0.0.1:$PGBOUNCER_PORT is taken by a process that is not this script's PgBouncer ($PGB_INI); stop it first"
  fi
  need_priv
  local bin
  bin=$(pgb_bin)
  rm -f "$PGB_PIDFILE"
  pgb_config_fp >"$PGB_STARTED_FP"
  log "starting PgBouncer on 127.0.0.1:$PGBOUNCER_PORT (log: $PGB_LOG)"
  # Detached like the broker; started as root (or through sudo) so it reads
  # its files, then it becomes postgres (-u). stderr is its log.
  setsid nohup "${SUDO[@]}" "$bin" -u postgres "$PGB_INI" </dev/null >>"$PGB_LOG" 2>&1 9>&- &
  local deadline=$((SECONDS + PGB_READY_TIMEOUT)) pid=""
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ -z "$pid" ]; then pid=$(pgb_pid) || pid=""; fi
    if [ -n "$pid" ] && ! pid_alive "$pid"; then
      pgb_log_tail
      die "PgBouncer (pid $pid) exited during startup"
    fi
    if [ -n "$pid" ] && port_open 127.0.0.1 "$PGBOUNCER_PORT" && pgb_probe; then
      log "PgBouncer up (pid $pid)"
      return 0
    fi
    sleep 0.3
  done
  pgb_log_tail
  die "PgBouncer did not answer on 127.0.0.1:$PGBOUNCER_PORT within ${PGB_READY_TIMEOUT}s"
}

pgbouncer_stop() {
  local pid
  pid=$(pgb_pid) || { log "PgBouncer not running"; rm -f "$PGB_PIDFILE"; return 0; }
  log "stopping PgBouncer (pid $pid)"
  # SIGTERM: immediate shutdown (SIGINT would wait for clients).
  "${SUDO[@]}" kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  if pid_alive "$pid"; then
    log "PgBouncer still alive after 10 s; killing it"
    "${SUDO[@]}" kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      pid_alive "$pid" || break
      sleep 0.1
    done
  fi
  rm -f "$PGB_PIDFILE"
}

pgbouncer_up() {
  ensure_pgbouncer_installed
  write_pgbouncer_config
  local pid
  if pid=$(pgb_pid); then
    if [ "$(cat "$PGB_STARTED_FP" 2>/dev/null || true)" != "$(pgb_config_fp)" ]; then
      log "restarting PgBouncer (pid $pid): its configuration changed"
    elif pgb_probe; then
      log "PgBouncer already running (pid $pid)"
      return 0
    else
      log "PgBouncer (pid $pid) does not answer; restarting it"
    fi
    pgbouncer_stop
  fi
  pgbouncer_start
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
  printf 'export KAFKA2PG_TEST_TLS_BROKERS=%q\n' "$KAFKA_HOST:$KAFKA_SSL_PORT"
  printf 'export KAFKA2PG_TEST_SASL_SSL_BROKERS=%q\n' "$KAFKA_HOST:$KAFKA_SASL_SSL_PORT"
  printf 'export KAFKA2PG_TEST_MTLS_BROKERS=%q\n' "$KAFKA_HOST:$KAFKA_MTLS_PORT"
  printf 'export KAFKA2PG_TEST_CA_FILE=%q\n' "$CA_FILE"
  printf 'export KAFKA2PG_TEST_UNTRUSTED_CA_FILE=%q\n' "$UNTRUSTED_CA_FILE"
  printf 'export KAFKA2PG_TEST_CLIENT_CERT_FILE=%q\n' "$CLIENT_CERT"
  printf 'export KAFKA2PG_TEST_CLIENT_KEY_FILE=%q\n' "$CLIENT_KEY"
  printf 'export KAFKA2PG_TEST_PG_TLS_URL=%q\n' "$PG_TLS_URL"
  printf 'export KAFKA2PG_TEST_PG_CERT_URL=%q\n' "$PG_CERT_URL"
  printf 'export KAFKA2PG_TEST_PGBOUNCER_URL=%q\n' "$PGBOUNCER_URL"
  printf 'export KAFKA2PG_TEST_PROXIED_BROKERS=%q\n' "$KAFKA_HOST:$KAFKA_PROXIED_ADV_PORT"
  printf 'export KAFKA2PG_TEST_PROXIED_UPSTREAM=%q\n' "$KAFKA_HOST:$KAFKA_PROXIED_PORT"
}

cmd_status() {
  local ok=0 pid v
  if pid=$(kafka_pid) && port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    echo "kafka: up (Kafka $(kafka_version), pid $pid, $KAFKA_HOST:$KAFKA_PORT, SASL $KAFKA_HOST:$KAFKA_SASL_PORT)"
    if kafka_all_ports_open; then
      echo "kafka-tls: up (SSL $KAFKA_HOST:$KAFKA_SSL_PORT, SASL_SSL $KAFKA_HOST:$KAFKA_SASL_SSL_PORT, mTLS $KAFKA_HOST:$KAFKA_MTLS_PORT)"
    else
      echo "kafka-tls: down (the broker runs without its TLS listeners; '$0 up' restarts it)"
      ok=1
    fi
    if port_open "$KAFKA_HOST" "$KAFKA_PROXIED_PORT"; then
      echo "kafka-proxied: up (listens $KAFKA_HOST:$KAFKA_PROXIED_PORT, advertises $KAFKA_HOST:$KAFKA_PROXIED_ADV_PORT for the fault tests' proxy)"
    else
      echo "kafka-proxied: down (the broker runs without its PROXIED listener; '$0 up' restarts it)"
      ok=1
    fi
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
  if pid=$(pgb_pid) && port_open 127.0.0.1 "$PGBOUNCER_PORT"; then
    echo "pgbouncer: up (pid $pid, 127.0.0.1:$PGBOUNCER_PORT, pool_mode=transaction)"
  elif [ -n "${pid:-}" ]; then
    echo "pgbouncer: starting or unresponsive (pid $pid, 127.0.0.1:$PGBOUNCER_PORT not answering)"
    ok=1
  elif [ -z "$(pgb_bin)" ]; then
    echo "pgbouncer: down (not installed)"
    ok=1
  else
    echo "pgbouncer: down"
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
      ensure_tls
      pg_up
      pgbouncer_up
      kafka_up
      log "services up ($((SECONDS - t0)) s)"
      print_env
      ;;
    down)
      lock
      pgbouncer_stop
      kafka_stop
      pg_down
      ;;
    restart-kafka)
      lock
      ensure_tls
      ensure_kafka_libs
      write_kafka_config
      kafka_stop
      kafka_start
      kafka_ensure_scram
      kafka_check_tls
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
