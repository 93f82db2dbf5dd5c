#!/usr/bin/env bash
# npm run bench: every benchmark, one after the other, each bounded in time; tables on stdout.
# The targets run in their own processes (bench/target.ts), so the figures are the exporter's.
# Each script also runs alone: npx tsx bench/<name>.ts --help-free flags as in its header.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh blackbox >&2
# wrk: the physical limit in the throughput table (Debian package wrk); the table says SKIPPED without it.
command -v wrk >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get install -y wrk >/dev/null 2>&1; } || true
echo "# patrol_exporter benchmarks"
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Node $(node --version)"
status=0
run() {
  local limit=$1; shift
  echo
  echo "## $*"
  timeout --signal=TERM "$limit" npx tsx "$@" || { echo "FAILED or timed out: $* (exit $?)"; status=1; }
}
run 200 bench/throughput.ts --concurrency=64 --sizes=100,1000,5000 --blackbox-seconds=5 --wrk-seconds=5
run 120 bench/clients.ts --concurrency=64 --requests=20000
run 240 bench/scrape.ts --sizes=1000,5000 --seconds=10 --connections=50
run 150 bench/history.ts --days=30 --services=100
run 100 bench/settle.ts --lags=0,2,10 --polls=250ms,1s,2s
run 240 --expose-gc bench/faults.ts --services=1000 --rounds=100
exit $status
