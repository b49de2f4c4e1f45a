#!/usr/bin/env bash
# Benchmarks `rimg save` / `rimg load` against `docker save` / `docker load`
# (a private dockerd, as in the tests) and `podman save` / `podman load`
# (a private vfs store), on one image of ≥ 500 MB, side by side.
#
#   scripts/bench-saveload.sh            # RUNS=3 BENCH_DIR=/tmp/rimg-bench-saveload
#
# Needs root (dockerd), docker.io, podman, python3 and GNU time (the `time`
# package) for rimg's peak memory. The image is generated once and reused:
# six layers of ~96 MB each (576 MB), half random bytes and half text, so gzip has
# something to do. Each figure is the best of RUNS rounds with a warm page
# cache and nothing left to write back; every load goes into an empty store.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DIR=${BENCH_DIR:-/tmp/rimg-bench-saveload}
mkdir -p "$DIR"
for cmd in dockerd docker podman python3 /usr/bin/time; do
  command -v "$cmd" >/dev/null || { echo "missing: $cmd" >&2; exit 1; }
done

cargo build --release --quiet
RIMG=$PWD/target/release/rimg

# --- the image: a legacy docker archive written once ------------------------
IMAGE_TAR=$DIR/image.tar
if [ ! -s "$IMAGE_TAR" ]; then
  echo "generating the benchmark image in $IMAGE_TAR"
  python3 - "$IMAGE_TAR" <<'EOF'
import hashlib, io, json, os, random, sys, tarfile, tempfile
out = sys.argv[1]
rng = random.Random(42)
words = [("".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 9)))) for _ in range(500)]
layers = []
with tempfile.TemporaryDirectory(dir=os.path.dirname(out)) as tmp:
    for n in range(6):
        path = os.path.join(tmp, f"layer{n}.tar")
        with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as layer:
            for f in range(48):
                if f % 2:
                    data = os.urandom(2_000_000)
                else:
                    data = (" ".join(rng.choice(words) for _ in range(40_000)) + "\n").encode() * 10
                    data = data[:2_000_000]
                info = tarfile.TarInfo(f"data/layer{n}/file{f}")
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                layer.addfile(info, io.BytesIO(data))
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        layers.append((path, h.hexdigest()))
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + d for _, d in layers]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(layers))],
    }).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as archive:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
        for path, hexd in layers:
            archive.add(path, f"{hexd}/layer.tar")
        add(f"{config_hex}.json", config)
        add("manifest.json", json.dumps([{
            "Config": f"{config_hex}.json", "RepoTags": ["bench:1"],
            "Layers": [f"{d}/layer.tar" for _, d in layers],
        }]).encode())
EOF
fi
SIZE_MB=$(( $(stat -c %s "$IMAGE_TAR") / 1000000 ))

# --- private daemons and stores ---------------------------------------------
WORK=$(mktemp -d "$DIR/run.XXXXXX")
source scripts/private-dockerd.sh
cleanup() {
  stop_private_dockerd
  rm -rf "$WORK"
}
trap cleanup EXIT
start_private_dockerd "$WORK/docker"
# Arrays, not functions: GNU time runs programs.
PODMAN=("$(command -v podman)" --root "$WORK/podman" --runroot "$WORK/podman-run"
  --storage-driver vfs --events-backend none)
RIMG_IN=("$RIMG" --root)

# Wall-clock seconds of one run of "$@", after a sync so that no tool pays
# for the previous step's dirty pages. Every save writes a new out.tar
# (podman refuses to overwrite one).
timed() {
  rm -f "$WORK/out.tar"
  sync
  /usr/bin/time -f %e -o "$WORK/time" "$@" >"$WORK/out.log" 2>&1 \
    || { echo "failed: $*" >&2; cat "$WORK/out.log" >&2; exit 1; }
  tail -1 "$WORK/time"
}
# Peak resident memory (MB) of one run of "$@".
peak_mb() {
  sync
  /usr/bin/time -f %M -o "$WORK/time" "$@" >/dev/null 2>&1
  awk '{printf "%.0f", $1/1024}' "$WORK/time"
}
declare -A best
keep_best() { # NAME SECONDS (empty when the run failed)
  [ -n "$2" ] || exit 1
  if [ -z "${best[$1]:-}" ] || awk "BEGIN{exit !($2 < ${best[$1]})}"; then best[$1]=$2; fi
}

# Each tool starts from the same archive. rimg also gets the image as a
# pull leaves it, with gzip layers: from the OCI archive podman writes
# (which gzips the layers and names the image localhost/bench:1).
"${DOCKER[@]}" load -i "$IMAGE_TAR" >/dev/null
"${PODMAN[@]}" load -i "$IMAGE_TAR" >/dev/null
"${RIMG_IN[@]}" "$WORK/rimg" load -i "$IMAGE_TAR" >/dev/null
"${PODMAN[@]}" save --format oci-archive -o "$WORK/oci-gzip.tar" bench:1 >/dev/null
"${RIMG_IN[@]}" "$WORK/rimg-gz" load -i "$WORK/oci-gzip.tar" >/dev/null

echo "image: bench:1, $SIZE_MB MB archive, best of $RUNS rounds; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# Rounds interleave the tools, so other work on the machine hits them alike.
for _ in $(seq 1 "$RUNS"); do
  keep_best docker_save "$(timed "${DOCKER[@]}" save -o "$WORK/out.tar" bench:1)"
  keep_best podman_save "$(timed "${PODMAN[@]}" save -o "$WORK/out.tar" bench:1)"
  keep_best rimg_save "$(timed "${RIMG_IN[@]}" "$WORK/rimg" save -o "$WORK/out.tar" bench:1)"
  keep_best rimg_save_gz "$(timed "${RIMG_IN[@]}" "$WORK/rimg-gz" save -o "$WORK/out.tar" localhost/bench:1)"
  "${DOCKER[@]}" rmi -f bench:1 >/dev/null
  keep_best docker_load "$(timed "${DOCKER[@]}" load -i "$IMAGE_TAR")"
  "${PODMAN[@]}" rmi -af >/dev/null
  keep_best podman_load "$(timed "${PODMAN[@]}" load -i "$IMAGE_TAR")"
  rm -rf "$WORK/rimg-load"
  keep_best rimg_load "$(timed "${RIMG_IN[@]}" "$WORK/rimg-load" load -i "$IMAGE_TAR")"
done
rimg_save_mb=$(peak_mb "${RIMG_IN[@]}" "$WORK/rimg" save -o "$WORK/out.tar" bench:1)
rimg_save_gz_mb=$(peak_mb "${RIMG_IN[@]}" "$WORK/rimg-gz" save -o "$WORK/out.tar" localhost/bench:1)
rm -rf "$WORK/rimg-load"
rimg_load_mb=$(peak_mb "${RIMG_IN[@]}" "$WORK/rimg-load" load -i "$IMAGE_TAR")
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
row() { # LABEL RIMG_KEY DOCKER_KEY PODMAN_KEY RSS
  printf '%-30s %8ss %8ss %8ss %12s %12s %8sMB\n' "$1" "${best[$3]}" "${best[$4]}" "${best[$2]}" \
    "$(ratio "${best[$2]}" "${best[$3]}")" "$(ratio "${best[$2]}" "${best[$4]}")" "$5"
}
printf '\n%-30s %9s %9s %9s %12s %12s %10s\n' operation docker podman rimg rimg/docker rimg/podman "rimg RSS"
row "save (plain layers in store)" rimg_save docker_save podman_save "$rimg_save_mb"
row "save (gzip layers in store)" rimg_save_gz docker_save podman_save "$rimg_save_gz_mb"
row "load (legacy docker archive)" rimg_load docker_load podman_load "$rimg_load_mb"
