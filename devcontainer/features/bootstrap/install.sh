#!/bin/sh
# Dev Container Feature `bootstrap`: installs a pinned release binary of bootstrap, checked
# against its sha256, to /usr/local/bin/bootstrap (mode 0755, on every user's PATH).
#
# POSIX sh on purpose: the base image may have no bash. Needs curl or wget, sha256sum (or
# shasum), uname, mktemp; busybox provides all of them.
#
# Options arrive as environment variables (the Features spec upper-cases option ids):
#   VERSION  release tag, e.g. v0.1.0 (a bare 0.1.0 is read as v0.1.0)
#   MIRROR   base URL; files are fetched from <MIRROR>/<VERSION>/bootstrap-linux-<arch>[.sha256]
#   SHA256   optional: the binary's expected sha256. When set it decides, and the published
#            .sha256 file is not fetched (for mirrors that do not carry it).
#
# Guarantees: a binary whose hash differs is refused (exit 1) and nothing is left behind: no
# binary installed or replaced, no temporary files. The install is atomic (a temporary name in
# the same folder, then mv). Running it again for the same version and hash downloads nothing.
# The Feature runs as root and writes nothing in the remote user's home, so what bootstrap
# later keeps there (~/.cache/bootstrap, ~/.kube) stays that user's.
set -eu

VERSION=${VERSION:-}
MIRROR=${MIRROR:-}
SHA256=${SHA256:-}
BIN_DIR=/usr/local/bin
DEST="$BIN_DIR/bootstrap"
# What this Feature installed: "<version> <sha256>", so that a re-run can skip the download.
RECORD_DIR=/usr/local/share/bootstrap-feature
RECORD="$RECORD_DIR/installed"

say() { printf 'bootstrap feature: %s\n' "$*"; }
die() { printf 'bootstrap feature: error: %s\n' "$*" >&2; exit 1; }

tmp=''
stage=''
record_new=''
cleanup() {
    [ -n "$stage" ] && rm -f "$stage"
    [ -n "$record_new" ] && rm -f "$record_new"
    [ -n "$tmp" ] && rm -rf "$tmp"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- options -------------------------------------------------------------------------------
[ -n "$VERSION" ] || die "the 'version' option is empty: set it to a release tag such as v0.1.0"
case "$VERSION" in
    v*) ;;
    *) VERSION="v$VERSION" ;;
esac
case "$VERSION" in
    *[!A-Za-z0-9._+-]*) die "the 'version' option '$VERSION' is not a release tag (letters, digits, . _ + - only)" ;;
esac
[ -n "$MIRROR" ] || die "the 'mirror' option is empty: set it to the base URL that holds <version>/bootstrap-linux-<arch>"
MIRROR=${MIRROR%/}
if [ -n "$SHA256" ]; then
    SHA256=$(printf '%s' "$SHA256" | tr 'A-F' 'a-f')
    case "$SHA256" in
        *[!0-9a-f]*) die "the 'sha256' option is not a sha256 (64 hex digits): $SHA256" ;;
    esac
    [ ${#SHA256} -eq 64 ] || die "the 'sha256' option is not a sha256 (64 hex digits): $SHA256"
fi

# --- platform ------------------------------------------------------------------------------
os=$(uname -s)
[ "$os" = Linux ] || die "unsupported OS '$os': this Feature installs the Linux release binaries"
machine=$(uname -m)
case "$machine" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64 | armv8*) arch=arm64 ;;
    *) die "unsupported architecture '$machine': bootstrap $VERSION is released for linux amd64 (x86_64) and arm64 (aarch64) only" ;;
esac
asset="bootstrap-linux-$arch"

# --- tools ---------------------------------------------------------------------------------
sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        die "neither sha256sum nor shasum is installed: cannot check the download"
    fi
}
if command -v curl >/dev/null 2>&1; then
    fetch() { curl -fsSL --retry 2 --connect-timeout 20 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
    # No -T: Debian's busybox-static 1.35 wget crashes (SIGSEGV) when given a timeout.
    fetch() { wget -q -O "$2" "$1"; }
else
    die "neither curl nor wget is installed: add one to the image (e.g. the ghcr.io/devcontainers/features/common-utils Feature)"
fi

# --- already installed? --------------------------------------------------------------------
if [ -x "$DEST" ] && [ -r "$RECORD" ]; then
    read -r had_version had_sum <"$RECORD" || true
    if [ "${had_version:-}" = "$VERSION" ] && { [ -z "$SHA256" ] || [ "$SHA256" = "${had_sum:-}" ]; }; then
        now=$(sha256_of "$DEST")
        if [ "$now" = "${had_sum:-}" ]; then
            say "bootstrap $VERSION already installed at $DEST (linux-$arch, sha256 $now): nothing downloaded"
            exit 0
        fi
    fi
fi

# --- download and check --------------------------------------------------------------------
tmp=$(mktemp -d) || die "mktemp -d failed"
url="$MIRROR/$VERSION/$asset"
fetch "$url" "$tmp/$asset" || die "could not download $url"
if [ -n "$SHA256" ]; then
    expected=$SHA256
    source_of_hash="the 'sha256' option"
else
    fetch "$url.sha256" "$tmp/$asset.sha256" || die "could not download $url.sha256 (or set the 'sha256' option)"
    # sha256sum format: "<hex>  <name>"; the name must be this asset's.
    read -r expected named <"$tmp/$asset.sha256" || true
    expected=$(printf '%s' "${expected:-}" | tr 'A-F' 'a-f')
    named=${named#\*}
    case "$expected" in
        *[!0-9a-f]* | '') die "$url.sha256 does not hold a sha256: $(head -c 200 "$tmp/$asset.sha256")" ;;
    esac
    [ ${#expected} -eq 64 ] || die "$url.sha256 does not hold a sha256: $(head -c 200 "$tmp/$asset.sha256")"
    [ "${named:-}" = "$asset" ] || die "$url.sha256 names '${named:-}', not $asset"
    source_of_hash="the published $asset.sha256"
fi
actual=$(sha256_of "$tmp/$asset")
if [ "$actual" != "$expected" ]; then
    die "refused $url: sha256 mismatch: expected $expected ($source_of_hash), got $actual; nothing was installed"
fi

# --- install atomically --------------------------------------------------------------------
mkdir -p "$BIN_DIR"
stage="$BIN_DIR/.bootstrap.new.$$"
cp "$tmp/$asset" "$stage"
chmod 0755 "$stage"
# A binary that does not run here (another libc or CPU) is refused before it replaces anything.
ran=$("$stage" --version 2>&1) || die "the downloaded $asset does not run here: $ran"
mv -f "$stage" "$DEST"
stage=''
mkdir -p "$RECORD_DIR"
record_new="$RECORD.new.$$"
printf '%s %s\n' "$VERSION" "$actual" >"$record_new"
mv -f "$record_new" "$RECORD"
record_new=''
say "installed bootstrap $VERSION to $DEST (linux-$arch, sha256 $actual, checked against $source_of_hash; reports '$(printf '%s' "$ran" | head -n 1)') for ${_REMOTE_USER:-root}"
