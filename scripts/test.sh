#!/usr/bin/env bash
# Runs rimg's whole test suite on a fresh Debian/Ubuntu machine. The tests
# drive real components (a CNCF distribution registry, skopeo, podman, umoci,
# a Docker engine); any that are missing are installed with apt-get first.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package that provides it
declare -A packages=(
  [docker-registry]=docker-registry
  [skopeo]=skopeo
  [podman]=podman
  [umoci]=umoci
  [dockerd]=docker.io
  [zstd]=zstd
  [openssl]=openssl
)
missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing test dependencies: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

# Bounded fuzzing of the parsers (FUZZ_SECONDS per target), then the
# tests. cargo prints one result line per test binary, the last for the
# (empty) doctests, so the run closes with one total over all of them.
./scripts/fuzz.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
