#!/usr/bin/env bash
# Benchmarks cold pulls: rimg against skopeo (blob-only copy into an OCI
# layout, no decompression), podman and, when a Docker engine starts,
# docker, all pulling the same image from the same local registry in one
# run. Prints a table with each tool's time relative to rimg's and to
# skopeo's, and rimg's peak memory.
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
layer_dirs=(usr/bin usr/lib/gcc usr/share/locale "usr/share/doc usr/share/man" etc)

needed=(docker-registry skopeo python3 /usr/bin/time)
if [[ $wanted == *" podman "* ]]; then needed+=(podman); fi
for tool in "${needed[@]}"; do
  command -v "$tool" >/dev/null || { echo "bench-pull: $tool is required" >&2; exit 1; }
done

cargo build --release --quiet
rimg=$PWD/target/release/rimg
work=$(mktemp -d "${TMPDIR:-/tmp}/rimg-bench-run.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # podman's and docker's stores may hold read-only or mounted files.
  umount -R "$work"/docker-root/* 2>/dev/null || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# --- the image: an OCI layout with one gzip layer per entry of layer_dirs.
layout=$bench_dir/layout
if [ ! -f "$layout/index.json" ]; then
  echo "building the benchmark image in $layout (once)..."
  rm -rf "$layout" && mkdir -p "$layout/blobs/sha256"
  layers="" diff_ids="" total=0
  for dirs in "${layer_dirs[@]}"; do
    tmp=$layout/layer.tmp
    # shellcheck disable=SC2086 # several directories per layer
    tar -C / --sort=name --mtime=@0 --owner=0 --group=0 -cf "$tmp.tar" $dirs 2>/dev/null || true
    total=$((total + $(size "$tmp.tar")))
    diff_ids+="\"sha256:$(sha "$tmp.tar")\","
    gzip -6 -n -c "$tmp.tar" >"$tmp.gz" && rm "$tmp.tar"
    digest=$(sha "$tmp.gz")
    layers+="{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$(size "$tmp.gz")},"
    mv "$tmp.gz" "$layout/blobs/sha256/$digest"
  done
  if ((total < min_mb * 1000000)); then
    echo "bench-pull: only $((total / 1000000)) MB of files found; need $min_mb MB" >&2
    exit 1
  fi
  config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\",\"config\":{\"Cmd\":[\"/bin/sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[${diff_ids%,}]}}"
  printf '%s' "$config" >"$layout/config.tmp"
  config_digest=$(sha "$layout/config.tmp")
  config_size=$(size "$layout/config.tmp")
  mv "$layout/config.tmp" "$layout/blobs/sha256/$config_digest"
  manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$config_digest\",\"size\":$config_size},\"layers\":[${layers%,}]}"
  printf '%s' "$manifest" >"$layout/manifest.tmp"
  manifest_digest=$(sha "$layout/manifest.tmp")
  manifest_size=$(size "$layout/manifest.tmp")
  mv "$layout/manifest.tmp" "$layout/blobs/sha256/$manifest_digest"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
    "$manifest_digest" "$manifest_size" >"$layout/index.json"
  echo "$total" >"$layout/uncompressed-bytes"
fi
uncompressed_mb=$(($(cat "$layout/uncompressed-bytes") / 1000000))
compressed_mb=$(($(du -sb "$layout/blobs" | cut -f1) / 1000000))
layer_count=${#layer_dirs[@]}

# --- a registry on a free loopback port, storage in the run's directory.
port=$(free_port)
registry=127.0.0.1:$port
cat >"$work/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: $registry}
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://$registry/v2/" >/dev/null && break; sleep 0.1; done
skopeo copy -q --dest-tls-verify=false --preserve-digests "oci:$layout:v1" "docker://$registry/bench/image:v1"
image=$registry/bench/image:v1

# --- docker, if an engine can be started here (root only).
docker_cmd=""
if [[ $wanted == *" docker "* ]] && command -v dockerd >/dev/null && [ "$(id -u)" = 0 ]; then
  sock=$work/docker.sock
  dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    --data-root "$work/docker-root" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
    -H "unix://$sock" --insecure-registry "$registry" >"$work/dockerd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do docker -H "unix://$sock" info >/dev/null 2>&1 && break; sleep 0.2; done
  if docker -H "unix://$sock" info >/dev/null 2>&1; then
    docker_cmd="docker -H unix://$sock pull -q $image"
  else
    echo "dockerd did not start (see below); docker is left out" >&2
    tail -3 "$work/dockerd.log" >&2
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
tools=(rimg skopeo)
if [[ $wanted == *" podman "* ]]; then tools+=(podman); fi
if [ -n "$docker_cmd" ]; then
  commands[docker]=$docker_cmd
  prepare[docker]="docker -H unix://$sock rmi -f $image >/dev/null 2>&1 || true"
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
echo "Cold pull of $image: $layer_count gzip layers, $compressed_mb MB compressed, $uncompressed_mb MB uncompressed"
echo "median of $runs runs per tool, runs interleaved; $(nproc) cores"
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
