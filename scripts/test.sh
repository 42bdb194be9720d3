#!/usr/bin/env bash
# make test: every test of the module. With ATTESTD_REQUIRE_REKOR=1 and no ATTESTD_REKOR_URL, it first brings up
# the real Rekor of scripts/rekor.sh (built once, about four minutes cold; reused after) and points the tests at
# it; it leaves it running for the next run: stop it with bash scripts/rekor.sh down.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${ATTESTD_REQUIRE_REKOR:-}" = 1 ] && [ -z "${ATTESTD_REKOR_URL:-}" ]; then
  url=$(bash scripts/rekor.sh up | sed -n 's/^REKOR_URL=//p')
  [ -n "$url" ] || { echo "test.sh: scripts/rekor.sh up printed no REKOR_URL" >&2; exit 1; }
  export ATTESTD_REKOR_URL=$url
  echo "test.sh: Rekor at $url (bash scripts/rekor.sh down stops it)" >&2
fi
exec "${GO:-go}" test -count=1 "$@" ./...
