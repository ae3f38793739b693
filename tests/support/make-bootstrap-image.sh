#!/usr/bin/env bash
# Usage: make-bootstrap-image.sh BINARY TAG [FILE...]
# Imports an image holding only BINARY (as /bootstrap), the shared libraries `ldd` lists for it,
# and each FILE at /<basename>: enough to run bootstrap in a container without any registry.
set -euo pipefail
bin=$1 tag=$2; shift 2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/tmp"
cp "$bin" "$dir/bootstrap"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
  mkdir -p "$dir$(dirname "$lib")"
  cp -L "$lib" "$dir$lib"
done
for f in "$@"; do cp "$f" "$dir/$(basename "$f")"; done
tar -C "$dir" -c . | docker import --change 'ENTRYPOINT ["/bootstrap"]' - "$tag" >/dev/null
echo "$tag"
