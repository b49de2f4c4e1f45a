#!/usr/bin/env bash
# Benchmarks pushes to a local registry: `rimg push` against `skopeo copy
# oci:DIR:v1 docker://…` and, when a Docker engine starts, `docker push`
# (a private dockerd), all pushing the same image (scripts/bench-image.sh,
# the one bench-pull uses: gzip layers, ≥ BENCH_MIN_MB MB uncompressed).
# Every push goes into a registry that holds none of the image's blobs:
# before each one the registry is stopped, its storage removed, and it is
# started again on the same loopback port; then `sync`, so that no push
# pays for the previous one's dirty pages.
#
# Two variants, the tools' runs interleaved in each round:
#   gzip   rimg's store holds the image as a pull leaves it and skopeo
#          pushes the gzip layout: both send the stored blobs as they are.
#   plain  the image with uncompressed layers (rimg: after `rimg load` of
#          `rimg save`'s archive, loaded afresh before each run so the
#          gzip rimg keeps after a push is not reused; skopeo: that
#          archive's OCI layout): both must gzip on the way.
# docker keeps layers uncompressed whatever it was given, so it always
# compresses; it runs once per round.
#
#   scripts/bench-push.sh              # 5 rounds
#   BENCH_RUNS=3 BENCH_PLAIN=0 scripts/bench-push.sh   # gzip variant only
#
# Needs: docker-registry, skopeo, python3, curl, GNU time; dockerd is
# optional (root only). Everything listens on 127.0.0.1 only. Peak RSS is
# the pushing process's own: for docker only the CLI's.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${BENCH_RUNS:-5}
min_mb=${BENCH_MIN_MB:-500}
plain=${BENCH_PLAIN:-1}
bench_dir=${BENCH_DIR:-${TMPDIR:-/tmp}/rimg-bench}

for tool in docker-registry skopeo python3 curl /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench-push: $tool is required" >&2; exit 1; }
done
source scripts/bench-image.sh
bench_start bench-push

bench_image "$bench_dir" "$min_mb"
layout=$BENCH_LAYOUT
port=$(free_port)
image=127.0.0.1:$port/bench/image:v1

# A registry with nothing in it, on the run's port.
fresh_registry() {
  stop_local_registry
  rm -rf "$work/registry/storage"
  start_local_registry "$work/registry" "$port"
}

# --- the pushers' copies of the image, from the registry as seeded by skopeo.
fresh_registry
skopeo copy -q --dest-tls-verify=false --preserve-digests "oci:$layout:v1" "docker://$image"
"$rimg" --root "$work/rimg" pull -q "$image" >/dev/null
docker_cmd=""
if command -v dockerd >/dev/null && [ "$(id -u)" = 0 ]; then
  if start_private_dockerd "$work/docker" --insecure-registry "$REGISTRY"; then
    "${DOCKER[@]}" pull -q "$image" >/dev/null
    docker_cmd="${DOCKER[*]} push -q $image"
  else
    echo "dockerd did not start; docker is left out" >&2
  fi
fi

declare -A commands=(
  [rimg]="$rimg --root $work/rimg push -q $image"
  [skopeo]="skopeo copy -q --dest-tls-verify=false oci:$layout:v1 docker://$image"
)
declare -A prepare=([rimg]=: [skopeo]=:)
tools=(rimg skopeo)
if [ -n "$docker_cmd" ]; then
  commands[docker]=$docker_cmd
  prepare[docker]=:
  tools+=(docker)
fi
if [ "$plain" = 1 ]; then
  # `rimg save` writes uncompressed layers in an archive that is also an
  # OCI layout (tagged v1); `rimg load` of it stores them as they are.
  "$rimg" --root "$work/rimg" save -o "$work/plain.tar" "$image"
  mkdir "$work/plain-layout" && tar -C "$work/plain-layout" -xf "$work/plain.tar"
  commands[rimg-plain]="$rimg --root $work/rimg-plain push -q $image"
  prepare[rimg-plain]="rm -rf $work/rimg-plain && $rimg --root $work/rimg-plain load -q -i $work/plain.tar >/dev/null"
  commands[skopeo-plain]="skopeo copy -q --dest-tls-verify=false oci:$work/plain-layout:v1 docker://$image"
  prepare[skopeo-plain]=:
  tools+=(rimg-plain skopeo-plain)
fi

# The manifest the registry now serves for the image (checks each push
# arrived; shows what layer types it arrived as).
pushed_manifest() {
  curl -fsS -H "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" \
    "http://$REGISTRY/v2/bench/image/manifests/v1"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for run in $(seq "$runs"); do
  for tool in "${tools[@]}"; do
    eval "${prepare[$tool]}"
    fresh_registry
    sync
    # shellcheck disable=SC2086 # the command is a word list
    /usr/bin/time -f "%e %M" -o "$work/time" ${commands[$tool]} >/dev/null
    pushed_manifest >"$work/manifest-$tool.json"
    echo "$tool $(cat "$work/time")" >>"$work/times"
    echo "run $run: $tool $(cut -d' ' -f1 "$work/time") s" >&2
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "Push of $image to a fresh local registry: $BENCH_LAYERS layers, $BENCH_COMPRESSED_MB MB gzip, $BENCH_UNCOMPRESSED_MB MB uncompressed"
echo "median of $runs runs per tool, runs interleaved; $(nproc) cores; load average after: $load_after"
python3 - "$work" "${tools[@]}" <<'PY'
import json, statistics, sys
work, tools = sys.argv[1], sys.argv[2:]
rows = [line.split() for line in open(work + "/times")]
secs = {t: statistics.median(float(r[1]) for r in rows if r[0] == t) for t in tools}
rss = {t: max(int(r[2]) for r in rows if r[0] == t) for t in tools}
def peer(t):  # the skopeo run of the same variant
    return "skopeo-plain" if t.endswith("-plain") else "skopeo"
def rimg(t):
    return "rimg-plain" if t.endswith("-plain") else "rimg"
print("%-13s %9s %9s %10s %12s  %s" % ("tool", "seconds", "vs rimg", "vs skopeo", "peak RSS", "pushed layers"))
for t in tools:
    layers = json.load(open("%s/manifest-%s.json" % (work, t)))["layers"]
    sent = sum(l["size"] for l in layers) // 1000000
    kinds = sorted({next((c for c in ("gzip", "zstd") if c in l["mediaType"]), "uncompressed") for l in layers})
    print("%-13s %9.2f %8.2fx %9.2fx %9d MB  %d MB %s" % (
        t, secs[t], secs[t] / secs[rimg(t)], secs[t] / secs[peer(t)], rss[t] // 1024, sent, "/".join(kinds)))
PY
