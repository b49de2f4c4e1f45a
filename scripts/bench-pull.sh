#!/usr/bin/env bash
# Benchmarks cold pulls: rimg against skopeo (blob-only copy into an OCI
# layout, no decompression), podman and, when a Docker engine starts,
# docker, all pulling the same image from the same local registry in one
# run. Prints a table with each tool's time relative to rimg's and to
# skopeo's, and rimg's peak memory. A "resume" row times the pull that
# completes one SIGKILLed once half the image's compressed bytes were on
# disk, and says how many bytes that pull had left to fetch.
#
# The image is built from this machine's own files (binaries, libraries,
# locales, docs: realistic to compress), several gzip layers totalling
# BENCH_MIN_MB (default 500) MB or more uncompressed. It is kept in
# BENCH_DIR between runs.
#
#   scripts/bench-pull.sh            # 5 runs per tool
#   BENCH_RUNS=3 scripts/bench-pull.sh
#   BENCH_TOOLS="rimg skopeo" scripts/bench-pull.sh   # leave the slow peers out
#
# Needs: docker-registry, skopeo, podman, GNU time, python3; dockerd is
# optional (root only). Everything listens on 127.0.0.1 only. Peak RSS is
# the pulling process's own: for docker that is only the CLI (the daemon
# does the work), for podman and skopeo the whole pull.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${BENCH_RUNS:-5}
min_mb=${BENCH_MIN_MB:-500}
wanted=" ${BENCH_TOOLS:-rimg skopeo podman docker} "
[[ $wanted == *" rimg "* && $wanted == *" skopeo "* ]] || { echo "bench-pull: BENCH_TOOLS needs rimg and skopeo" >&2; exit 1; }
bench_dir=${BENCH_DIR:-${TMPDIR:-/tmp}/rimg-bench}

needed=(docker-registry skopeo python3 /usr/bin/time)
if [[ $wanted == *" podman "* ]]; then needed+=(podman); fi
for tool in "${needed[@]}"; do
  command -v "$tool" >/dev/null || { echo "bench-pull: $tool is required" >&2; exit 1; }
done
source scripts/bench-image.sh
bench_start bench-run

bench_image "$bench_dir" "$min_mb"
layout=$BENCH_LAYOUT

# --- a registry on a free loopback port, storage in the run's directory.
start_local_registry "$work/registry" "$(free_port)"
skopeo copy -q --dest-tls-verify=false --preserve-digests "oci:$layout:v1" "docker://$REGISTRY/bench/image:v1"
image=$REGISTRY/bench/image:v1

# --- docker, if an engine can be started here (root only).
docker_cmd=""
if [[ $wanted == *" docker "* ]] && command -v dockerd >/dev/null && [ "$(id -u)" = 0 ]; then
  if start_private_dockerd "$work/docker" --insecure-registry "$REGISTRY"; then
    docker_cmd="${DOCKER[*]} pull -q $image"
  else
    echo "dockerd did not start; docker is left out" >&2
  fi
fi

# --- the commands: each run pulls into an empty store.
declare -A commands=(
  [rimg]="$rimg --root $work/rimg pull -q $image"
  [skopeo]="skopeo copy -q --src-tls-verify=false docker://$image oci:$work/skopeo:v1"
  [podman]="podman --root $work/podman --runroot $work/podman-run pull -q --tls-verify=false $image"
)
declare -A prepare=(
  [rimg]="rm -rf $work/rimg"
  [skopeo]="rm -rf $work/skopeo"
  [podman]="podman --root $work/podman --runroot $work/podman-run rmi -a -f >/dev/null 2>&1 || true; rm -rf $work/podman $work/podman-run"
)
# resume: a pull killed half-way (blobs and partial downloads on disk
# reach half the compressed size), then the timed pull completes it.
on_disk() { du -sb "$work/rimg/blobs" "$work/rimg/.rimg/ingest" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
half_pull() {
  rm -rf "$work/rimg"
  "$rimg" --root "$work/rimg" pull -q "$image" >/dev/null &
  local pid=$! half=$((BENCH_COMPRESSED_MB * 500000))
  while kill -0 "$pid" 2>/dev/null && [ "$(on_disk)" -lt "$half" ]; do sleep 0.02; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo $((BENCH_COMPRESSED_MB * 1000000 - $(on_disk))) >>"$work/left"
}
commands[resume]=${commands[rimg]}
prepare[resume]=half_pull
tools=(rimg skopeo resume)
if [[ $wanted == *" podman "* ]]; then tools+=(podman); fi
if [ -n "$docker_cmd" ]; then
  commands[docker]=$docker_cmd
  prepare[docker]="${DOCKER[*]} rmi -f $image >/dev/null 2>&1 || true"
  tools+=(docker)
fi

# Runs alternate between the tools, so that load from anything else on the
# machine falls on all of them alike; each run is timed with GNU time
# (wall seconds and peak RSS).
for run in $(seq "$runs"); do
  for tool in "${tools[@]}"; do
    eval "${prepare[$tool]}"
    # shellcheck disable=SC2086 # the command is a word list
    /usr/bin/time -f "%e %M" -o "$work/time" ${commands[$tool]} >/dev/null
    echo "$tool $(cat "$work/time")" >>"$work/times"
    echo "run $run: $tool $(cut -d' ' -f1 "$work/time") s" >&2
  done
done

echo
echo "Cold pull of $image: $BENCH_LAYERS gzip layers, $BENCH_COMPRESSED_MB MB compressed, $BENCH_UNCOMPRESSED_MB MB uncompressed"
echo "median of $runs runs per tool, runs interleaved; $(nproc) cores; load average $(cut -d" " -f1-3 /proc/loadavg)"
echo "resume: the completing pull had $(sort -n "$work/left" | awk '{a[NR] = $1} END {print int(a[int((NR + 1) / 2)] / 1000000)}') MB (median) of $BENCH_COMPRESSED_MB MB left to fetch"
python3 - "$work/times" "${tools[@]}" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
tools = sys.argv[2:]
secs = {t: statistics.median(float(r[1]) for r in rows if r[0] == t) for t in tools}
rss = {t: max(int(r[2]) for r in rows if r[0] == t) for t in tools}
print("%-8s %9s %9s %10s %12s" % ("tool", "seconds", "vs rimg", "vs skopeo", "peak RSS"))
for t in tools:
    print("%-8s %9.2f %8.2fx %9.2fx %9d MB" % (t, secs[t], secs[t] / secs["rimg"], secs[t] / secs["skopeo"], rss[t] // 1024))
PY
