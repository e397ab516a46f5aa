#!/usr/bin/env bash
# A local Kubernetes control plane on loopback, from the binaries build-control-plane.sh caches:
# etcd, kube-apiserver (token auth, RBAC), kube-controller-manager, kube-scheduler, and kwok
# running fake GPU node groups (scripts/k8s/node-groups.txt) whose pods become Ready after the
# delay in their `model-deployments.dev/weights-load` annotation (scripts/k8s/kwok-stages.yaml).
#
#   scripts/k8s/control-plane.sh start    # writes $KUBE_DIR/kubeconfig, prints it
#   scripts/k8s/control-plane.sh stop
#
# AUTHN_WEBHOOK_URL (optional): a webhook token authenticator the apiserver asks, with an
# authentication.k8s.io/v1 TokenReview, about bearer tokens that are not in tokens.csv. That is
# how EKS accepts its tokens (aws-iam-authenticator); tests point it at a stand-in
# (test/helpers/eks-authenticator.ts). The static admin token keeps working either way.
#
# KWOK_POD_CIDR, KWOK_NODE_IP (optional): where kwok's fake pods and nodes get their IPs (default
# 10.0.0.1/16 and 10.0.0.1, private addresses nothing may dial). A loopback range (such as
# 127.0.100.1/24 and 127.0.100.1) lets a test bind a stand-in server on a pod's IP: Linux routes
# all of 127.0.0.0/8 to lo, so such traffic never leaves the machine.
#
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/toolchain.env

KUBE_DIR="${KUBE_DIR:-$PWD/data/kube}"
ETCD_PORT="${ETCD_PORT:-23790}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-23800}"
APISERVER_PORT="${APISERVER_PORT:-16443}"
AUTHN_WEBHOOK_URL="${AUTHN_WEBHOOK_URL:-}"
KWOK_POD_CIDR="${KWOK_POD_CIDR:-10.0.0.1/16}"
KWOK_NODE_IP="${KWOK_NODE_IP:-10.0.0.1}"
K8S="$TOOLS_CACHE/kubernetes-$KUBERNETES_VERSION"
ETCD="$TOOLS_CACHE/etcd-$ETCD_VERSION/etcd"
KWOK="$TOOLS_CACHE/kwok-$KWOK_VERSION/kwok"
# The kubectl built with the control plane, else one on PATH.
KUBECTL="$K8S/kubectl"
[ -x "$KUBECTL" ] || KUBECTL=kubectl
TOKEN="admin-token-local"

log() { printf 'control-plane: %s\n' "$*" >&2; }

run_bg() { # name, command...: start in the background, log to a file, remember the pid
  local name="$1"; shift
  "$@" >"$KUBE_DIR/logs/$name.log" 2>&1 &
  echo $! >"$KUBE_DIR/pids/$name"
}

wait_for() { # what, command...: retry for 60 s
  local what="$1"; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "$what did not come up; see $KUBE_DIR/logs"; exit 1
}

start() {
  for bin in "$ETCD" "$K8S/kube-apiserver" "$K8S/kube-controller-manager" "$K8S/kube-scheduler" "$KWOK"; do
    [ -x "$bin" ] || { log "$bin is missing: run scripts/k8s/build-control-plane.sh"; exit 1; }
  done
  mkdir -p "$KUBE_DIR"/{etcd,certs,logs,pids}
  [ -f "$KUBE_DIR/certs/sa.key" ] || {
    openssl genrsa -out "$KUBE_DIR/certs/sa.key" 2048 2>/dev/null
    openssl rsa -in "$KUBE_DIR/certs/sa.key" -pubout -out "$KUBE_DIR/certs/sa.pub" 2>/dev/null
  }
  echo "$TOKEN,admin,admin,system:masters" >"$KUBE_DIR/tokens.csv"

  run_bg etcd "$ETCD" --name local --data-dir "$KUBE_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT"
  wait_for etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"

  # The apiserver tries the token file first, then the webhook. v1 TokenReviews, as
  # aws-iam-authenticator answers; results are cached for 10 s, not 2 min, so tests see changes.
  local webhook=()
  if [ -n "$AUTHN_WEBHOOK_URL" ]; then
    write_authn_webhook_kubeconfig
    webhook=(--authentication-token-webhook-config-file "$KUBE_DIR/authn-webhook.kubeconfig"
      --authentication-token-webhook-version v1 --authentication-token-webhook-cache-ttl 10s)
  fi

  run_bg kube-apiserver "$K8S/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --cert-dir "$KUBE_DIR/certs" --token-auth-file "$KUBE_DIR/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$KUBE_DIR/certs/sa.pub" --service-account-signing-key-file "$KUBE_DIR/certs/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 --allow-privileged=true ${webhook[@]+"${webhook[@]}"}
  wait_for kube-apiserver curl -skf -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$APISERVER_PORT/readyz"

  cat >"$KUBE_DIR/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: { server: "https://127.0.0.1:$APISERVER_PORT", insecure-skip-tls-verify: true }
users:
- name: admin
  user: { token: "$TOKEN" }
contexts:
- name: local
  context: { cluster: local, user: admin }
current-context: local
KUBECONFIG

  run_bg kube-controller-manager "$K8S/kube-controller-manager" --kubeconfig "$KUBE_DIR/kubeconfig" \
    --leader-elect=false --secure-port 0 --use-service-account-credentials=false \
    --service-account-private-key-file "$KUBE_DIR/certs/sa.key" --controllers '*,-nodeipam,-serviceaccount-token'
  run_bg kube-scheduler "$K8S/kube-scheduler" --kubeconfig "$KUBE_DIR/kubeconfig" --leader-elect=false --secure-port 0
  run_bg kwok "$KWOK" --kubeconfig "$KUBE_DIR/kubeconfig" --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --config scripts/k8s/kwok-stages.yaml --cidr "$KWOK_POD_CIDR" --node-ip "$KWOK_NODE_IP"
  create_node_groups
  log "ready: KUBECONFIG=$KUBE_DIR/kubeconfig"
  echo "$KUBE_DIR/kubeconfig"
}

# The token webhook's kubeconfig: its "cluster" is the authenticator, its "user" the apiserver,
# which needs no credentials to call it on loopback.
write_authn_webhook_kubeconfig() {
  cat >"$KUBE_DIR/authn-webhook.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: authenticator
  cluster: { server: "$AUTHN_WEBHOOK_URL" }
users:
- name: kube-apiserver
  user: {}
contexts:
- name: webhook
  context: { cluster: authenticator, user: kube-apiserver }
current-context: webhook
KUBECONFIG
}

# One kwok node per line of node-groups.txt x count, tainted so only GPU workloads land there.
create_node_groups() {
  local group count product gpus cpu memory i
  while read -r group count product gpus cpu memory; do
    case "$group" in ''|'#'*) continue ;; esac
    for i in $(seq 0 $((count - 1))); do
      "$KUBECTL" --kubeconfig "$KUBE_DIR/kubeconfig" apply -f - >/dev/null <<NODE
apiVersion: v1
kind: Node
metadata:
  name: $group-$i
  annotations: { kwok.x-k8s.io/node: fake }
  labels:
    kubernetes.io/hostname: $group-$i
    type: kwok
    eks.amazonaws.com/nodegroup: $group
    nvidia.com/gpu.product: $product
spec:
  taints: [{ key: nvidia.com/gpu, value: present, effect: NoSchedule }]
status:
  capacity: { cpu: "$cpu", memory: $memory, pods: "110", nvidia.com/gpu: "$gpus" }
  allocatable: { cpu: "$cpu", memory: $memory, pods: "110", nvidia.com/gpu: "$gpus" }
NODE
    done
  done < scripts/k8s/node-groups.txt
  wait_for "the fake GPU nodes" sh -c "! '$KUBECTL' --kubeconfig '$KUBE_DIR/kubeconfig' get nodes --no-headers | grep -v ' Ready '"
}

stop() {
  [ -d "$KUBE_DIR/pids" ] || return 0
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    [ -f "$KUBE_DIR/pids/$name" ] || continue
    local pid
    pid="$(cat "$KUBE_DIR/pids/$name")"
    kill "$pid" 2>/dev/null || true
    # The apiserver drains gracefully for a while; give each 10 s, then kill it.
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$KUBE_DIR/pids/$name"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
