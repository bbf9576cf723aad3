#!/usr/bin/env bash
# A multi-node Ray cluster on this one machine, for developing and trying NovaGenIA's
# scale-out (placement, autoscaling, /api/v1/cluster) without cloud VMs.
#
#   cluster/local-multinode.sh start [WORKERS]  # a head + WORKERS worker nodes (default 1)
#   cluster/local-multinode.sh deploy           # NovaGenIA on it, http://127.0.0.1:7860
#   cluster/local-multinode.sh status           # `ray status` of this cluster
#   cluster/local-multinode.sh stop             # ends exactly the processes started here
#
# Every node declares logical GPUs (GPUS_PER_NODE, default 1) and a resource naming it
# (`{"local_node_0": 1}`…): Ray places replicas by those numbers even with no GPU, and the
# replicas then run on whatever the machine has (CUDA, else the CPU). Every node runs in its
# own session under one private --temp-dir, so `stop` kills those process groups and
# nothing else: unlike `ray stop`, it leaves other Ray clusters on the machine alone.
# The nodes share this machine's filesystem, so the app's data dir is shared storage.
#
# Settings (environment): CLUSTER_DIR (default /tmp/novagenia-cluster), RAY_PORT (6390),
# DASHBOARD_PORT (8265), CPUS_PER_NODE (2), GPUS_PER_NODE (1), GPUS_PER_REPLICA (0.5),
# MAX_REPLICAS (4). Ray >= 2.59 uses token auth once ~/.ray/auth_token exists; for a
# throwaway cluster, RAY_AUTH_MODE=disabled turns it off.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER_DIR="${CLUSTER_DIR:-/tmp/novagenia-cluster}"
RAY_PORT="${RAY_PORT:-6390}"
DASHBOARD_PORT="${DASHBOARD_PORT:-8265}"
CPUS_PER_NODE="${CPUS_PER_NODE:-2}"
GPUS_PER_NODE="${GPUS_PER_NODE:-1}"
GPUS_PER_REPLICA="${GPUS_PER_REPLICA:-0.5}"
MAX_REPLICAS="${MAX_REPLICAS:-4}"
if [[ -x "$ROOT/.venv/bin/ray" ]]; then BIN="$ROOT/.venv/bin"; else BIN="$(dirname "$(command -v ray)")"; fi
ADDRESS="127.0.0.1:$RAY_PORT"

free_port() {
  "$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_node NAME ARGS…: `ray start --block` in a new session; its process group id is
# written to CLUSTER_DIR/NAME.pgid. Ports Ray would fix (agent, client server) are free
# ones, so the nodes do not collide with each other or with other clusters.
start_node() {
  local name="$1"
  shift
  setsid "$BIN/ray" start --block \
    --num-cpus="$CPUS_PER_NODE" --num-gpus="$GPUS_PER_NODE" \
    --resources="{\"$name\": 1}" \
    --temp-dir="$CLUSTER_DIR/ray" \
    --disable-usage-stats \
    --dashboard-agent-listen-port="$(free_port)" \
    --dashboard-agent-grpc-port="$(free_port)" \
    --runtime-env-agent-port="$(free_port)" \
    --metrics-export-port="$(free_port)" \
    "$@" >"$CLUSTER_DIR/$name.log" 2>&1 &
  echo "$!" >"$CLUSTER_DIR/$name.pgid"
}

wait_for_nodes() {
  local want="$1"
  for _ in $(seq 120); do
    local alive
    alive="$("$BIN/python" - "$ADDRESS" 2>/dev/null <<'EOF' || echo 0
import sys, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
print(sum(node["Alive"] for node in ray.nodes()))
EOF
)"
    [[ "$alive" == "$want" ]] && return 0
    sleep 1
  done
  echo "only $alive of $want nodes joined; logs in $CLUSTER_DIR" >&2
  return 1
}

cmd_start() {
  local workers="${1:-1}"
  if compgen -G "$CLUSTER_DIR/*.pgid" >/dev/null; then
    echo "already started ($CLUSTER_DIR); run '$0 stop' first" >&2
    exit 1
  fi
  mkdir -p "$CLUSTER_DIR"
  start_node local_node_0 --head --port="$RAY_PORT" \
    --dashboard-port="$DASHBOARD_PORT" --ray-client-server-port="$(free_port)"
  wait_for_nodes 1
  for i in $(seq 1 "$workers"); do
    start_node "local_node_$i" --address="$ADDRESS"
  done
  wait_for_nodes "$((workers + 1))"
  echo "Ray cluster at $ADDRESS: 1 head + $workers worker(s), $GPUS_PER_NODE logical GPU(s) each"
  echo "dashboard: http://127.0.0.1:$DASHBOARD_PORT   next: $0 deploy"
}

# serve_config.yaml with what one machine needs: one HTTP proxy (every node's proxy would
# want port 7860 here), fractional GPUs and a few replicas.
cmd_deploy() {
  local config="$CLUSTER_DIR/serve_config.yaml"
  "$BIN/python" - "$ROOT/serve_config.yaml" "$config" <<EOF
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
config["proxy_location"] = "HeadOnly"
for app in config["applications"]:
    args = app.setdefault("args", {})
    args["data_dir"] = "$ROOT/data"
    args["gpus_per_replica"] = float("$GPUS_PER_REPLICA")
    args["cpus_per_replica"] = min(1.0, $CPUS_PER_NODE * float("$GPUS_PER_REPLICA") / $GPUS_PER_NODE)
    args.setdefault("autoscaling", {})["max_replicas"] = int("$MAX_REPLICAS")
yaml.safe_dump(config, open(sys.argv[2], "w"), sort_keys=False)
EOF
  (cd "$ROOT" && "$BIN/serve" deploy --address "http://127.0.0.1:$DASHBOARD_PORT" "$config")
  echo "deploying: watch $0 status, then http://127.0.0.1:7860 and /api/v1/cluster"
}

cmd_status() {
  "$BIN/ray" status --address="$ADDRESS"
  "$BIN/serve" status --address "http://127.0.0.1:$DASHBOARD_PORT" || true
}

# SIGTERM to every node's process group, SIGKILL to what is left after a grace period.
cmd_stop() {
  local files=("$CLUSTER_DIR"/*.pgid)
  [[ -e "${files[0]}" ]] || { echo "nothing started in $CLUSTER_DIR"; return 0; }
  local signal
  for signal in TERM KILL; do
    for file in "${files[@]}"; do kill "-$signal" -- "-$(cat "$file")" 2>/dev/null || true; done
    for _ in $(seq 20); do
      local alive=0
      for file in "${files[@]}"; do kill -0 -- "-$(cat "$file")" 2>/dev/null && alive=1; done
      [[ $alive == 0 ]] && break
      sleep 0.5
    done
  done
  rm -f "${files[@]}"
  echo "stopped the cluster in $CLUSTER_DIR (logs kept there)"
}

case "${1:-}" in
  start) cmd_start "${2:-1}" ;;
  deploy) cmd_deploy ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  *)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
