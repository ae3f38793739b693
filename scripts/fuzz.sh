#!/usr/bin/env bash
# Fuzz the two readers of user files with libFuzzer (cargo-fuzz), on stable Rust (the kubeconfig
# reader twice: as written, and as files of thousands of items built from a small input):
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60s, both targets)
# cargo-fuzz asks rustc for unstable flags (sanitizer coverage, -Z options); RUSTC_BOOTSTRAP=1
# lets the stable compiler accept them. Built without a sanitizer (the code under test is safe
# Rust; ASan would only slow it) but with debug assertions, so overflows fail too.
# Each target starts from its seeds (envs/, fixtures/, fuzz/seeds/) and every past finding
# (fuzz/regressions/); new findings land in fuzz/artifacts/<target>/. A finding gets a fix and
# a copy in fuzz/regressions/<target>/, which tests/fuzz_regressions.rs replays in every test run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(envs_yaml kubeconfig kubeconfig_many)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  case "$t" in
    envs_yaml) seeds=(envs fixtures/localdev fuzz/regressions/envs_yaml) ;;
    kubeconfig) seeds=(fuzz/seeds/kubeconfig fixtures/localdev fuzz/regressions/kubeconfig) ;;
    # Files of thousands of items, built from a small input (fuzz/src/checks.rs, kubeconfig_many).
    kubeconfig_many) seeds=(fuzz/seeds/kubeconfig_many fuzz/regressions/kubeconfig_many) ;;
    *) echo "unknown target $t (envs_yaml, kubeconfig, kubeconfig_many)" >&2; exit 2 ;;
  esac
  mkdir -p "fuzz/corpus/$t"
  echo "== $t: ${secs}s"
  cargo fuzz run --fuzz-dir fuzz -s none -a "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$secs" -dict="fuzz/dicts/$t.dict" -max_len=16384 -timeout=10 \
    -print_final_stats=1
done
