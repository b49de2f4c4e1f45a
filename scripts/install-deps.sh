#!/usr/bin/env bash
# Installs with apt-get what rimg needs on a fresh Debian/Ubuntu machine,
# skipping what is already there: to build, ISA-L's library (gzip layers
# are inflated by its igzip); with --test, the real components the tests
# drive (a CNCF distribution registry, skopeo, podman, umoci, a Docker
# engine, the OCI runtimes runc and crun, a static busybox for test
# images, debootstrap for a Debian one, uidmap for rootless runs,
# fuse-overlayfs, zstd, openssl).
set -euo pipefail

# Debian package -> a file or command that shows it is installed
declare -A packages=([libisal-dev]=/usr/include/isa-l/igzip_lib.h)
if [ "${1:-}" = --test ]; then
  packages+=(
    [docker-registry]=docker-registry
    [skopeo]=skopeo
    [podman]=podman
    [umoci]=umoci
    [docker.io]=dockerd
    [runc]=runc
    [crun]=crun
    # The static build: the dynamic busybox package has the same path.
    [busybox-static]=/usr/share/doc/busybox-static
    [debootstrap]=debootstrap
    [procps]=pgrep
    # newuidmap/newgidmap, which map a user's subordinate IDs in rimg's
    # user namespace (the rootless test passes).
    [uidmap]=newuidmap
    # The fuse-overlayfs driver's pass.
    [fuse-overlayfs]=fuse-overlayfs
    [zstd]=zstd
    [openssl]=openssl
  )
fi
missing=()
for package in "${!packages[@]}"; do
  probe=${packages[$package]}
  if [[ $probe == /* ]]; then
    [ -e "$probe" ] || missing+=("$package")
  else
    command -v "$probe" >/dev/null 2>&1 || missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
