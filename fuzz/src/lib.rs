//! The checks each fuzz target runs; the main workspace replays seeds and past findings
//! through the same file (tests/fuzz_regressions.rs includes `checks.rs`).
pub mod checks;
