//! The helm driver against the helm double (no chart can be fetched here): it observes without
//! writing, installs once, and a converged release is recognised so no upgrade runs again.

use bootstrap::core::config::Chart;
use bootstrap::drivers::helm::{is_converged, Helm, Release};
use serde_json::json;
use std::path::PathBuf;

fn double() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/doubles/helm")
}

fn calls(state: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(state.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn install_once_then_converged() {
    let state = tempfile::tempdir().unwrap();
    std::env::set_var("HELM_DOUBLE_STATE", state.path());
    let helm = Helm {
        bin: double(),
        kubeconfig: "/dev/null".into(),
        context: "kind-x".into(),
    };
    let r = Release {
        name: "vcluster-dev".into(),
        namespace: "dev-vcluster".into(),
        chart: Chart {
            repo: Some("https://charts.loft.sh".into()),
            name: "vcluster".into(),
            version: Some("0.26.0".into()),
            path: None,
        },
        values: json!({"controlPlane": {"proxy": {"extraSANs": ["a"]}}}),
    };
    let o = helm.observe(&r).await.unwrap();
    assert!(o.listed.is_none());
    assert!(!is_converged(&r, o.listed.as_ref(), o.values.as_ref()));
    helm.upgrade(&r, "bootstrap/env=t", 60).await.unwrap();
    let o = helm.observe(&r).await.unwrap();
    assert!(
        is_converged(&r, o.listed.as_ref(), o.values.as_ref()),
        "{o:?}"
    );
    let upgrades = calls(state.path())
        .iter()
        .filter(|c| c.starts_with("upgrade"))
        .count();
    assert_eq!(upgrades, 1);
    let install = calls(state.path())
        .into_iter()
        .find(|c| c.starts_with("upgrade"))
        .unwrap();
    assert!(install.contains("--repo https://charts.loft.sh --version 0.26.0 --namespace dev-vcluster --create-namespace"), "{install}");

    let mut changed = r.clone();
    changed.values = json!({"x": 1});
    assert!(!is_converged(
        &changed,
        o.listed.as_ref(),
        o.values.as_ref()
    ));

    helm.uninstall(&r).await.unwrap();
    assert!(helm.observe(&r).await.unwrap().listed.is_none());

    std::env::set_var("HELM_DOUBLE_FAIL", "vcluster-dev");
    let err = helm.upgrade(&r, "bootstrap/env=t", 60).await.unwrap_err();
    std::env::remove_var("HELM_DOUBLE_FAIL");
    assert!(format!("{err:#}").contains("UPGRADE FAILED"), "{err:#}");
}
