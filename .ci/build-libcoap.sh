#!/usr/bin/env bash
# Builds the independent CoAP/OSCORE peer (libcoap 4.3.5, ../shared/peers/) once, outside the work
# tree: it is not the project's code. The tests find it through test/support/libcoap.ts.
# Usage: bash .ci/build-libcoap.sh   (KEYBOUND_PEERS_DIR overrides ~/.cache/keybound-peers)
set -euo pipefail
cd "$(dirname "$0")/.."
peers_dir="${KEYBOUND_PEERS_DIR:-$HOME/.cache/keybound-peers}"
build="$peers_dir/libcoap"
tarball="../shared/peers/libcoap-4.3.5.tar.gz"
if [ -x "$build/build/coap-client" ] && [ -x "$build/build/coap-server" ]; then
  echo "libcoap already built in $build/build"; exit 0
fi
[ -f "$tarball" ] || { echo "libcoap source missing: $tarball (../shared/peers)"; exit 1; }
rm -rf "$build"; mkdir -p "$build"
tar xzf "$tarball" -C "$build"
cmake -S "$build/libcoap-4.3.5" -B "$build/build" -DENABLE_DTLS=ON -DDTLS_BACKEND=openssl \
  -DENABLE_OSCORE=ON -DENABLE_EXAMPLES=ON -DENABLE_DOCS=OFF -DENABLE_TESTS=OFF -DENABLE_WS=OFF -DENABLE_TCP=OFF >"$build/cmake.log" 2>&1 \
  || { tail -20 "$build/cmake.log"; exit 1; }
make -C "$build/build" -j"$(nproc)" coap-client coap-server oscore-interop-server >"$build/make.log" 2>&1 \
  || { tail -30 "$build/make.log"; exit 1; }
echo "libcoap built in $build/build"
