#!/usr/bin/env bash
# Benchmarks starting a container: `run --rm IMAGE true` with rimg, a
# private Docker engine and podman, on the same small image (the host's
# static busybox with its applets, imported into each). Each tool runs it
# RUNS times, interleaved; prints a Markdown table of medians and ratios.
#
# Usage: scripts/bench-run.sh          (RUNS=10 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
cargo build --release --quiet
RIMG="$PWD/target/release/rimg"

work=$(mktemp -d /tmp/rimg-bench.XXXXXX)
source scripts/private-dockerd.sh
cleanup() {
  stop_private_dockerd
  podman "${PODMAN_ARGS[@]}" system reset --force >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

source scripts/bench-lib.sh

# The image: busybox and its applets, as the tests build it.
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
for applet in sh true echo cat; do ln -s busybox "$work/rootfs/bin/$applet"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .

start_private_dockerd "$work/docker"
PODMAN_ARGS=(--root "$work/podman/root" --runroot "$work/podman/run" --runtime runc --cgroup-manager cgroupfs)
rimg() { "$RIMG" --root "$work/rimg" "$@"; }
docker() { "${DOCKER[@]}" "$@"; }
podman_() { podman "${PODMAN_ARGS[@]}" "$@"; }
# podman raises the open-file and process limits to its own defaults,
# which runc may not set beyond this session's hard limits.
PODMAN_LIMITS=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$(ulimit -Hu):$(ulimit -Hu)")
podman_run() { podman_ run --rm --network none "${PODMAN_LIMITS[@]}" bench:1 true; }

rimg import "$work/rootfs.tar" bench:1 >/dev/null
docker import "$work/rootfs.tar" bench:1 >/dev/null
podman_ import "$work/rootfs.tar" bench:1 >/dev/null 2>&1

time_one() { # FILE COMMAND...
  local file=$1 t0 t1
  shift
  t0=$(now_ms); "$@" >/dev/null; t1=$(now_ms)
  echo $((t1 - t0)) >>"$file"
}

: >"$work/rimg.ms"; : >"$work/docker.ms"; : >"$work/podman.ms"
# One warm-up run each, then the measured ones, interleaved. A podman that
# cannot run here is reported, not measured.
rimg run --rm bench:1 true; docker run --rm --network none bench:1 true
podman_error=""
podman_run >/dev/null 2>"$work/podman.err" || podman_error=$(tail -1 "$work/podman.err")
for i in $(seq 1 "$RUNS"); do
  echo "run $i/$RUNS ..." >&2
  time_one "$work/rimg.ms" rimg run --rm bench:1 true
  time_one "$work/docker.ms" docker run --rm --network none bench:1 true
  [ -n "$podman_error" ] || time_one "$work/podman.ms" podman_run
done

r=$(median <"$work/rimg.ms"); d=$(median <"$work/docker.ms"); p=$(median <"$work/podman.ms" || true)
echo
echo "\`run --rm IMAGE true\` on a $(($(stat -c %s "$work/rootfs.tar") / 1000)) kB busybox image; medians of $RUNS runs ($(runc --version | head -1))."
echo
echo "| tool | time | rimg / tool |"
echo "| --- | ---: | ---: |"
echo "| rimg | ${r} ms | 1.00 |"
echo "| docker (20.10, overlay2) | ${d} ms | $(ratio "$r" "$d") |"
if [ -n "$podman_error" ]; then
  echo "| podman | did not run: ${podman_error} | |"
else
  echo "| podman | ${p} ms | $(ratio "$r" "$p") |"
fi
