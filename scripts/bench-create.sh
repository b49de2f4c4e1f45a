#!/usr/bin/env bash
# Benchmarks `create` and `commit` of a large image with rimg's storage
# drivers against Docker's overlay2, on the same imported tarball (by
# default the debootstrapped Debian at target/tmp/debian-bookworm-minbase.tar
# that tests/common/debian.rs builds):
#   first create      rimg unpacks the layer into its snapshot (overlay) or
#                     into the container (copy)
#   create            the snapshot exists: an overlay mount
#   commit            of a one-file change
#   disk of 10        containers of the image, besides the image itself
#   system df         with those 10 containers (-v: with overlay, the first
#                     call measures the snapshot, later ones read its record)
# rimg runs as root with each driver (fuse-overlayfs forced, as only root
# may use FUSE here), and as an unprivileged user
# (BENCH_USER, default rimg-rootless, created when missing) in rimg's user
# namespace on overlay. Docker runs as a private daemon
# (scripts/private-dockerd.sh). Prints a Markdown table of medians. Needs
# root.
#
# Usage: scripts/bench-create.sh   (RUNS=5 TARBALL=… RIMG=path-to-rimg)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
TARBALL=${TARBALL:-${CARGO_TARGET_DIR:-target}/tmp/debian-bookworm-minbase.tar}
if [ -z "${RIMG:-}" ]; then
  cargo build --release --quiet
  RIMG="${CARGO_TARGET_DIR:-$PWD/target}/release/rimg"
fi
[ -f "$TARBALL" ] || { echo "no $TARBALL (run tests/run_docker.rs once to build it)" >&2; exit 1; }

user=${BENCH_USER:-rimg-rootless}
id "$user" >/dev/null 2>&1 || useradd --create-home "$user"
work=$(mktemp -d /tmp/rimg-bench.XXXXXX)
chmod 755 "$work"
source scripts/private-dockerd.sh
cleanup() {
  # The user's store goes with the directory (and its namespace with it).
  for root in "$work"/rimg-overlay "$work"/rimg-fuse-overlayfs "$work"/rimg-copy; do
    [ -d "$root" ] && RIMG_ROOT="$root" "$RIMG" container prune -f >/dev/null 2>&1 || true
  done
  stop_private_dockerd
  # With it the user's runtime state (rimg's runtime::state_dir).
  rm -rf "/tmp/rimg-$(id -u "$user")/$(printf %s "$work/rimg-user" | sha256sum | cut -c1-12)"
  rm -rf "$work"
}
trap cleanup EXIT

source scripts/bench-lib.sh
timed() { # FILE COMMAND...: appends the command's milliseconds to FILE
  local file=$1 t0 t1
  shift
  t0=$(now_ms); "$@" >/dev/null; t1=$(now_ms)
  echo $((t1 - t0)) >>"$file"
}
du_mb() { # the MB under the PATHs that exist
  local p
  for p in "$@"; do if [ -e "$p" ]; then du -sxm "$p"; fi; done | awk '{s += $1} END {print s + 0}'
}

start_private_dockerd "$work/docker"
docker() { "${DOCKER[@]}" "$@"; }
docker import "$TARBALL" bench:1 >/dev/null
echo change >"$work/change.txt"

declare -A first create commit disk df dfv
# The copy driver last: its 10 full copies, deleted, slow down the next
# file creations on ext4 for a minute (recently deleted inodes are skipped
# one by one).
for driver in overlay user fuse-overlayfs copy; do
  root="$work/rimg-$driver"
  if [ "$driver" = user ]; then
    mkdir "$root" "$work/home"
    chown "$user:" "$root" "$work/home"
    rimg() {
      setpriv --reuid="$user" --regid="$user" --init-groups env -u XDG_RUNTIME_DIR \
        HOME="$work/home" "$RIMG" --root "$root" "$@"
    }
  else
    rimg() { RIMG_STORAGE_DRIVER=$driver "$RIMG" --root "$root" "$@"; }
  fi
  rimg import "$TARBALL" bench:1 >/dev/null
  : >"$work/$driver-create"; : >"$work/$driver-commit"
  sync
  t0=$(now_ms); rimg create --name first bench:1 >/dev/null; t1=$(now_ms)
  first[$driver]=$((t1 - t0))
  rimg rm first >/dev/null
  for i in $(seq 1 "$RUNS"); do
    timed "$work/$driver-create" rimg create --name "c$i" bench:1
    # (A user's mount is seen in rimg's namespace only; for root unshare
    # just runs cp.)
    rimg unshare cp "$work/change.txt" "$(rimg mount "c$i" 2>/dev/null)/bench-change"
    timed "$work/$driver-commit" rimg commit "c$i"
  done
  for i in $(seq $((RUNS + 1)) 10); do rimg create --name "c$i" bench:1 >/dev/null; done
  disk[$driver]=$(du_mb "$root"/containers "$root"/snapshots)
  : >"$work/$driver-df"; : >"$work/$driver-dfv"
  t0=$(now_ms); rimg system df -v >/dev/null; t1=$(now_ms)
  dfv_first=$((t1 - t0))
  for i in $(seq 1 "$RUNS"); do
    timed "$work/$driver-df" rimg system df
    timed "$work/$driver-dfv" rimg system df -v
  done
  df[$driver]=$(median <"$work/$driver-df")
  dfv[$driver]="$(median <"$work/$driver-dfv") ms (first: $dfv_first ms)"
  create[$driver]=$(median <"$work/$driver-create")
  commit[$driver]=$(median <"$work/$driver-commit")
  rimg container prune -f >/dev/null
done

: >"$work/docker-create"; : >"$work/docker-commit"
ids=()
for i in $(seq 1 10); do
  t0=$(now_ms); cid=$(docker create bench:1 /none); t1=$(now_ms)
  ids+=("$cid")
  if [ "$i" -le "$RUNS" ]; then
    echo $((t1 - t0)) >>"$work/docker-create"
    docker cp "$work/change.txt" "$cid:/bench-change"
    timed "$work/docker-commit" docker commit "$cid"
  fi
done
docker_disk=$(du_mb "$work/docker/data/overlay2")
: >"$work/docker-df"; : >"$work/docker-dfv"
for i in $(seq 1 "$RUNS"); do
  timed "$work/docker-df" docker system df
  timed "$work/docker-dfv" docker system df -v
done
ddf=$(median <"$work/docker-df"); ddfv=$(median <"$work/docker-dfv")
docker rm "${ids[@]}" >/dev/null
dc=$(median <"$work/docker-create"); dm=$(median <"$work/docker-commit")

echo
echo "Image: $(basename "$TARBALL"), $(( $(stat -c %s "$TARBALL") / 1000000 )) MB, one layer; medians of $RUNS runs."
echo
f=fuse-overlayfs
echo "| step | rimg overlay | rimg copy | rimg overlay as a user | rimg fuse-overlayfs | docker (overlay2) | overlay / docker | user / docker |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
echo "| first create (unpacks) | ${first[overlay]} ms | ${first[copy]} ms | ${first[user]} ms | ${first[$f]} ms | – | | |"
echo "| create | ${create[overlay]} ms | ${create[copy]} ms | ${create[user]} ms | ${create[$f]} ms | ${dc} ms | $(ratio "${create[overlay]}" "$dc") | $(ratio "${create[user]}" "$dc") |"
echo "| commit a one-file change | ${commit[overlay]} ms | ${commit[copy]} ms | ${commit[user]} ms | ${commit[$f]} ms | ${dm} ms | $(ratio "${commit[overlay]}" "$dm") | $(ratio "${commit[user]}" "$dm") |"
echo "| disk: image's snapshots + 10 containers | ${disk[overlay]} MB | ${disk[copy]} MB | ${disk[user]} MB | ${disk[$f]} MB | ${docker_disk} MB (all of overlay2) | | |"
echo "| system df, 10 containers | ${df[overlay]} ms | ${df[copy]} ms | ${df[user]} ms | ${df[$f]} ms | ${ddf} ms | $(ratio "${df[overlay]}" "$ddf") | $(ratio "${df[user]}" "$ddf") |"
echo "| system df -v, 10 containers | ${dfv[overlay]} | ${dfv[copy]} | ${dfv[user]} | ${dfv[$f]} | ${ddfv} ms | | |"
