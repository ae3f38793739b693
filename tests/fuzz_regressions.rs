//! Replays every fuzz seed and every past finding through the checks the fuzz targets run
//! (fuzz/src/checks.rs, included here), so the ordinary test run keeps each fix fixed without
//! libFuzzer. A finding goes into fuzz/regressions/<target>/ with its fix.

#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn files(dirs: &[&str], ext: Option<&str>) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(root.join(d)) else {
            panic!("{d} is missing")
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file() && ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn replay(inputs: &[PathBuf], check: fn(&[u8])) {
    let mut failed = Vec::new();
    for p in inputs {
        let data = std::fs::read(p).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            failed.push(p.display().to_string());
        }
    }
    assert!(failed.is_empty(), "failing inputs: {failed:?}");
}

#[test]
fn envs_yaml_seeds_and_findings() {
    let mut inputs = files(&["envs", "fixtures/localdev"], Some("yaml"));
    inputs.extend(files(&["fuzz/regressions/envs_yaml"], None));
    assert!(inputs.len() > 5, "{inputs:?}");
    replay(&inputs, checks::envs_yaml);
}

#[test]
fn kubeconfig_seeds_and_findings() {
    let mut inputs = files(&["fuzz/seeds/kubeconfig", "fixtures/localdev"], None);
    inputs.extend(files(&["fuzz/regressions/kubeconfig"], None));
    assert!(inputs.len() > 5, "{inputs:?}");
    replay(&inputs, checks::kubeconfig);
}

/// Files of thousands of items (`checks::kubeconfig_many`): the seeds build up to 3,000
/// contexts, clusters or exec users, in block and flow style, with unique and repeated names.
#[test]
fn kubeconfig_many_seeds_and_findings() {
    let mut inputs = files(&["fuzz/seeds/kubeconfig_many"], None);
    inputs.extend(files(&["fuzz/regressions/kubeconfig_many"], None));
    assert!(inputs.len() >= 4, "{inputs:?}");
    replay(&inputs, checks::kubeconfig_many);
}
