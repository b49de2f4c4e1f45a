# Sourced by the registry benchmarks: a CNCF distribution registry
# (`docker-registry`) on a loopback port, plain HTTP, its storage under a
# directory of the caller's, as the tests start one (tests/common/).
#
#   source scripts/local-registry.sh
#   port=$(free_port)
#   start_local_registry DIR PORT   # sets REGISTRY (host:port)
#   stop_local_registry             # e.g. from an EXIT trap; DIR stays

LOCAL_REGISTRY_PID=""

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_local_registry() {
  local dir=$1 port=$2
  REGISTRY=127.0.0.1:$port
  mkdir -p "$dir"
  cat >"$dir/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $dir/storage}}
http: {addr: $REGISTRY}
YML
  docker-registry serve "$dir/registry.yml" >>"$dir/registry.log" 2>&1 &
  LOCAL_REGISTRY_PID=$!
  for _ in $(seq 1 100); do curl -fs "http://$REGISTRY/v2/" >/dev/null && return 0; sleep 0.1; done
  echo "the registry did not start:" >&2
  tail -20 "$dir/registry.log" >&2
  return 1
}

stop_local_registry() {
  [ -n "$LOCAL_REGISTRY_PID" ] || return 0
  kill "$LOCAL_REGISTRY_PID" 2>/dev/null || true
  wait "$LOCAL_REGISTRY_PID" 2>/dev/null || true
  LOCAL_REGISTRY_PID=""
}
