#!/usr/bin/env bash
# Builds a local Kubernetes control plane from Go modules into the version-keyed tools cache:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok (fake nodes and pods).
# Cold, this takes tens of minutes on 2 cores; warm, it returns at once.
#
# k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces every staging module with a
# local path), so a small wrapper module requires it and replaces each staging module with its
# published build (k8s.io/api v0.36.x for kubernetes v1.36.x, ...). etcd is built the same way.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/toolchain.env

log() { printf 'k8s-build: %s\n' "$*" >&2; }
command -v go >/dev/null || { log "Go is needed to build the Kubernetes control plane (https://go.dev/dl)"; exit 1; }

k8s_dir="$TOOLS_CACHE/kubernetes-$KUBERNETES_VERSION"
etcd_dir="$TOOLS_CACHE/etcd-$ETCD_VERSION"
kwok_dir="$TOOLS_CACHE/kwok-$KWOK_VERSION"

# A wrapper module that requires `$1@$2` with every local `replace` of its go.mod pointed at the
# published module version `$3`; prints the module's directory.
wrapper_module() {
  local module="$1" version="$2" staging_version="$3"
  local dir
  dir="$(mktemp -d)"
  local gomod
  gomod="$(cd "$dir" && go mod download -json "$module@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  {
    echo "module wrapper"
    echo "go 1.25"
    echo "require $module $version"
    # `k8s.io/api => ./staging/src/k8s.io/api` becomes `k8s.io/api => k8s.io/api v0.36.3`
    # (etcd's `=> ../api` likewise); "FORBIDDEN_DEPENDENCY" guards are left out.
    awk -v v="$staging_version" '
      { sub(/^[ \t]*replace[ \t]+/, ""); sub(/^[ \t]+/, "") }
      $2 == "=>" && $3 ~ /^\.\.?\// && $3 !~ /FORBIDDEN_DEPENDENCY/ { print "replace " $1 " => " $1 " " v }
    ' "$gomod"
  } > "$dir/go.mod"
  echo "$dir"
}

build_kubernetes() {
  local cmds="kube-apiserver kube-controller-manager kube-scheduler kubectl" cmd missing=""
  for cmd in $cmds; do [ -x "$k8s_dir/$cmd" ] || missing=1; done
  [ -n "$missing" ] || return 0
  local staging="v0${KUBERNETES_VERSION#v1}"
  log "building Kubernetes $KUBERNETES_VERSION (staging modules $staging) into $k8s_dir"
  local dir
  dir="$(wrapper_module k8s.io/kubernetes "$KUBERNETES_VERSION" "$staging")"
  (
    cd "$dir"
    mkdir -p "$k8s_dir.tmp"
    for cmd in $cmds; do
      log "  go build $cmd"
      GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$k8s_dir.tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    done
  )
  rm -rf "$k8s_dir" && mv "$k8s_dir.tmp" "$k8s_dir" && rm -rf "$dir"
}

build_etcd() {
  if [ -x "$etcd_dir/etcd" ]; then return; fi
  log "building etcd $ETCD_VERSION into $etcd_dir"
  local dir
  dir="$(wrapper_module go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$ETCD_VERSION")"
  (
    cd "$dir"
    mkdir -p "$etcd_dir.tmp"
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$etcd_dir.tmp/etcd" go.etcd.io/etcd/server/v3
  )
  rm -rf "$etcd_dir" && mv "$etcd_dir.tmp" "$etcd_dir" && rm -rf "$dir"
}

build_kwok() {
  if [ -x "$kwok_dir/kwok" ]; then return; fi
  log "building kwok $KWOK_VERSION into $kwok_dir"
  mkdir -p "$kwok_dir.tmp"
  GOBIN="$kwok_dir.tmp" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  rm -rf "$kwok_dir" && mv "$kwok_dir.tmp" "$kwok_dir"
}

build_etcd
build_kwok
build_kubernetes
log "control plane binaries ready: $etcd_dir/etcd, $k8s_dir/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}, $kwok_dir/kwok"
