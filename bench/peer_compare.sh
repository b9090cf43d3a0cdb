#!/usr/bin/env bash
# Nimbus side by side with VictoriaMetrics (issue 10): the same dataset, the
# same machine, each server alone on loopback on a fresh data directory.
#
#   bench/peer_compare.sh [build-dir]        # default build-release
#   SERIES=1000 MEM_SERIES=10000 bench/peer_compare.sh   # a quick smoke run
#
# Environment overrides (defaults in brackets): SERIES [10000], DURATION [1h],
# INTERVAL [10s], MEM_SERIES [100000], MEM_DURATION [10m], CONCURRENCY [4],
# NIMBUS_PORT [50190], VM_PORT [8439], VALUE_CHECK [1: compare every value VM
# exports with the dataset, reported, never fatal], KEEP [0: 1 keeps the
# temporary directory].
#
# What it does:
#   1. tools/install-deps.sh --bench if victoria-metrics or curl is missing;
#      builds the Release targets nimbusd and nimbus_loadgen if the build
#      directory lacks them (or has a loadgen without --write_dataset).
#   2. Two cases, one dataset each, written by nimbus-loadgen --write_dataset
#      (SERIES series, realistic labels host/region/service, DURATION at
#      INTERVAL, time-major): "current" (the DURATION that ends now) and
#      "backfill" (one that ended 2 hours ago, start = now - DURATION - 2 h).
#      Each case runs three loads, each on a fresh server and data directory:
#      VictoriaMetrics (the .prom files, 4 parallel curl to
#      /api/v1/import/prometheus, then a count of what it stored), Nimbus with
#      nimbus-loadgen --replay --rpc=PutMetricData (1000 datums a request, one
#      point each of 1000 series), and Nimbus with --rpc=PutMetricSeries.
#      Measured: wall time from first request to last acknowledgement, points/s,
#      server CPU (utime+stime of /proc/PID/stat, before and after the load) per
#      point, server VmRSS after the load.
#   3. Memory: MEM_SERIES series x MEM_DURATION at 10 s into a fresh nimbusd
#      (generated, PutMetricSeries) and the same points into a fresh
#      VictoriaMetrics; VmRSS and heap in use (Nimbus: GetServerStats'
#      heap_bytes_in_use via nimbus-loadgen --json; VictoriaMetrics:
#      go_memstats_heap_inuse_bytes of /metrics) per series.
#      A new store's rollup watermark starts at the hour it opens in, so when
#      the MEM_DURATION window begins before that hour its first points are
#      late and wait in the dirty-hour index for a pass (about 60 bytes a
#      series at 100,000 series): the script says when that was so.
#   4. Prints a markdown table and the commands it ran.
# Before each server starts, the disk is synced (settle_disk), so that no
# server's first fsync waits for the writeback of the step before it.
# Exits non-zero, loudly, if a server does not start or does not store every
# point. Client and server share the machine's cores.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(realpath -m "${1:-$root/build-release}")"
SERIES="${SERIES:-10000}"
DURATION="${DURATION:-1h}"
INTERVAL="${INTERVAL:-10s}"
MEM_SERIES="${MEM_SERIES:-100000}"
MEM_DURATION="${MEM_DURATION:-10m}"
CONCURRENCY="${CONCURRENCY:-4}"
NIMBUS_PORT="${NIMBUS_PORT:-50190}"
VM_PORT="${VM_PORT:-8439}"
VALUE_CHECK="${VALUE_CHECK:-1}"
KEEP="${KEEP:-0}"

die() { echo "peer_compare: $*" >&2; exit 1; }
say() { echo "peer_compare: $*" >&2; }

# ---- dependencies and build ----
if ! command -v victoria-metrics >/dev/null || ! command -v curl >/dev/null; then
  "$root/tools/install-deps.sh" --bench
fi
command -v python3 >/dev/null || die "python3 is needed for the arithmetic"
nimbusd="$build/tools/nimbusd"
loadgen="$build/tools/nimbus-loadgen"
targets=()
[[ -x "$nimbusd" ]] || targets+=(nimbusd)
# (--helpfull exits 1.)
if [[ ! -x "$loadgen" ]] || ! grep -q write_dataset <<<"$("$loadgen" --helpfull 2>&1 || true)"; then
  targets+=(nimbus_loadgen)
fi
# What the binaries are: the tree's commit when this script builds them;
# otherwise the tree's commit now and when nimbusd was built (it may be older).
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then commit+="+changes"; fi
if [[ ${#targets[@]} -gt 0 ]]; then
  say "building ${targets[*]} (Release) in $build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build "$build" --target "${targets[@]}"
fi
if [[ " ${targets[*]} " != *" nimbusd "* ]]; then
  commit="nimbusd built $(date -u -r "$nimbusd" +%Y-%m-%dT%H:%MZ), tree now at $commit"
fi
# (The Debian build prints an empty -version.)
vm_version="VictoriaMetrics $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo '(version unknown)')"

# ---- temporary directory, servers, cleanup ----
tmp="$(mktemp -d /tmp/peer_compare.XXXXXX)"
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=""
  if [[ "$KEEP" == 1 ]]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every command that touches a server or the data, in order (a file, so that
# command substitutions can add to it too).
logcmd() { printf '    %s\n' "$*" >>"$tmp/commands"; }

py() { python3 -c "$1"; }
# utime + stime of a process, in clock ticks (fields 14 and 15 of
# /proc/PID/stat, counted after the ')' that closes the command name).
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss() { awk '/^VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
hz="$(getconf CLK_TCK)"
now_s() { date +%s.%N; }
seconds() {  # 1h, 10m, 3600s, 90 -> seconds
  py "import re,sys; m=re.fullmatch(r'(\d+)([hms]?)', '$1') or sys.exit('bad duration $1'); print(int(m[1]) * {'h': 3600, 'm': 60, 's': 1, '': 1}[m[2]])"
}
stop_server() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=""
}
fail_start() {  # fail_start NAME LOG
  echo "peer_compare: $1 did not start; last lines of its log:" >&2
  tail -n 30 "$2" >&2 || true
  exit 1
}
# Each server starts with nothing of the steps before it (a dataset just
# written, the previous server's files) still waiting to be written back:
# its first fsync would otherwise wait for all of it (one of 1.1 s was seen).
settle_disk() { sync; }
start_vm() {  # start_vm DIR
  stop_server
  settle_disk
  mkdir -p "$1"
  local cmd=(victoria-metrics -storageDataPath="$1/vm" -httpListenAddr=127.0.0.1:$VM_PORT
             -retentionPeriod=1y -search.latencyOffset=0s -search.disableCache)
  logcmd "${cmd[*]}"
  "${cmd[@]}" >"$1/vm.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || fail_start victoria-metrics "$1/vm.log"
    curl -sf -o /dev/null "http://127.0.0.1:$VM_PORT/health" && return 0
    sleep 0.05
  done
  fail_start victoria-metrics "$1/vm.log"
}
start_nimbus() {  # start_nimbus DIR
  stop_server
  settle_disk
  mkdir -p "$1"
  local cmd=("$nimbusd" --listen=127.0.0.1:$NIMBUS_PORT --data_dir="$1/db")
  logcmd "${cmd[*]}"
  "${cmd[@]}" >"$1/nimbusd.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || fail_start nimbusd "$1/nimbusd.log"
    grep -q listening "$1/nimbusd.log" 2>/dev/null && return 0
    sleep 0.05
  done
  fail_start nimbusd "$1/nimbusd.log"
}
vm_metric() {  # vm_metric NAME: the value of an unlabelled /metrics line
  curl -sf "http://127.0.0.1:$VM_PORT/metrics" | awk -v n="$1" '$1 == n {print $2}'
}
field() { py "import json; d=json.load(open('$1')); print($2)"; }

# Results: R[case.server.measure]
declare -A R

# ---- one dataset ----
write_dataset() {  # write_dataset PREFIX SERIES DURATION [START] -> sets first_ms last_ms rows
  local cmd=("$loadgen" --write_dataset="$1" --series="$2" --duration="$3" --interval="$INTERVAL" --labels=realistic)
  [[ -n "${4:-}" ]] && cmd+=(--start="$4")
  logcmd "${cmd[*]}"
  local t0 line
  t0="$(now_s)"
  line="$("${cmd[@]}")"
  say "$line ($(py "print('%.1f' % ($(now_s) - $t0))") s)"
  rows="$(sed -n 's/.* rows=\([0-9]*\).*/\1/p' <<<"$line")"
  first_ms="$(sed -n 's/.* first_ms=\([0-9]*\).*/\1/p' <<<"$line")"
  last_ms="$(sed -n 's/.* last_ms=\([0-9]*\).*/\1/p' <<<"$line")"
  [[ -n "$rows" && "$rows" -gt 0 ]] || die "no rows in the dataset: $line"
}

vm_import() {  # vm_import PREFIX: all PREFIX.prom.* with 4 parallel curl; prints the wall seconds
  logcmd "ls $1.prom.* | xargs -P 4 -I{} curl -sS --fail-with-body --data-binary @{} http://127.0.0.1:$VM_PORT/api/v1/import/prometheus"
  local t0 t1
  t0="$(now_s)"
  ls "$1".prom.* | xargs -P 4 -I{} curl -sS --fail-with-body --data-binary @{} \
    "http://127.0.0.1:$VM_PORT/api/v1/import/prometheus" >&2 ||
    die "VictoriaMetrics refused an import request (see above)"
  t1="$(now_s)"
  py "print($t1 - $t0)"
}

vm_count() {  # vm_count: the points VictoriaMetrics stored within [first_ms, last_ms]
  curl -sf -o /dev/null "http://127.0.0.1:$VM_PORT/internal/force_flush" || die "force_flush failed"
  local window=$(( (last_ms - first_ms) / 1000 + 60 )) at=$(( last_ms / 1000 + 1 ))
  logcmd "curl http://127.0.0.1:$VM_PORT/api/v1/query --data-urlencode 'query=sum(count_over_time({__name__!=\"\"}[${window}s]))' -d time=$at -d nocache=1"
  curl -sf "http://127.0.0.1:$VM_PORT/api/v1/query" \
    --data-urlencode "query=sum(count_over_time({__name__!=\"\"}[${window}s]))" \
    -d time="$at" -d nocache=1 |
    py "import json,sys; r=json.load(sys.stdin)['data']['result']; print(int(float(r[0]['value'][1])) if r else 0)"
}

vm_value_check() {  # vm_value_check PREFIX: every exported value against the CSV
  curl -sf "http://127.0.0.1:$VM_PORT/api/v1/export" -d 'match[]={__name__!=""}' -d start=0 >"$tmp/export.jsonl"
  python3 - "$1.csv" "$tmp/export.jsonl" <<'EOF'
import json, sys
want = {}
with open(sys.argv[1]) as f:
    next(f)
    for line in f:
        k, t, v = line.rstrip('\n').rsplit(',', 2)
        want[(k, int(t))] = float(v)
got = bad = 0
worst = 0.0
by_metric = {}
for line in open(sys.argv[2]):
    d = json.loads(line)
    m = d['metric']
    k = m['__name__'] + ''.join('|%s=%s' % (n, m[n]) for n in sorted(m) if n != '__name__')
    for t, v in zip(d['timestamps'], d['values']):
        got += 1
        w = want.get((k, t))
        if w is None or w != float(v):
            bad += 1
            by_metric[m['__name__']] = by_metric.get(m['__name__'], 0) + 1
            if w is not None and w != 0:
                worst = max(worst, abs(float(v) - w) / abs(w))
print('VictoriaMetrics export: %d points, %d of %d differ from the dataset%s%s' % (
    got, bad, len(want),
    (' (by metric: %s)' % ', '.join('%s %d' % kv for kv in sorted(by_metric.items()))) if bad else '',
    (', largest relative difference %.2g' % worst) if bad else ''))
EOF
  rm -f "$tmp/export.jsonl"
}

run_vm() {  # run_vm CASE PREFIX
  local dir="$tmp/$1-vm" c0 c1 wall stored
  start_vm "$dir"
  c0="$(ticks "$pid")"
  wall="$(vm_import "$2")"
  c1="$(ticks "$pid")"
  R[$1.vm.rate]="$(py "print($rows / $wall)")"
  R[$1.vm.cpu]="$(py "print(($c1 - $c0) / $hz * 1e6 / $rows)")"
  R[$1.vm.rss]="$(rss "$pid")"
  stored="$(vm_count)"
  say "$1 VictoriaMetrics: $rows points in $(py "print('%.2f' % $wall)") s, $(py "print('%.0f' % ${R[$1.vm.rate]})") points/s, server CPU $(py "print('%.2f s, %.2f us/point' % (($c1 - $c0) / $hz, ${R[$1.vm.cpu]}))"), VmRSS $(( ${R[$1.vm.rss]} / 1048576 )) MiB; stored $stored points; load average $(cut -d' ' -f1 /proc/loadavg)"
  [[ "$stored" == "$rows" ]] || die "VictoriaMetrics stored $stored of $rows points ($1); ignored rows: $(curl -sf "http://127.0.0.1:$VM_PORT/metrics" | grep '^vm_rows_ignored_total' | tr '\n' ' ')"
  if [[ "$VALUE_CHECK" == 1 ]]; then say "$(vm_value_check "$2")"; fi
  stop_server
  rm -rf "$dir"
}

run_nimbus() {  # run_nimbus CASE PREFIX RPC
  local dir="$tmp/$1-nimbus-$3" c0 c1 key
  key="$1.$3"
  start_nimbus "$dir"
  local cmd=("$loadgen" --target=127.0.0.1:$NIMBUS_PORT --replay="$2.csv" --namespace_name=Bench
             --rpc="$3" --concurrency="$CONCURRENCY" --points_per_request=1000 --json="$dir/r.json")
  logcmd "${cmd[*]}"
  c0="$(ticks "$pid")"
  "${cmd[@]}" 2>"$dir/loadgen.err" || { cat "$dir/loadgen.err" >&2; die "nimbus-loadgen failed ($1, $3)"; }
  c1="$(ticks "$pid")"
  local acked stored wall
  acked="$(field "$dir/r.json" "d['points_acknowledged']")"
  stored="$(field "$dir/r.json" "d['server']['points_stored']")"
  wall="$(field "$dir/r.json" "d['wall_seconds']")"
  [[ "$acked" == "$rows" && "$stored" == "$rows" ]] ||
    die "Nimbus acknowledged $acked and stored $stored of $rows points ($1, $3): $(cat "$dir/loadgen.err")"
  R[$key.rate]="$(field "$dir/r.json" "d['points_per_second']")"
  R[$key.cpu]="$(py "print(($c1 - $c0) / $hz * 1e6 / $rows)")"
  R[$key.rss]="$(rss "$pid")"
  say "$1 Nimbus $3: $rows points in $(py "print('%.2f' % $wall)") s, $(py "print('%.0f' % ${R[$key.rate]})") points/s, server CPU $(py "print('%.2f s, %.2f us/point' % (($c1 - $c0) / $hz, ${R[$key.cpu]}))"), VmRSS $(( ${R[$key.rss]} / 1048576 )) MiB, client CPU $(field "$dir/r.json" "'%.2f s' % d['client_cpu_seconds']"); load average $(cut -d' ' -f1 /proc/loadavg)"
  stop_server
  rm -rf "$dir"
}

say "Nimbus ($commit; $build), $vm_version, $(nproc) cores, CLK_TCK $hz, load average $(cut -d' ' -f1-3 /proc/loadavg)"
dur_s="$(seconds "$DURATION")"
for case in current backfill; do
  start=""
  if [[ "$case" == backfill ]]; then
    start="$(date -u -d "@$(( $(date +%s) - dur_s - 7200 ))" +%Y-%m-%dT%H:%M:%SZ)"
  fi
  write_dataset "$tmp/$case" "$SERIES" "$DURATION" "$start"
  run_vm "$case" "$tmp/$case"
  run_nimbus "$case" "$tmp/$case" PutMetricData
  run_nimbus "$case" "$tmp/$case" PutMetricSeries
  rm -f "$tmp/$case".*
done

# ---- memory ----
mem_dir="$tmp/mem-nimbus"
start_nimbus "$mem_dir"
mem_open_s="$(date +%s)"
cmd=("$loadgen" --target=127.0.0.1:$NIMBUS_PORT --series="$MEM_SERIES" --duration="$MEM_DURATION" --interval=10s
     --labels=realistic --rpc=PutMetricSeries --concurrency="$CONCURRENCY" --json="$mem_dir/r.json")
logcmd "${cmd[*]}"
"${cmd[@]}" 2>"$mem_dir/loadgen.err" || { cat "$mem_dir/loadgen.err" >&2; die "nimbus-loadgen failed (memory)"; }
R[mem.nimbus.rss]="$(rss "$pid")"
R[mem.nimbus.heap]="$(field "$mem_dir/r.json" "d['server']['heap_bytes_in_use']")"
mem_series="$(field "$mem_dir/r.json" "d['server']['series']")"
[[ "$mem_series" == "$MEM_SERIES" ]] || die "Nimbus reports $mem_series series, expected $MEM_SERIES"
say "memory Nimbus: $MEM_SERIES series, VmRSS $(( ${R[mem.nimbus.rss]} / 1048576 )) MiB, heap in use $(( ${R[mem.nimbus.heap]} / 1048576 )) MiB"
if (( (mem_open_s - $(seconds "$MEM_DURATION")) / 3600 < mem_open_s / 3600 )); then
  say "memory Nimbus: the load's window began in the hour before the store opened: its points before $(date -u -d "@$(( mem_open_s / 3600 * 3600 ))" +%H:%M) UTC were late (the dirty-hour index holds about 60 bytes a series for them until a rollup pass)"
fi
stop_server
rm -rf "$mem_dir"

write_dataset "$tmp/mem" "$MEM_SERIES" "$MEM_DURATION"
start_vm "$tmp/mem-vm"
vm_import "$tmp/mem" >/dev/null
stored="$(vm_count)"
[[ "$stored" == "$rows" ]] || die "VictoriaMetrics stored $stored of $rows points (memory)"
R[mem.vm.rss]="$(rss "$pid")"
R[mem.vm.heap]="$(vm_metric go_memstats_heap_inuse_bytes)"
say "memory VictoriaMetrics: $MEM_SERIES series, VmRSS $(( ${R[mem.vm.rss]} / 1048576 )) MiB, Go heap in use $(( ${R[mem.vm.heap]} / 1048576 )) MiB"
stop_server
rm -rf "$tmp/mem-vm" "$tmp"/mem.*

say "done; load average $(cut -d' ' -f1-3 /proc/loadavg) (this script's own load is about 2)"

# ---- the table ----
python3 - "$SERIES" "$DURATION" "$INTERVAL" "$MEM_SERIES" "$MEM_DURATION" "$commit" "$vm_version" <<EOF
series, duration, interval, mem_series, mem_duration, commit, vm = __import__('sys').argv[1:]
R = {
$(for k in "${!R[@]}"; do echo "  '$k': ${R[$k]},"; done)
}
def rate(x): return '%.3f M' % (x / 1e6)
def ratio(n, v): return '%.2f' % (n / v) if v else '-'
print()
print('Nimbus (%s) vs %s; %s series x %s at %s (realistic labels, time-major), '
      'one run each, client and server on the same 2 cores' % (commit, vm, series, duration, interval))
print()
print('| measure | VictoriaMetrics | Nimbus | ratio |')
print('|---|---|---|---|')
for c in ('current', 'backfill'):
    v = R[c + '.vm.rate']
    print('| %s: PutMetricData points/s (VM: import/prometheus) | %s | %s | %s |' % (
        c, rate(v), rate(R[c + '.PutMetricData.rate']), ratio(R[c + '.PutMetricData.rate'], v)))
    print('| %s: server CPU us/point, PutMetricData | %.2f | %.2f | %s |' % (
        c, R[c + '.vm.cpu'], R[c + '.PutMetricData.cpu'], ratio(R[c + '.PutMetricData.cpu'], R[c + '.vm.cpu'])))
    print('| %s: PutMetricSeries points/s | %s | %s | %s |' % (
        c, rate(v), rate(R[c + '.PutMetricSeries.rate']), ratio(R[c + '.PutMetricSeries.rate'], v)))
    print('| %s: server CPU us/point, PutMetricSeries | %.2f | %.2f | %s |' % (
        c, R[c + '.vm.cpu'], R[c + '.PutMetricSeries.cpu'], ratio(R[c + '.PutMetricSeries.cpu'], R[c + '.vm.cpu'])))
    print('| %s: server VmRSS after the load, MiB (PutMetricData) | %.0f | %.0f | %s |' % (
        c, R[c + '.vm.rss'] / 2**20, R[c + '.PutMetricData.rss'] / 2**20,
        ratio(R[c + '.PutMetricData.rss'], R[c + '.vm.rss'])))
print('| backfill/current points/s (Nimbus: PutMetricData) | %.2f | %.2f | - |' % (
    R['backfill.vm.rate'] / R['current.vm.rate'],
    R['backfill.PutMetricData.rate'] / R['current.PutMetricData.rate']))
n = float(mem_series)
print('| memory: VmRSS bytes/series at %s series (%s at 10 s) | %.0f | %.0f | %s |' % (
    mem_series, mem_duration, R['mem.vm.rss'] / n, R['mem.nimbus.rss'] / n, ratio(R['mem.nimbus.rss'], R['mem.vm.rss'])))
print('| memory: heap in use bytes/series (VM: Go heap) | %.0f | %.0f | %s |' % (
    R['mem.vm.heap'] / n, R['mem.nimbus.heap'] / n, ratio(R['mem.nimbus.heap'], R['mem.vm.heap'])))
EOF
echo
echo "Commands (temporary paths under $tmp):"
cat "$tmp/commands"
