//! Golden files pin every `render` output (and the plan) for envs/localdev.yaml (the seeds' stack,
//! ingress-nginx) and envs/gateway.yaml (the same stack on the Gateway API router).
//! Regenerate after an intended change with `UPDATE_GOLDEN=1 cargo test --test golden`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bootstrap_with(file: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .current_dir(root())
        .env_remove("BOOTSTRAP_ACCESS")
        .env_remove("BOOTSTRAP_NODE_IMAGE")
        .args(["-f", file])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{file} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn bootstrap(args: &[&str]) -> String {
    bootstrap_with("envs/localdev.yaml", args)
}

fn check(dir: &str, name: &str, actual: &str) -> Option<String> {
    let path = root().join("fixtures").join(dir).join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
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

const CASES: &[(&str, &[&str])] = &[
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

#[test]
fn render_outputs_match_golden_files() {
    let diffs: Vec<String> = CASES
        .iter()
        .filter_map(|(name, args)| check("localdev", name, &bootstrap(args)))
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn gateway_api_render_outputs_match_golden_files() {
    let diffs: Vec<String> = CASES
        .iter()
        .filter_map(|(name, args)| {
            check("gateway", name, &bootstrap_with("envs/gateway.yaml", args))
        })
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn the_gateway_example_is_the_seeds_stack_on_the_other_router() {
    // Everything but the router (and the pins a new file gets) is localdev's: same cluster,
    // hostnames, contexts and vcluster values, so `up` with it on a running localdev is a switch.
    let strip = |file: &str| {
        let mut v: serde_json::Value =
            serde_json::from_str(&bootstrap_with(file, &["render", "contexts", "-o", "json"]))
                .unwrap();
        v.as_object_mut().unwrap().remove("zonesTried");
        v
    };
    assert_eq!(strip("envs/localdev.yaml"), strip("envs/gateway.yaml"));
    for name in ["dev", "staging"] {
        let values = |file: &str| bootstrap_with(file, &["render", "vcluster", name, "-o", "json"]);
        assert_eq!(values("envs/localdev.yaml"), values("envs/gateway.yaml"));
    }
    let kind = bootstrap_with(
        "envs/gateway.yaml",
        &["render", "kind-config", "-o", "json"],
    );
    let kind: serde_json::Value = serde_json::from_str(&kind).unwrap();
    assert_eq!(
        kind["nodes"][0]["image"],
        bootstrap::core::config::pins::KIND_DEFAULT_NODE_IMAGE,
        "the example names kind v0.32.0's default node image"
    );
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

/// The vcluster chart version a render is for, from the helm command it prints first.
fn chart_version(rendered_yaml: &str) -> String {
    let first = rendered_yaml.lines().next().unwrap_or_default();
    first
        .split_whitespace()
        .skip_while(|w| *w != "--version")
        .nth(1)
        .unwrap_or_else(|| panic!("no --version in {first:?}"))
        .to_owned()
}

#[test]
fn rendered_vcluster_values_satisfy_the_schema_of_the_chart_version_the_file_names() {
    let Some(dir) = contracts() else { return };
    let mut versions = Vec::new();
    for file in ["envs/localdev.yaml", "envs/gateway.yaml"] {
        for name in ["dev", "staging"] {
            let version = chart_version(&bootstrap_with(file, &["render", "vcluster", name]));
            let schema = dir.join(format!("vcluster-v{version}.values.schema.json"));
            assert!(
                schema.is_file(),
                "no schema for vcluster {version} in contracts"
            );
            let values: serde_json::Value = serde_json::from_str(&bootstrap_with(
                file,
                &["render", "vcluster", name, "-o", "json"],
            ))
            .unwrap();
            let errors = validate(&schema, &values);
            assert!(errors.is_empty(), "{file} {name} ({version}): {errors:?}");
            versions.push(version);
        }
    }
    // The seeds' file keeps the version it names; a file naming none gets the current pin.
    assert_eq!(versions, ["0.26.0", "0.26.0", "0.36.1", "0.36.1"]);
    // The schemas are strict: a misspelt key must fail, or this test proves nothing.
    let mut bad: serde_json::Value =
        serde_json::from_str(&bootstrap(&["render", "vcluster", "dev", "-o", "json"])).unwrap();
    bad["controlPlane"]["proxy"]["extraSans"] = serde_json::json!(["x"]);
    for schema in [
        "vcluster-v0.26.0.values.schema.json",
        "vcluster-v0.36.1.values.schema.json",
    ] {
        assert!(!validate(&dir.join(schema), &bad).is_empty(), "{schema}");
    }
    // What differs between the versions: 0.36 knows `controlPlane.tlsRoute`, 0.26 rejects it.
    let mut tls_route = bad.clone();
    tls_route["controlPlane"]["proxy"]
        .as_object_mut()
        .unwrap()
        .remove("extraSans");
    tls_route["controlPlane"]["tlsRoute"] = serde_json::json!({"enabled": false});
    assert!(!validate(&dir.join("vcluster-v0.26.0.values.schema.json"), &tls_route).is_empty());
    assert!(validate(&dir.join("vcluster-v0.36.1.values.schema.json"), &tls_route).is_empty());
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
