#!/usr/bin/env bash
# rekor.sh runs a real Rekor v1 on loopback for the tests of internal/rekor:
# Trillian (log server + signer on MariaDB), then rekor-server with an
# signing key of its own and Redis as its search index.
#
#   bash scripts/rekor.sh up       build (once), start, print REKOR_URL=http://127.0.0.1:PORT
#   bash scripts/rekor.sh status   print REKOR_URL=... and exit 0 if up, exit 1 if not
#   bash scripts/rekor.sh down     stop what "up" started and drop its database
#   bash scripts/rekor.sh spare start|stop
#                                  a second rekor-server on the same log and key (its URL printed), for tests
#                                  that stop it to make an outage
#
#   ATTESTD_REKOR_URL=$(bash scripts/rekor.sh up | sed -n 's/^REKOR_URL=//p') go test ./internal/rekor/...
#
# The binaries are built with "go install" into $ATTESTD_REKOR_CACHE/bin and reused; the cold build takes
# about four minutes. Run state (URL, PIDs, logs) lives in $ATTESTD_REKOR_CACHE/run. "up" is idempotent, "down"
# stops only the processes "up" recorded (checked by PID and executable) and leaves MariaDB and Redis running
# unless "up" had to start them. Each "up" makes a new signing key: a new, empty log.
set -euo pipefail

TRILLIAN_VERSION=v1.7.3
REKOR_VERSION=v1.5.4

CACHE=${ATTESTD_REKOR_CACHE:-$HOME/.cache/attestd-rekor}
BIN=$CACHE/bin
RUN=$CACHE/run
DB=${ATTESTD_REKOR_DB:-attestd_trillian}
PORT=${ATTESTD_REKOR_PORT:-} # rekor-server's port; empty: the first free one from 3077
METRICS_PORT=2112            # hard-coded in rekor-server, bound to all interfaces unless taken first
MYSQL=(mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -u root --batch --skip-column-names)
SERVICES=(rekor-spare rekor-server metrics-guard trillian_log_signer trillian_log_server) # stop order

die() {
  echo "rekor.sh: $*" >&2
  exit 1
}

# fail_log prints the end of a service's log, then dies.
fail_log() { # name message
  echo "rekor.sh: $2; last lines of $RUN/$1.log:" >&2
  tail -n 25 "$RUN/$1.log" >&2 2>/dev/null || true
  exit 1
}

wait_for() { # seconds description command...: the description is for the reader
  local deadline=$((SECONDS + $1))
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

port_taken() { ! port_free "$1"; }

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1"); }

port_free() { # port
  python3 -c 'import socket,sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(1)' "$1"
}

free_port() { # first candidate
  local p
  for ((p = $1; p < $1 + 100; p++)); do
    if port_free "$p"; then
      echo "$p"
      return 0
    fi
  done
  die "no free port in $1-$(($1 + 99))"
}

# alive NAME: the recorded PID runs the recorded executable (a recycled PID does not count).
alive() {
  local pid exe
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  exe=$(cat "$RUN/$1.exe" 2>/dev/null) || return 1
  [ -n "$pid" ] || return 1
  case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in
  "$exe" | "$exe (deleted)") return 0 ;; # "(deleted)": the binary was rebuilt while it ran
  *) return 1 ;;
  esac
}

none_alive() { # names...
  local s
  for s in "$@"; do
    if alive "$s"; then return 1; fi
  done
}

# start NAME EXECUTABLE ARGS...: runs in its own session so that it outlives the caller's process group.
start() {
  local name=$1 exe
  shift
  exe=$(readlink -f "$(command -v "$1")")
  setsid "$@" </dev/null >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
  disown $!
  echo "$exe" >"$RUN/$name.exe"
}

build() {
  local stamp="$BIN/.versions" want="trillian=$TRILLIAN_VERSION+mysql rekor=$REKOR_VERSION"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] &&
    [ -x "$BIN/trillian_log_server" ] && [ -x "$BIN/trillian_log_signer" ] &&
    [ -x "$BIN/createtree" ] && [ -x "$BIN/rekor-server" ]; then
    return 0
  fi
  mkdir -p "$BIN"
  echo "rekor.sh: building Trillian $TRILLIAN_VERSION and rekor-server $REKOR_VERSION into $BIN (about 4 minutes cold)" >&2
  local log=$CACHE/build.log
  # Outside any module, so that the repository's go.mod plays no part.
  if ! (cd "$CACHE" && export GOBIN="$BIN" GOFLAGS=-mod=mod GOTOOLCHAIN=local &&
    go install -tags mysql \
      "github.com/google/trillian/cmd/trillian_log_server@$TRILLIAN_VERSION" \
      "github.com/google/trillian/cmd/trillian_log_signer@$TRILLIAN_VERSION" \
      "github.com/google/trillian/cmd/createtree@$TRILLIAN_VERSION" &&
    go install "github.com/sigstore/rekor/cmd/rekor-server@$REKOR_VERSION") >"$log" 2>&1; then
    echo "rekor.sh: build failed; last lines of $log:" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
  echo "$want" >"$stamp"
}

schema() {
  local dir
  dir=$(cd "$CACHE" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "github.com/google/trillian@$TRILLIAN_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') || die "cannot find module github.com/google/trillian@$TRILLIAN_VERSION"
  [ -f "$dir/storage/mysql/schema/storage.sql" ] || die "no storage.sql in $dir"
  echo "$dir/storage/mysql/schema/storage.sql"
}

redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

ensure_backends() {
  if ! "${MYSQL[@]}" -e 'SELECT 1' >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    echo 1 >"$RUN/started-mariadb"
    wait_for 60 MariaDB "${MYSQL[@]}" -e 'SELECT 1' || die "MariaDB does not answer on 127.0.0.1:3306"
  fi
  if ! redis_up; then
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null
    echo 1 >"$RUN/started-redis"
    wait_for 30 Redis redis_up ||
      die "Redis does not answer on 127.0.0.1:6379 (see /var/log/redis/ci.log)"
  fi
}

rekor_answers() { # url
  python3 -c 'import sys,urllib.request
with urllib.request.urlopen(sys.argv[1] + "/api/v1/log", timeout=2) as r: sys.exit(0 if r.status == 200 else 1)' "$1"
}

status() {
  local url s
  url=$(cat "$RUN/url" 2>/dev/null) || return 1
  for s in "${SERVICES[@]}"; do
    [ "$s" != rekor-spare ] || continue # started by "spare start" alone
    [ "$s" != metrics-guard ] || [ -f "$RUN/$s.pid" ] || continue # not started when the port was taken
    alive "$s" || return 1
  done
  rekor_answers "$url" || return 1
  echo "REKOR_URL=$url"
}

# stop_services stops the recorded processes: SIGTERM to all, then SIGKILL to those still running three seconds
# later (the Trillian servers take 7-12 s to shut down gracefully, and their database is dropped anyway).
stop_services() {
  local s running=()
  for s in "${SERVICES[@]}"; do
    if alive "$s"; then
      kill "$(cat "$RUN/$s.pid")" 2>/dev/null || true
      running+=("$s")
    fi
  done
  if [ ${#running[@]} -gt 0 ] && ! wait_for 3 "services to stop" none_alive "${running[@]}"; then
    for s in "${running[@]}"; do
      if alive "$s"; then kill -KILL "$(cat "$RUN/$s.pid")" 2>/dev/null || true; fi
    done
  fi
  for s in "${SERVICES[@]}"; do
    rm -f "$RUN/$s.pid" "$RUN/$s.exe"
  done
  rm -f "$RUN/url" "$RUN/tree-id" "$RUN/trillian-rpc" "$RUN/signer.pem" "$RUN/spare-url"
}

up() {
  mkdir -p "$RUN"
  if status; then
    return 0
  fi
  build
  stop_services # leftovers of a run that died
  # A failed "up" stops what it started; the logs stay for reading.
  trap 'if [ $? -ne 0 ]; then stop_services; fi' EXIT
  ensure_backends

  local sql
  sql=$(schema)
  { echo "DROP DATABASE IF EXISTS \`$DB\`; CREATE DATABASE \`$DB\`; USE \`$DB\`;" && cat "$sql"; } |
    "${MYSQL[@]}" >"$RUN/schema.log" 2>&1 || fail_log schema "loading $sql into $DB failed"

  local rpc http srpc shttp uri="root@tcp(127.0.0.1:3306)/$DB"
  rpc=$(free_port 3090)
  http=$(free_port $((rpc + 1)))
  start trillian_log_server "$BIN/trillian_log_server" --storage_system=mysql --quota_system=noop \
    --mysql_uri="$uri" --rpc_endpoint="127.0.0.1:$rpc" --http_endpoint="127.0.0.1:$http"
  srpc=$(free_port $((http + 1)))
  shttp=$(free_port $((srpc + 1)))
  start trillian_log_signer "$BIN/trillian_log_signer" --storage_system=mysql --quota_system=noop \
    --mysql_uri="$uri" --rpc_endpoint="127.0.0.1:$srpc" --http_endpoint="127.0.0.1:$shttp" --force_master
  wait_for 30 "Trillian" tcp_open "$rpc" || fail_log trillian_log_server "trillian_log_server does not listen"
  alive trillian_log_signer || fail_log trillian_log_signer "trillian_log_signer exited"

  local tree
  tree=$("$BIN/createtree" --admin_server="127.0.0.1:$rpc" --display_name=attestd-test 2>"$RUN/createtree.log") ||
    fail_log createtree "createtree failed"
  echo "$tree" >"$RUN/tree-id"

  # rekor-server serves /metrics on ":2112" with no flag to move it; holding 127.0.0.1:2112 first makes its
  # bind fail (it ignores that error), so nothing of this test rig listens beyond loopback.
  # If another process holds the port already, rekor-server's bind fails just the same.
  rm -f "$RUN/metrics-guard.pid"
  if port_free "$METRICS_PORT"; then
    local py
    py=$(readlink -f "$(python3 -c 'import sys; print(sys.executable)')") # not the pyenv shim: alive() compares executables
    start metrics-guard "$py" -c 'import signal,socket,sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
signal.pause()' "$METRICS_PORT"
    wait_for 10 "metrics guard" port_taken "$METRICS_PORT" || fail_log metrics-guard "cannot hold 127.0.0.1:$METRICS_PORT"
  fi

  PORT=${PORT:-$(free_port 3077)}
  port_free "$PORT" || die "port $PORT is taken"
  # A signing key on disk, not in memory, so that stop-server and start-server keep the log's identity.
  openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$RUN/signer.pem" ||
    die "cannot make rekor-server's signing key"
  echo "$rpc" >"$RUN/trillian-rpc"
  start_rekor rekor-server "http://127.0.0.1:$PORT" "$rpc" "$tree"
  local s
  for s in "${SERVICES[@]}"; do
    [ "$s" != rekor-spare ] || continue # started by "spare start" alone
    [ "$s" != metrics-guard ] || [ -f "$RUN/$s.pid" ] || continue
    alive "$s" || fail_log "$s" "$s exited"
  done
  echo "http://127.0.0.1:$PORT" >"$RUN/url"
  trap - EXIT
  echo "REKOR_URL=http://127.0.0.1:$PORT"
}

# start_rekor NAME URL TRILLIAN_RPC_PORT TREE_ID starts a rekor-server and waits until it answers.
start_rekor() {
  local name=$1 url=$2 port=${2##*:}
  shift
  start "$name" "$BIN/rekor-server" serve --log_type=prod \
    --rekor_server.address=127.0.0.1 --port="$port" --rekor_server.hostname=attestd-test-rekor \
    --rekor_server.signer="$RUN/signer.pem" --search_index.storage_provider=redis \
    --redis_server.address=127.0.0.1 --redis_server.port=6379 \
    --trillian_log_server.address=127.0.0.1 --trillian_log_server.port="$2" \
    --trillian_log_server.tlog_id="$3"
  if ! wait_for 60 "$name" rekor_answers "$url"; then
    alive "$name" || fail_log "$name" "$name exited"
    fail_log "$name" "$name does not answer $url/api/v1/log"
  fi
}

# The spare is a second rekor-server in front of the same Trillian log, with the same key: "spare start"
# prints its URL, "spare stop" stops it. Tests that need an outage stop and start the spare, so that the
# other tests, which use the main one, run on undisturbed.
spare_stop() {
  alive rekor-spare || return 0
  kill "$(cat "$RUN/rekor-spare.pid")" 2>/dev/null || true
  if ! wait_for 10 "the spare rekor-server to stop" none_alive rekor-spare; then
    kill -KILL "$(cat "$RUN/rekor-spare.pid")" 2>/dev/null || true
    wait_for 5 "the spare rekor-server to die" none_alive rekor-spare || die "the spare rekor-server does not stop"
  fi
}

spare_start() {
  [ -f "$RUN/url" ] || die "not up: run bash scripts/rekor.sh up"
  local url
  if ! url=$(cat "$RUN/spare-url" 2>/dev/null); then
    url="http://127.0.0.1:$(free_port 3177)"
    echo "$url" >"$RUN/spare-url"
  fi
  if ! alive rekor-spare; then
    start_rekor rekor-spare "$url" "$(cat "$RUN/trillian-rpc")" "$(cat "$RUN/tree-id")"
  fi
  echo "REKOR_URL=$url"
}

down() {
  [ -d "$RUN" ] || return 0
  stop_services
  if "${MYSQL[@]}" -e 'SELECT 1' >/dev/null 2>&1; then
    "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS \`$DB\`" || die "cannot drop database $DB"
  fi
  if [ -f "$RUN/started-redis" ]; then
    redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true
    rm -f "$RUN/started-redis"
  fi
  if [ -f "$RUN/started-mariadb" ]; then
    mariadb-admin --protocol=tcp -h 127.0.0.1 -u root shutdown >/dev/null 2>&1 || true
    rm -f "$RUN/started-mariadb"
  fi
}

case "${1:-}" in
up) up ;;
down) down ;;
spare) case "${2:-}" in
  start) spare_start ;;
  stop) spare_stop ;;
  *) echo "usage: bash scripts/rekor.sh spare start|stop" >&2; exit 2 ;;
  esac ;;
status) status || {
  echo "rekor.sh: not running" >&2
  exit 1
} ;;
*)
  echo "usage: bash scripts/rekor.sh up|down|status|spare start|spare stop" >&2
  exit 2
  ;;
esac
