# Sourced by the registry benchmarks (bench-pull, bench-push): the
# realistic image they move, built once from this machine's own files
# (binaries, libraries, locales, docs: realistic to compress) as an OCI
# layout with one gzip layer (gzip -6) per entry of BENCH_LAYER_DIRS,
# tagged v1.
#
#   source scripts/bench-image.sh
#   bench_start NAME         # builds rimg (release) as $rimg, makes the run's
#                            # directory $work, cleans up on exit
#   bench_image DIR MIN_MB   # builds DIR/layout unless it is there; sets
#                            # BENCH_LAYOUT, BENCH_LAYERS, BENCH_COMPRESSED_MB,
#                            # BENCH_UNCOMPRESSED_MB

BENCH_LAYER_DIRS=(usr/bin usr/lib/gcc usr/share/locale "usr/share/doc usr/share/man" etc)

source scripts/local-registry.sh
source scripts/private-dockerd.sh

bench_start() {
  cargo build --release --quiet
  rimg=${CARGO_TARGET_DIR:-$PWD/target}/release/rimg
  work=$(mktemp -d "${TMPDIR:-/tmp}/rimg-$1.XXXXXX")
  trap bench_cleanup EXIT
}

bench_cleanup() {
  stop_private_dockerd
  stop_local_registry
  # podman's store may hold read-only files.
  rm -rf "$work" 2>/dev/null || true
}

bench_sha() { sha256sum "$1" | cut -d' ' -f1; }
bench_size() { stat -c %s "$1"; }

bench_image() {
  local dir=$1 min_mb=$2
  BENCH_LAYOUT=$dir/layout
  BENCH_LAYERS=${#BENCH_LAYER_DIRS[@]}
  if [ ! -f "$BENCH_LAYOUT/index.json" ]; then
    bench_build_layout "$BENCH_LAYOUT" "$min_mb" || return 1
  fi
  BENCH_UNCOMPRESSED_MB=$(($(cat "$BENCH_LAYOUT/uncompressed-bytes") / 1000000))
  BENCH_COMPRESSED_MB=$(($(du -sb "$BENCH_LAYOUT/blobs" | cut -f1) / 1000000))
}

bench_build_layout() {
  local layout=$1 min_mb=$2
  echo "building the benchmark image in $layout (once)..." >&2
  rm -rf "$layout" && mkdir -p "$layout/blobs/sha256"
  local layers="" diff_ids="" total=0 tmp=$layout/layer.tmp dirs digest
  for dirs in "${BENCH_LAYER_DIRS[@]}"; do
    # shellcheck disable=SC2086 # several directories per layer
    tar -C / --sort=name --mtime=@0 --owner=0 --group=0 -cf "$tmp.tar" $dirs 2>/dev/null || true
    total=$((total + $(bench_size "$tmp.tar")))
    diff_ids+="\"sha256:$(bench_sha "$tmp.tar")\","
    gzip -6 -n -c "$tmp.tar" >"$tmp.gz" && rm "$tmp.tar"
    digest=$(bench_sha "$tmp.gz")
    layers+="{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$(bench_size "$tmp.gz")},"
    mv "$tmp.gz" "$layout/blobs/sha256/$digest"
  done
  if ((total < min_mb * 1000000)); then
    echo "bench-image: only $((total / 1000000)) MB of files found; need $min_mb MB" >&2
    return 1
  fi
  local config manifest
  config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\",\"config\":{\"Cmd\":[\"/bin/sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[${diff_ids%,}]}}"
  manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",$(bench_put_blob "$layout" "$config")},\"layers\":[${layers%,}]}"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
    "$(bench_put_blob "$layout" "$manifest")" >"$layout/index.json"
  echo "$total" >"$layout/uncompressed-bytes"
}

# Stores TEXT as a blob of LAYOUT; prints its descriptor's digest and size
# fields.
bench_put_blob() {
  local layout=$1 text=$2 digest
  printf '%s' "$text" >"$layout/blob.tmp"
  digest=$(bench_sha "$layout/blob.tmp")
  printf '"digest":"sha256:%s","size":%s' "$digest" "$(bench_size "$layout/blob.tmp")"
  mv "$layout/blob.tmp" "$layout/blobs/sha256/$digest"
}
