#!/usr/bin/env bash
# Installs the Debian packages Nimbus needs to build and test. Idempotent: it
# checks each package with dpkg first, runs `apt-get update` at most once, and
# installs only what is missing. Runs as root, or through sudo otherwise.
#
#   tools/install-deps.sh           # build + test dependencies
#   tools/install-deps.sh --clang   # also clang (for `make tsa`)
#   tools/install-deps.sh --fuzz    # also clang and libFuzzer (for `make fuzz`)
#   tools/install-deps.sh --bench   # also VictoriaMetrics, perf and curl (for
#                                   # bench/peer_compare.sh)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  librocksdb-dev libgrpc++-dev libprotobuf-dev protobuf-compiler
  protobuf-compiler-grpc grpc-proto libgoogle-perftools-dev
)
for arg in "$@"; do
  case "$arg" in
    --clang) packages+=(clang) ;;
    --fuzz) packages+=(clang libclang-rt-dev) ;;
    --bench) packages+=(victoria-metrics linux-perf curl) ;;
    *) echo "install-deps: unknown option $arg (use --clang, --fuzz or --bench)" >&2; exit 2 ;;
  esac
done

# Each package once, in order (--clang --fuzz both name clang).
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | awk '!seen[$0]++')

missing=()
for p in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
