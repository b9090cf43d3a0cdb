#!/usr/bin/env bash
# The load-harness benchmarks (issue 4), each against a fresh Release nimbusd
# on a loopback port, client and server sharing the machine.
#
#   make release && bench/loadgen_bench.sh [build-release] > results.txt
set -euo pipefail
build="${1:-build-release}"
port=50098
loadgen="$build/tools/nimbus-loadgen --target=127.0.0.1:$port"
dir=""
pid=""

start() {  # start [nimbusd flags...]
  stop
  dir="$(mktemp -d)"
  "$build/tools/nimbusd" --listen=127.0.0.1:$port --data_dir="$dir/db" \
    --port_file="$dir/port" "$@" >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do [[ -s "$dir/port" ]] && return; sleep 0.05; done
  echo "nimbusd did not start" >&2; exit 1
}
stop() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=""
  [[ -n "$dir" ]] && rm -rf "$dir"
  dir=""
}
trap stop EXIT
field() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

echo "== 1. Ingest, 10,000 series x 360 points (10 s, 1 hour)"
for rpc in PutMetricSeries StreamMetricSeries PutMetricData; do
  for c in 1 2 4; do
    start
    $loadgen --rpc=$rpc --series=10000 --duration=1h --concurrency=$c --json="$dir/r.json" 2>/dev/null
    echo "$rpc streams=$c $(field "$dir/r.json" "'%.2f M points/s, latency ms p50 %.2f p99 %.2f p99.9 %.2f max %.2f, client cpu %.2f s' % (d['points_per_second']/1e6, d['latency_ms']['p50'], d['latency_ms']['p99'], d['latency_ms']['p99.9'], d['latency_ms']['max'], d['client_cpu_seconds'])")"
  done
done
echo "== 1b. Ingest, 100,000 series x 60 points (10 s, 10 minutes), 4 streams"
for rpc in PutMetricSeries PutMetricData; do
  start
  $loadgen --rpc=$rpc --series=100000 --duration=10m --concurrency=4 --json="$dir/r.json" 2>/dev/null
  echo "$rpc $(field "$dir/r.json" "'%.2f M points/s, latency ms p50 %.2f p99 %.2f, server resident %.0f bytes/series' % (d['points_per_second']/1e6, d['latency_ms']['p50'], d['latency_ms']['p99'], d['server']['resident_bytes']/d['server']['series'])")"
done

echo "== 2. Storage: bytes/point after sealing every head and a full compaction (index included)"
for rpc in PutMetricSeries PutMetricData; do
  start
  $loadgen --rpc=$rpc --series=10000 --duration=1h --concurrency=4 2>/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  bytes=$("$build/tools/nimbusd" --data_dir="$dir/db" --compact | awk '{print $(NF-3)}')
  echo "$rpc $bytes bytes for 3,600,000 points: $(python3 -c "print('%.3f' % ($bytes / 3.6e6))") bytes/point"
done

echo "== 3. Queries: GetMetricStatistics, one series, 1 hour at 5-minute periods, 10,000 series loaded"
start
$loadgen --rpc=PutMetricSeries --series=10000 --duration=1h --concurrency=4 2>/dev/null
for c in 1 4; do
  $loadgen --mode=query --series=10000 --duration=1h --concurrency=$c --run_time=5s --json="$dir/q.json" 2>/dev/null
  echo "query streams=$c $(field "$dir/q.json" "'%.0f queries/s, latency ms p50 %.3f p99 %.3f p99.9 %.3f' % (d['queries_per_second'], d['latency_ms']['p50'], d['latency_ms']['p99'], d['latency_ms']['p99.9'])")"
done

echo "== 3b. 1000 series, 1 hour each, as 1000 GetMetricStatistics calls one after another (no server-side aggregate before GetMetricData)"
$loadgen --mode=query --series=10000 --duration=1h --concurrency=1 --query_batch=1000 --run_time=5s --json="$dir/q.json" 2>/dev/null
echo "batch of 1000 $(field "$dir/q.json" "'latency ms p50 %.1f p99 %.1f' % (d['latency_ms']['p50'], d['latency_ms']['p99'])")"

echo "== 4. Recovery: kill -9 with 10 M points only in the ingest log, time until serving again"
start --head_seal_points=100000000
$loadgen --rpc=PutMetricSeries --series=10000 --duration=10000s --interval=10s --concurrency=4 --json="$dir/r.json" 2>/dev/null
echo "loaded $(field "$dir/r.json" "d['points_acknowledged']") points (server accepted $(field "$dir/r.json" "d['server']['points_stored']"))"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=""
rm -f "$dir/port"
t0=$(date +%s.%N)
"$build/tools/nimbusd" --listen=127.0.0.1:$port --data_dir="$dir/db" --port_file="$dir/port" \
  --head_seal_points=100000000 >"$dir/log" 2>&1 &
pid=$!
while [[ ! -s "$dir/port" ]]; do sleep 0.01; done
t1=$(date +%s.%N)
echo "restart to serving: $(python3 -c "print('%.2f s' % ($t1 - $t0))")"
if command -v buf >/dev/null; then
  echo "replayed into heads: $(buf curl --protocol grpc http://127.0.0.1:$port/nimbus.v1.MetricsService/GetServerStats | python3 -c 'import json,sys; print(json.load(sys.stdin).get("headPoints"))') points"
fi

echo "== 5. Memory: resident set per active series at 100,000 series (32 points each in heads, default flags)"
start
base=$(awk '/VmRSS/ {print $2 * 1024}' /proc/$pid/status)
$loadgen --rpc=PutMetricSeries --series=100000 --duration=320s --concurrency=2 --json="$dir/r.json" 2>/dev/null
rss=$(field "$dir/r.json" "d['server']['resident_bytes']")
heap=$(field "$dir/r.json" "d['server']['heap_bytes_in_use']")
mem=$(buf curl --protocol grpc http://127.0.0.1:$port/nimbus.v1.MetricsService/GetServerStats 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("memtableBytes", 0))' || echo 0)
echo "resident $rss bytes (idle server $base): $(python3 -c "print('%.0f' % (($rss - $base) / 1e5))") bytes/series over the idle server, $(python3 -c "print('%.0f' % (($rss - $base - $mem) / 1e5))") without the $mem bytes of memtables; heap in use $(python3 -c "print('%.0f' % (($heap - $mem) / 1e5))") bytes/series without memtables"
