#!/usr/bin/env bash
# Benchmarks working containers against Docker on the same >= 500 MB image:
#   rimg create  + small change + rimg commit
#   docker create + small change (docker cp) + docker commit
# The image is a tarball of a real directory tree (default /usr/share)
# imported into both. Docker runs as a private daemon (its own data root,
# exec root and socket under a temporary directory, no network set-up),
# started and stopped by this script (scripts/private-dockerd.sh). Prints
# a Markdown table of medians.
#
# Usage: scripts/bench-commit.sh          (RUNS=5 SOURCE=/usr/share by default)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
SOURCE=${SOURCE:-/usr/share}
MIN_BYTES=$((500 * 1000 * 1000))

cargo build --release --quiet
RIMG="$PWD/target/release/rimg"

work=$(mktemp -d /tmp/rimg-bench.XXXXXX)
source scripts/private-dockerd.sh
cleanup() {
  stop_private_dockerd
  rm -rf "$work"
}
trap cleanup EXIT

source scripts/bench-lib.sh

echo "building the image tarball from $SOURCE ..." >&2
tar -C / -cf "$work/rootfs.tar" "${SOURCE#/}" 2>/dev/null || true
bytes=$(stat -c %s "$work/rootfs.tar")
files=$(tar -tf "$work/rootfs.tar" | wc -l)
if [ "$bytes" -lt "$MIN_BYTES" ]; then
  echo "the tarball is only $bytes bytes; pick a bigger SOURCE" >&2
  exit 1
fi

start_private_dockerd "$work/docker"
docker() { "${DOCKER[@]}" "$@"; }

rimg() { "$RIMG" --root "$work/rimg" "$@"; }

t0=$(now_ms); rimg import "$work/rootfs.tar" bench:1 >/dev/null; t1=$(now_ms)
rimg_import=$((t1 - t0))
t0=$(now_ms); docker import "$work/rootfs.tar" bench:1 >/dev/null; t1=$(now_ms)
docker_import=$((t1 - t0))
echo "change" >"$work/change.txt"

: >"$work/rimg-create"; : >"$work/rimg-commit"; : >"$work/docker-create"; : >"$work/docker-commit"
: >"$work/tar-x"
for i in $(seq 1 "$RUNS"); do
  sync; echo "run $i/$RUNS ..." >&2
  t0=$(now_ms); rimg create --name "c$i" bench:1 >/dev/null; t1=$(now_ms)
  cp "$work/change.txt" "$(rimg mount "c$i")/bench-change-$i"
  t2=$(now_ms); rimg commit "c$i" "bench:r$i" >/dev/null; t3=$(now_ms)
  echo $((t1 - t0)) >>"$work/rimg-create"; echo $((t3 - t2)) >>"$work/rimg-commit"
  rimg rm "c$i" >/dev/null

  t0=$(now_ms); cid=$(docker create bench:1 /none); t1=$(now_ms)
  docker cp "$work/change.txt" "$cid:/bench-change-$i"
  t2=$(now_ms); docker commit "$cid" "bench:d$i" >/dev/null; t3=$(now_ms)
  echo $((t1 - t0)) >>"$work/docker-create"; echo $((t3 - t2)) >>"$work/docker-commit"
  docker rm "$cid" >/dev/null

  # Reference: GNU tar extracting the same (uncompressed) tarball.
  mkdir "$work/extract"
  t0=$(now_ms); tar -C "$work/extract" -xf "$work/rootfs.tar"; t1=$(now_ms)
  echo $((t1 - t0)) >>"$work/tar-x"
  rm -rf "$work/extract"
done

rc=$(median <"$work/rimg-create"); rm_=$(median <"$work/rimg-commit")
dc=$(median <"$work/docker-create"); dm=$(median <"$work/docker-commit")
tx=$(median <"$work/tar-x")

echo
echo "Image: $SOURCE as one layer, $((bytes / 1000000)) MB, $files entries; medians of $RUNS runs."
echo
echo "| step | rimg | docker (overlay2) | rimg / docker |"
echo "| --- | ---: | ---: | ---: |"
echo "| import the tarball (setup) | ${rimg_import} ms | ${docker_import} ms | $(ratio "$rimg_import" "$docker_import") |"
echo "| create a container | ${rc} ms | ${dc} ms | $(ratio "$rc" "$dc") |"
echo "| commit a one-file change | ${rm_} ms | ${dm} ms | $(ratio "$rm_" "$dm") |"
echo "| create + commit | $((rc + rm_)) ms | $((dc + dm)) ms | $(ratio $((rc + rm_)) $((dc + dm))) |"
echo
echo "Reference: \`tar -xf\` of the same uncompressed tarball: ${tx} ms (rimg create / tar -x: $(ratio "$rc" "$tx"))."
