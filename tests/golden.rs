//! Golden files pin every `render` output (and the plan) for envs/localdev.yaml.
//! Regenerate after an intended change with `UPDATE_GOLDEN=1 cargo test --test golden`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bootstrap(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .current_dir(root())
        .env_remove("BOOTSTRAP_ACCESS")
        .args(["-f", "envs/localdev.yaml"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn check(name: &str, actual: &str) -> Option<String> {
    let path = root().join("fixtures/localdev").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return None;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden {}", path.display()));
    (expected != actual).then(|| {
        format!(
            "{name} differs from {}:\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        )
    })
}

#[test]
fn render_outputs_match_golden_files() {
    let cases: &[(&str, &[&str])] = &[
        ("kind-config.yaml", &["render", "kind-config"]),
        ("router.yaml", &["render", "router"]),
        ("vcluster-dev.yaml", &["render", "vcluster", "dev"]),
        ("vcluster-staging.yaml", &["render", "vcluster", "staging"]),
        ("routes.yaml", &["render", "routes"]),
        ("contexts.yaml", &["render", "contexts"]),
        (
            "contexts-devcontainer.yaml",
            &["render", "contexts", "--access", "devcontainer"],
        ),
        ("plan.txt", &["plan", "--offline"]),
        ("plan.json", &["plan", "--offline", "-o", "json"]),
    ];
    let diffs: Vec<String> = cases
        .iter()
        .filter_map(|(name, args)| check(name, &bootstrap(args)))
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

fn contracts() -> Option<PathBuf> {
    let p = root().join("../shared/contracts");
    if p.is_dir() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have ../shared/contracts beside the checkout"
    );
    eprintln!("skipped: ../shared/contracts not found (a clone outside our CI)");
    None
}

fn validate(schema: &Path, instance: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn rendered_vcluster_values_satisfy_the_charts_schema() {
    let Some(dir) = contracts() else { return };
    for name in ["dev", "staging"] {
        let values: serde_json::Value =
            serde_json::from_str(&bootstrap(&["render", "vcluster", name, "-o", "json"])).unwrap();
        let errors = validate(&dir.join("vcluster-v0.26.0.values.schema.json"), &values);
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
    // The schema is strict: a misspelt key must fail, or this test proves nothing.
    let mut bad: serde_json::Value =
        serde_json::from_str(&bootstrap(&["render", "vcluster", "dev", "-o", "json"])).unwrap();
    bad["controlPlane"]["proxy"]["extraSans"] = serde_json::json!(["x"]);
    assert!(!validate(&dir.join("vcluster-v0.26.0.values.schema.json"), &bad).is_empty());
}

#[test]
fn minimal_file_renders_schema_valid_values_for_both_chart_versions() {
    let Some(dir) = contracts() else { return };
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .current_dir(root())
        .args([
            "-f",
            "envs/minimal.yaml",
            "render",
            "vcluster",
            "dev",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let values: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for schema in [
        "vcluster-v0.26.0.values.schema.json",
        "vcluster-v0.36.1.values.schema.json",
    ] {
        let errors = validate(&dir.join(schema), &values);
        assert!(errors.is_empty(), "{schema}: {errors:?}");
    }
}
