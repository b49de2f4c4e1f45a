#!/usr/bin/env bash
# Runs rimg's whole test suite on a fresh Debian/Ubuntu machine. The tests
# drive real components (a CNCF distribution registry, skopeo, podman, umoci,
# a Docker engine); any that are missing, and the build's own libisal-dev,
# are installed with apt-get first (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh --test

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
# As root the suite runs containers on overlay snapshots; the copy driver
# and fuse-overlayfs then get their own passes of the container tests.
# And twice as an unprivileged user (created when missing, with the
# subordinate ID range useradd gives), whose containers are rootless: in
# rimg's user namespace on overlay snapshots, and with the copy driver.
if [ "$(id -u)" = 0 ]; then
  RIMG_STORAGE_DRIVER=copy cargo test --locked --test containers --test run \
    --test run_docker --test build 2>&1 | tee -a "$log" || status=$?
  # fuse-overlayfs, a user's driver on kernels before 5.11, run as root:
  # only root may open /dev/fuse here, so the tests that run rimg as a
  # user are left to the passes below.
  RIMG_STORAGE_DRIVER=fuse-overlayfs cargo test --locked --test containers \
    --test run --test build -- --skip rootless_runs --skip a_user_without \
    --skip a_state_directory 2>&1 |
    tee -a "$log" || status=$?
  id rimg-rootless >/dev/null 2>&1 || useradd --create-home rimg-rootless
  triple=$(rustc -vV | sed -n 's/^host: //p' | tr 'a-z-' 'A-Z_')
  for driver in overlay copy; do
    env "CARGO_TARGET_${triple}_RUNNER=$PWD/scripts/as-test-user.sh" \
      RIMG_STORAGE_DRIVER=$driver \
      cargo test --locked --test containers --test run --test build 2>&1 |
      tee -a "$log" || status=$?
  done
fi
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
