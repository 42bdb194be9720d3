#!/usr/bin/env bash
# Installs the pinned code-generation tools into ./bin. Idempotent: a tool already at its pinned version is kept.
# buf takes about five minutes to build from a cold module cache.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/bin"
mkdir -p "$BIN"

BUF_VERSION=v1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
PROTOC_GEN_GRPC_GATEWAY_VERSION=v2.33.0

install() { # name module version
  local name=$1 module=$2 version=$3 stamp="$BIN/.$1.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
    return 0
  fi
  echo "installing $name $version" >&2
  GOBIN="$BIN" GOTOOLCHAIN=local go install "$module@$version"
  echo "$version" >"$stamp"
}

install protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
install protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
install protoc-gen-grpc-gateway github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway "$PROTOC_GEN_GRPC_GATEWAY_VERSION"
install protoc-gen-openapiv2 github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2 "$PROTOC_GEN_GRPC_GATEWAY_VERSION"
install buf github.com/bufbuild/buf/cmd/buf "$BUF_VERSION"
