#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (FUZZ_SECONDS each,
# default 20). Longer runs: FUZZ_SECONDS=3600 ./scripts/fuzz.sh [TARGET...]
# A crash fails the run; minimise it with `cargo fuzz tmin TARGET FILE`,
# fix it with a regression test that replays the input, and keep the input
# under fuzz/regressions/TARGET/ as a seed for later runs.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# cargo-fuzz needs nightly-only compiler flags; the machine's one toolchain
# is stable, which accepts them with RUSTC_BOOTSTRAP. No sanitizer: rimg is
# safe Rust, and AddressSanitizer would triple the build time of every
# dependency for little gain (FUZZ_SANITIZER=address for long runs).
export RUSTC_BOOTSTRAP=1
seconds=${FUZZ_SECONDS:-20}
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo fuzz list)
# Built first, in the open: the first build takes minutes, and the runs'
# output goes to a log below, which would make it look hung.
echo "building the fuzz targets: ${targets[*]}"
for target in "${targets[@]}"; do
  cargo fuzz build --sanitizer "${FUZZ_SANITIZER:-none}" "$target"
done
for target in "${targets[@]}"; do
  echo "fuzzing $target for ${seconds}s"
  mkdir -p "corpus/$target"
  seeds=()
  [ -d "regressions/$target" ] && seeds=("regressions/$target")
  log="$(mktemp)"
  if ! cargo fuzz run --sanitizer "${FUZZ_SANITIZER:-none}" "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $target failed"
    exit 1
  fi
  grep -E '^Done' "$log" || true
  rm -f "$log"
done
