#!/usr/bin/env bash
# Benchmarks `build` on a realistic two-stage Dockerfile: a debootstrapped
# Debian base, three RUNs writing 60 MB, a COPY of 300 context files and a
# COPY --from, with rimg, a private Docker engine with BuildKit and with
# the classic builder, and podman. For each tool: a cold build (its build
# cache emptied, the base image kept), a no-op rebuild, and a rebuild after
# one context file changed; medians of RUNS runs, interleaved, and rimg's
# peak memory. Prints a Markdown table.
#
# Usage: scripts/bench-build.sh        (RUNS=3 by default; DEBIAN_TAR=a
#        rootfs tarball, else the tests' cached one, else debootstrap)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
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

# The base: a minimal Debian.
DEBIAN_TAR=${DEBIAN_TAR:-target/tmp/debian-bookworm-minbase.tar}
if [ ! -f "$DEBIAN_TAR" ]; then
  echo "debootstrapping a Debian base ..." >&2
  debootstrap --variant=minbase bookworm "$work/debian" http://deb.debian.org/debian >/dev/null
  tar --numeric-owner -C "$work/debian" -cf "$work/debian.tar" .
  DEBIAN_TAR="$work/debian.tar"
fi

# The context: 300 files of 4 kB and the Dockerfile.
ctx="$work/ctx"
mkdir -p "$ctx/files"
for i in $(seq 1 300); do head -c 4096 /dev/urandom >"$ctx/files/f$i"; done
cat >"$ctx/Dockerfile" <<'EOF'
FROM debian:bench AS build
RUN dd if=/dev/urandom of=/opt/blob1 bs=1M count=20 2>/dev/null
RUN dd if=/dev/urandom of=/opt/blob2 bs=1M count=20 2>/dev/null && ls /usr/bin >/opt/bins
COPY files/ /src/
RUN cat /src/* | sha256sum >/src.sum && dd if=/dev/urandom of=/opt/blob3 bs=1M count=20 2>/dev/null
FROM debian:bench
COPY --from=build /src.sum /opt/bins /out/
CMD ["cat", "/out/src.sum"]
EOF

start_private_dockerd "$work/docker"
PODMAN_ARGS=(--root "$work/podman/root" --runroot "$work/podman/run" --runtime runc --cgroup-manager cgroupfs)
rimg() { "$RIMG" --root "$work/rimg" "$@"; }
podman_() { podman "${PODMAN_ARGS[@]}" "$@"; }

rimg import "$DEBIAN_TAR" debian:bench >/dev/null
"${DOCKER[@]}" import "$DEBIAN_TAR" debian:bench >/dev/null
podman_ import "$DEBIAN_TAR" debian:bench >/dev/null 2>&1

build_rimg() { rimg build -q -t out:1 "$ctx"; }
build_buildkit() { DOCKER_BUILDKIT=1 "${DOCKER[@]}" build -q --network host -t out:1 "$ctx"; }
build_classic() { DOCKER_BUILDKIT=0 "${DOCKER[@]}" build -q --network host -t out:1 "$ctx"; }
build_podman() { podman_ build -q --network host -t out:1 "$ctx"; }

# Empties a tool's build cache and removes what it built; the base stays.
reset_rimg() { rimg rmi -f out:1 >/dev/null 2>&1 || true; rimg builder prune -f >/dev/null; rimg image prune -f >/dev/null; }
reset_docker() {
  "${DOCKER[@]}" rmi -f out:1 >/dev/null 2>&1 || true
  "${DOCKER[@]}" builder prune -af >/dev/null 2>&1 || true
  "${DOCKER[@]}" image prune -f >/dev/null 2>&1 || true
}
reset_podman() { podman_ rmi -f out:1 >/dev/null 2>&1 || true; podman_ image prune -f >/dev/null 2>&1 || true; }

time_one() { # FILE COMMAND...
  local file=$1 t0 t1
  shift
  t0=$(now_ms); "$@" >/dev/null 2>>"$work/errors"; t1=$(now_ms)
  echo $((t1 - t0)) >>"$file"
}

tools=(rimg buildkit classic podman)
podman_error=""
build_podman >/dev/null 2>"$work/podman.err" || podman_error=$(grep -v '^$' "$work/podman.err" | tail -1)
for tool in "${tools[@]}"; do : >"$work/$tool.cold"; : >"$work/$tool.noop"; : >"$work/$tool.one"; done
for i in $(seq 1 "$RUNS"); do
  echo "run $i/$RUNS ..." >&2
  for tool in "${tools[@]}"; do
    [ "$tool" != podman ] || [ -z "$podman_error" ] || continue
    case $tool in
      rimg) reset_rimg ;;
      buildkit | classic) reset_docker ;;
      podman) reset_podman ;;
    esac
    time_one "$work/$tool.cold" "build_$tool"
    time_one "$work/$tool.noop" "build_$tool"
    head -c 4096 /dev/urandom >"$ctx/files/f7"
    time_one "$work/$tool.one" "build_$tool"
  done
done
reset_rimg
peak_kb=$( { /usr/bin/time -f %M "$RIMG" --root "$work/rimg" build -q -t out:1 "$ctx" >/dev/null; } 2>&1 | tail -1)

row() { # NAME TOOL
  local c n o
  c=$(median <"$work/$2.cold"); n=$(median <"$work/$2.noop"); o=$(median <"$work/$2.one")
  echo "| $1 | ${c} ms | ${n} ms | ${o} ms | $(ratio "$rc" "$c") | $(ratio "$rn" "$n") | $(ratio "$ro" "$o") |"
}
rc=$(median <"$work/rimg.cold"); rn=$(median <"$work/rimg.noop"); ro=$(median <"$work/rimg.one")
echo
echo "Two-stage build on a $(($(stat -c %s "$DEBIAN_TAR") / 1000000)) MB Debian base (3 RUNs writing 60 MB, 300 context files, COPY --from); medians of $RUNS runs."
echo
echo "| tool | cold | no-op rebuild | one file changed | rimg / tool (cold) | (no-op) | (one file) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
row rimg rimg
row "docker 20.10, BuildKit" buildkit
row "docker 20.10, classic builder" classic
if [ -n "$podman_error" ]; then
  echo "| podman | did not build: ${podman_error} | | | | | |"
else
  row podman podman
fi
echo
echo "rimg's peak memory (cold build): $((peak_kb / 1024)) MB"
