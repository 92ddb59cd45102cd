#!/usr/bin/env bash
# Fetch the pinned onnxruntime shared library from the onnxruntime-node npm package.
# No `npm install`: its install script downloads from elsewhere. `npm pack` + tar only.
# Usage: scripts/fetch-ort.sh DESTDIR   (prints the library path on success)
set -euo pipefail
ORT_VERSION="${ORT_VERSION:-1.30.0}"
# sha256 of onnxruntime-node-1.30.0.tgz and of the library inside it.
PKG_SHA256="6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75"
LIB_SHA256="ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23"
dest="${1:?usage: fetch-ort.sh DESTDIR}"
lib="$dest/libonnxruntime.so.1"
if [ -f "$lib" ] && echo "$LIB_SHA256  $lib" | sha256sum -c --status; then
  echo "$lib"; exit 0
fi
command -v npm >/dev/null || { echo "fetch-ort: npm not found; install it with: apt-get install -y npm" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "fetch-ort: npm pack onnxruntime-node@$ORT_VERSION" >&2
(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
tgz="$tmp/onnxruntime-node-$ORT_VERSION.tgz"
echo "$PKG_SHA256  $tgz" | sha256sum -c --status || { echo "fetch-ort: checksum mismatch for $tgz (want $PKG_SHA256)" >&2; exit 1; }
tar -xzf "$tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
mkdir -p "$dest"
install -m 0644 "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib.tmp"
echo "$LIB_SHA256  $lib.tmp" | sha256sum -c --status || { rm -f "$lib.tmp"; echo "fetch-ort: library checksum mismatch (want $LIB_SHA256)" >&2; exit 1; }
mv "$lib.tmp" "$lib"
echo "$lib"
