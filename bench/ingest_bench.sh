#!/usr/bin/env bash
# Server ingest benchmarks (issue 3's targets): starts a Release nimbusd on a
# loopback port with a temporary data directory, drives it with
# bench/ingest_client, prints one line per scenario, and stops it.
#
#   make release && bench/ingest_bench.sh [build-release]
set -euo pipefail
build="${1:-build-release}"
port=50099
dir="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

"$build/tools/nimbusd" --listen=127.0.0.1:$port --data_dir="$dir/db" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q listening "$dir/log" 2>/dev/null && break; sleep 0.1; done
client="$build/bench/ingest_client --target=127.0.0.1:$port"

echo "== PutMetricSeries, 10,000 series x 360 points at 10 s, 100 series a request, 4 clients, dataset sent 5 times"
$client --mode=series --series=10000 --points_per_series=360 --clients=4 --repeat=5
echo "== PutMetricData, 1000 single-point datums a request, 10,000 series, 4 clients"
$client --mode=datums --series=10000 --points_per_series=300 --clients=4 --namespace_name=Datums
echo "== PutMetricData at 250,000 points/s (half the 500 k target), latency"
$client --mode=datums --series=10000 --points_per_series=300 --clients=4 --rate=250000 --namespace_name=Paced

stats() {
  # heap_bytes_in_use and memtable_bytes from GetServerStats, via the client's
  # own stub would need code; buf (npm @bufbuild/buf) is used when present.
  buf curl --protocol grpc "http://127.0.0.1:$port/nimbus.v1.MetricsService/GetServerStats" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("seriesCount",0), d.get("heapBytesInUse",0), d.get("memtableBytes",0), d.get("headPoints",0))'
}
if command -v buf >/dev/null; then
  echo "== Memory per active series: 3 steps of 50,000 new series with 32 points each (all in heads)"
  prev=""
  for ns in MemA MemB MemC; do
    $client --mode=series --series=50000 --points_per_series=32 --clients=2 --batch_series=1000 --namespace_name=$ns >/dev/null
    read -r series heap mem head < <(stats)
    rss=$(awk '/VmRSS/ {print $2 * 1024}' /proc/$pid/status)
    if [[ -n "$prev" ]]; then
      read -r pseries pheap pmem prss <<<"$prev"
      python3 -c "print('series=%d heap_per_series=%.0f B (heap growth minus memtable growth) rss_per_series=%.0f B' % ($series, (($heap-$pheap)-($mem-$pmem))/($series-$pseries), ($rss-$prss)/($series-$pseries)))"
    fi
    prev="$series $heap $mem $rss"
  done
fi
