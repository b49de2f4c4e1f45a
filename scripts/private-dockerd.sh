# Sourced by the benchmark scripts: a private Docker engine, as the tests
# start one (tests/common/docker.rs). It runs as root with its own data
# root, exec root and socket under DIR and no networking set-up, so it
# touches nothing else on the machine.
#
#   source scripts/private-dockerd.sh
#   start_private_dockerd DIR [DOCKERD ARGS...]   # sets DOCKER (an array)
#   ... "${DOCKER[@]}" load -i x.tar ...
#   stop_private_dockerd                          # e.g. from an EXIT trap

PRIVATE_DOCKERD_PID=""
PRIVATE_DOCKERD_DIR=""

start_private_dockerd() {
  local dir=$1
  shift
  mkdir -p "$dir"
  PRIVATE_DOCKERD_DIR=$(realpath "$dir")
  dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
    -H "unix://$dir/docker.sock" "$@" >"$dir/dockerd.log" 2>&1 &
  PRIVATE_DOCKERD_PID=$!
  # An array, not a function, so that GNU time can run it.
  # Debian's 20.10 CLI, which matches the engine (/usr/local/bin may hold a
  # newer one).
  DOCKER=(/usr/bin/docker -H "unix://$dir/docker.sock")
  for _ in $(seq 1 300); do "${DOCKER[@]}" info >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "dockerd did not start:" >&2
  tail -20 "$dir/dockerd.log" >&2
  return 1
}

# SIGTERM lets dockerd stop its containerd and unmount its layers; waits
# up to 20 s for it.
stop_private_dockerd() {
  [ -n "$PRIVATE_DOCKERD_PID" ] || return 0
  kill "$PRIVATE_DOCKERD_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$PRIVATE_DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
  PRIVATE_DOCKERD_PID=""
  # What the engine leaves mounted (its default network namespace after a
  # `build --network host`), deepest first, so that the directory can go.
  awk -v dir="$PRIVATE_DOCKERD_DIR/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo |
    sort -r | while read -r point; do umount -l "$point" 2>/dev/null || true; done
}
