#!/usr/bin/env bash
# Builds the stand-in for mcr.microsoft.com/devcontainers/rust:1-bookworm (no registry is
# reachable here): `docker import` of a folder holding what the Dev Containers CLI and Features
# run at build time, where nothing can be mounted: the user `vscode` (uid 1000) named as
# remoteUser in the image's devcontainer.metadata label, as the Microsoft images do; Debian's
# static busybox as /bin/sh and the coreutils (sed, cut, grep, chmod, id, wget, sha256sum, ...);
# curl with the libraries it links (a Feature's install.sh usually downloads with it). The
# merged-/usr links (/bin -> usr/bin ...) are the host's (Debian 12, as the Microsoft image).
# At run time the devcontainer.json mounts the host's /usr/{bin,sbin,lib,lib64,libexec,share}
# over these: bash, python3, awk, glibc for the doubles. /usr/local is the image's own, where
# Features install.
#   usage: base-image.sh TAG
set -euo pipefail
tag=${1:?usage: base-image.sh TAG}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
r=$dir
mkdir -p "$r"/usr/{bin,sbin,lib,lib64} "$r"/usr/local/bin "$r"/etc "$r"/root "$r"/home/vscode "$r"/tmp "$r"/var/run "$r"/workspaces
chmod 1777 "$r/tmp"
for top in bin sbin lib lib64; do ln -s "usr/$top" "$r/$top"; done
busybox=${BUSYBOX:-/bin/busybox}
if ldd "$busybox" >/dev/null 2>&1; then echo "base-image: $busybox is not static (install busybox-static)" >&2; exit 1; fi
cp "$busybox" "$r/usr/bin/busybox"
for applet in $("$busybox" --list); do
  [ -e "$r/usr/bin/$applet" ] || ln -s busybox "$r/usr/bin/$applet"
done
# curl and its shared libraries, at the paths ldd names (glibc's loader included).
copy_with_libs() {
  local bin=$1
  rm -f "$r$bin"
  cp -L "$bin" "$r$bin"
  ldd "$bin" | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
  done
}
copy_with_libs /usr/bin/curl
mkdir -p "$r/etc/ssl"
cp -rL /etc/ssl/certs "$r/etc/ssl/" 2>/dev/null || true
cat >"$r/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
vscode:x:1000:1000:vscode:/home/vscode:/bin/sh
P
cat >"$r/etc/group" <<'G'
root:x:0:
vscode:x:1000:
G
printf 'hosts: files dns\npasswd: files\ngroup: files\n' >"$r/etc/nsswitch.conf"
cat >"$r/etc/os-release" <<'O'
PRETTY_NAME="bootstrap-test stand-in for mcr.microsoft.com/devcontainers/rust:1-bookworm"
ID=debian
VERSION_ID="12"
VERSION_CODENAME=bookworm
O
chown 1000:1000 "$r/home/vscode"
tar -C "$r" -c . | docker import \
  --change 'LABEL devcontainer.metadata="[{\"id\":\"bootstrap-test/devcontainer-base\",\"remoteUser\":\"vscode\"}]"' \
  --change 'CMD ["/bin/sh"]' - "$tag" >/dev/null
echo "$tag"
