#!/usr/bin/env bash
# Runs a test binary as an unprivileged user (RIMG_TEST_USER, default
# rimg-rootless), for cargo's target runner: scripts/test.sh's rootless
# pass, where rimg runs containers as that user would. The binary and rimg
# are copied to a directory the user can reach (the clone may be under a
# private home), and the tests find that rimg through RIMG_TEST_BINARY.
#
#   CARGO_TARGET_<TRIPLE>_RUNNER=scripts/as-test-user.sh cargo test --test run
set -euo pipefail

test_binary=$1
shift
user=${RIMG_TEST_USER:-rimg-rootless}
home=$(getent passwd "$user" | cut -d: -f6)
[ -n "$home" ] || { echo "as-test-user: no user $user" >&2; exit 1; }

# /tmp, which every user may write: the caller's TMPDIR may be private.
dir=$(mktemp -d /tmp/rimg-test-user.XXXXXX)
# rimg's runtime state for the store below (runtime::state_dir: the first
# 12 hex digits of the store path's sha256), gone with it.
state=/tmp/rimg-$(id -u "$user")/$(printf %s "$dir/store" | sha256sum | cut -c1-12)
trap 'rm -rf "$dir" "$state"' EXIT
chmod 755 "$dir"
cp "$test_binary" "$dir/"
cp "$(dirname "$test_binary")/../rimg" "$dir/rimg"

# The tests run in rimg's user namespace (`rimg unshare`, for a store the
# user owns in that directory), as root there, as a user's rimg works
# after joining it: its containers' overlay mounts and files owned by
# subordinate IDs are then theirs to see, change and remove. The namespace
# ends with the store, removed on exit. With RIMG_STORAGE_DRIVER=copy
# there is none, and the tests run as the user.
mkdir "$dir/store"
chown "$user:" "$dir/store"
cd "$dir"
status=0
setpriv --reuid="$user" --regid="$user" --init-groups \
  env -u XDG_RUNTIME_DIR HOME="$home" USER="$user" LOGNAME="$user" TMPDIR=/tmp \
  RIMG_TEST_BINARY="$dir/rimg" "$dir/rimg" --root "$dir/store" unshare \
  "$dir/$(basename "$test_binary")" "$@" || status=$?
exit "$status"
