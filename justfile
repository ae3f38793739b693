# Shortcuts for people who have `just`; every recipe is a plain command you can run without it.

default: test

# Install what the tests need (Docker engine, nginx, kubectl), then fmt, clippy and all tests
test:
    bash scripts/test.sh

# The main job: bring up the seeds' stack
up file="envs/localdev.yaml":
    cargo run --release -- up -f {{file}}

plan file="envs/localdev.yaml":
    cargo run -- plan -f {{file}}

# Benchmarks (figures are ratios against a baseline measured in the same run)
bench:
    cargo bench

# Opt-in end to end against a real kind cluster (needs kind, helm, internet)
e2e:
    BOOTSTRAP_E2E=1 cargo test --test e2e -- --ignored --nocapture

# Regenerate golden files after an intended render change
golden:
    UPDATE_GOLDEN=1 cargo test --test golden
