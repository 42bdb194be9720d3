#!/usr/bin/env bash
# Runs the load suite of docs/performance.md against a fresh attestd on a fresh PostgreSQL database, on this
# machine, and prints what attestd-load prints. Usage:
#
#   bash scripts/load.sh [submit|rate|verify|get|rekor|soak|all] [-- extra attestd serve flags]
#
# Environment (docs/load.md has the table): COUNT (default 20000), CLIENTS (64), RATE (1500, for "rate" and
# "soak"), SOAK (10m), PG_URL (postgres://postgres@127.0.0.1:5432), PG_PARAMS (appended to attestd's database
# URL; unset: ?host=PG_SOCKET when PostgreSQL's Unix socket is there, PG_SOCKET default /var/run/postgresql),
# TMPDIR (where the data directory, and so the log, is made), ATTESTD_BIN (an attestd binary to run instead of
# building ./bin/attestd), NO_LIMITS (set: "submit" skips the limits), PROFILE and PROFILE_SECONDS (attestd's
# CPU profile of each part, PROFILE_SECONDS long, from its fifth second, saved as $PROFILE.<part>). It builds ./bin/attestd-load (and ./bin/attestd), creates the
# database attestd_load_<pid>, starts attestd on spare loopback ports, and drops the database and the data
# directory when it exits. "rekor" needs a Rekor server (bash scripts/rekor.sh up).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

what=${1:-all}
shift || true
[ "${1:-}" = "--" ] && shift
COUNT=${COUNT:-20000}
CLIENTS=${CLIENTS:-64}
RATE=${RATE:-1500}
SOAK=${SOAK:-10m}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
# attestd reaches a PostgreSQL on this machine through its Unix socket, as docs/operations.md advises (TLS
# over loopback costs both sides a tenth of their CPU); PG_PARAMS= (set, empty) keeps loopback TCP.
PG_SOCKET=${PG_SOCKET:-/var/run/postgresql}
pg_port=$(printf '%s' "$PG_URL" | sed -n 's#.*:\([0-9][0-9]*\)/*$#\1#p')
if [ -z "${PG_PARAMS+set}" ]; then
  PG_PARAMS=
  [ -S "$PG_SOCKET/.s.PGSQL.${pg_port:-5432}" ] && PG_PARAMS="?host=$PG_SOCKET"
fi
DB=attestd_load_$$
DATA=$(mktemp -d)
GRPC=127.0.0.1:17790
HTTP=127.0.0.1:17791
DEBUG=127.0.0.1:17792
PROFILE=${PROFILE:-}

ATTESTD_BIN=${ATTESTD_BIN:-}
if [ -z "$ATTESTD_BIN" ]; then
  go build -o bin/attestd ./cmd/attestd
  ATTESTD_BIN=bin/attestd
fi
go build -o bin/attestd-load ./cmd/attestd-load

psql "$PG_URL/postgres" -qc "CREATE DATABASE $DB" >/dev/null
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

"$ATTESTD_BIN" serve --database-url "$PG_URL/$DB$PG_PARAMS" --data-dir "$DATA" --grpc-listen $GRPC --http-listen $HTTP \
  --log-level warn ${PROFILE:+--debug-listen $DEBUG} "$@" >"$DATA.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -s "$DATA/admin.token" ] && curl -sf "http://$HTTP/healthz" >/dev/null && break; sleep 0.1; done

echo "## attestd's database: $PG_URL/$DB$PG_PARAMS"
# attestd warns at start-up when its log is on ext4 without a journal (docs/operations.md, "The transparency
# log"): repeat that here, since it changes what the figures mean.
if grep -q 'log directory on ext4 without a journal' "$DATA.log"; then
  echo "## note: the log is on ext4 without a journal: creating its files costs attestd more CPU than on a journaled file system (TMPDIR moves it)"
fi
load() {
  bin/attestd-load "$@" --server $GRPC --token-file "$DATA/admin.token" --pg-db "$DB" --database-url "$PG_URL/postgres$PG_PARAMS" --quiet
}
# stages prints the sum and count of attestd_submit_stage_duration_seconds for each stage, from attestd's
# /metrics: "log SUM COUNT" and "store SUM COUNT".
stages() {
  curl -sf "http://$HTTP/metrics" |
    sed -n 's/^attestd_submit_stage_duration_seconds_\(sum\|count\){stage="\([a-z]*\)"} \(.*\)$/\2 \1 \3/p' |
    awk '{v[$1" "$2]=$3; s[$1]=1} END {for (k in s) print k, v[k" sum"]+0, v[k" count"]+0}' | sort
}
# stagesSince prints the mean of each stage over the submissions made since the snapshot $1 (stages' output,
# empty before attestd's first submission).
stagesSince() {
  stages | awk -v before="$1" '
    BEGIN {n = split(before, l, "\n"); for (i = 1; i <= n; i++) {split(l[i], f, " "); s[f[1]] = f[2]; c[f[1]] = f[3]}}
    {ds = $2 - s[$1]; dc = $3 - c[$1]; if (dc > 0) out = out sprintf("  %s %.1f", $1, 1000 * ds / dc)}
    END {if (out != "") print "stages ms   " out "  (mean per new submission, from attestd'"'"'s /metrics)"}'
}
run() {
  local before
  before=$(stages || true)
  if [ -n "$PROFILE" ]; then
    (sleep 5 && curl -sf -o "$PROFILE.$1" "http://$DEBUG/debug/pprof/profile?seconds=${PROFILE_SECONDS:-10}" &&
      echo "profile of $1: $PROFILE.$1" >&2) &
  fi
  case $1 in
  submit) echo "## submit: $CLIENTS clients, $COUNT x 4 KiB ed25519, closed loop, with the machine's limits"
    load submit --clients "$CLIENTS" --count "$COUNT" "--limits=$([ -z "${NO_LIMITS:-}" ] && echo true || echo false)" ;;
  rate) echo "## submit: open loop at $RATE/s for 60 s"
    load submit --clients 256 --rate "$RATE" --duration 60s ;;
  verify) echo "## verify: 5-step layout, warm caches, 1 client, then $CLIENTS clients"
    load verify --clients 1 --count 5000
    load verify --clients "$CLIENTS" --count "$COUNT" ;;
  get) echo "## get: Get and List by digest, $CLIENTS clients"
    load get --clients "$CLIENTS" --prefill 1000 --count "$COUNT" ;;
  rekor) echo "## rekor: the same envelopes to Rekor v1, $CLIENTS clients, 60 s"
    bin/attestd-load rekor --rekor-url "${ATTESTD_REKOR_URL:-http://127.0.0.1:3077}" --clients "$CLIENTS" \
      --count "$COUNT" --duration 60s --quiet ;;
  soak) echo "## soak: $RATE/s for $SOAK, attestd's RSS sampled every second"
    load soak --clients 256 --rate "$RATE" --duration "$SOAK" ;;
  *) echo "unknown part $1" >&2; exit 2 ;;
  esac
  case $1 in submit|rate|soak) stagesSince "$before" ;; esac
}
if [ "$what" = all ]; then
  for part in submit rate verify get; do run $part; done
else
  run "$what"
fi
