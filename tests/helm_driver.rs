//! The helm driver against the helm double, whose engine is the real Helm (v4.2.3), installing
//! the real vcluster chart from a local chart repository into the apiserver double: it observes
//! without writing, installs once, a converged release is recognised so no upgrade runs again,
//! and the double answers in the real CLI's shapes.

mod support;

use bootstrap::core::config::Chart;
use bootstrap::drivers::helm::{is_converged, Helm, Release};
use serde_json::{json, Value};
use support::charts::charts_or_skip;
use support::helm::{helm_double, HelmWorld, CONTEXT};

fn vcluster(repo: &str, values: Value) -> Release {
    Release {
        name: "vcluster-dev".into(),
        namespace: "dev-vcluster".into(),
        chart: Chart {
            repo: Some(repo.into()),
            name: "vcluster".into(),
            version: Some("0.26.0".into()),
            path: None,
        },
        values,
    }
}

#[tokio::test]
async fn install_once_then_converged() {
    if !charts_or_skip("install_once_then_converged") {
        return;
    }
    let w = HelmWorld::start();
    let helm = Helm {
        bin: w.helm.clone(),
        kubeconfig: w.kubeconfig.clone(),
        context: CONTEXT.into(),
    };
    let r = vcluster(
        &w.charts.url,
        json!({"controlPlane": {"proxy": {"extraSANs": ["dev.example"]}}}),
    );
    let o = helm.observe(&r).await.unwrap();
    assert!(o.listed.is_none());
    assert!(!is_converged(&r, o.listed.as_ref(), o.values.as_ref()));
    assert_eq!(w.api.writes(), 0, "observing writes nothing");
    helm.upgrade(&r, "bootstrap/env=t", 60).await.unwrap();
    let o = helm.observe(&r).await.unwrap();
    assert!(
        is_converged(&r, o.listed.as_ref(), o.values.as_ref()),
        "{o:?}"
    );
    let upgrades = w
        .calls()
        .iter()
        .filter(|c| c.starts_with("upgrade"))
        .count();
    assert_eq!(upgrades, 1);
    let install = w
        .calls()
        .into_iter()
        .find(|c| c.starts_with("upgrade"))
        .unwrap();
    assert!(
        install.contains(&format!(
            "--repo {} --version 0.26.0 --namespace dev-vcluster --create-namespace",
            w.charts.url
        )),
        "{install}"
    );

    // What was applied is the chart's own output, and the release record is helm's.
    let sts = w
        .api
        .object("/apis/apps/v1/namespaces/dev-vcluster/statefulsets/vcluster-dev")
        .expect("the chart's StatefulSet");
    assert_eq!(sts["metadata"]["labels"]["chart"], "vcluster-0.26.0");
    assert_eq!(sts["metadata"]["managedFields"][0]["manager"], "helm");
    let record = w
        .api
        .object("/api/v1/namespaces/dev-vcluster/secrets/sh.helm.release.v1.vcluster-dev.v1")
        .expect("helm's release record");
    assert_eq!(record["type"], "helm.sh/release.v1");
    for (k, v) in [
        ("owner", "helm"),
        ("name", "vcluster-dev"),
        ("status", "deployed"),
        ("version", "1"),
    ] {
        assert_eq!(record["metadata"]["labels"][k], v, "{k}");
    }

    let mut changed = r.clone();
    changed.values = json!({"x": 1});
    assert!(!is_converged(
        &changed,
        o.listed.as_ref(),
        o.values.as_ref()
    ));

    helm.uninstall(&r).await.unwrap();
    assert!(helm.observe(&r).await.unwrap().listed.is_none());
    assert!(w
        .api
        .object("/apis/apps/v1/namespaces/dev-vcluster/statefulsets/vcluster-dev")
        .is_none());

    let failing = Helm {
        bin: helm_double(w.dir.path(), &[("HELM_DOUBLE_FAIL", "vcluster-dev")]),
        ..helm
    };
    let err = failing
        .upgrade(&r, "bootstrap/env=t", 60)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("HELM_DOUBLE_FAIL"), "{err:#}");
}

/// The shapes bootstrap parses, as helm v4.2.3 prints them (helm/helm v4.2.3
/// pkg/cmd/list.go `releaseElement`, pkg/cmd/get_values.go, pkg/cli/output EncodeJSON).
/// What `up` warms: the chart rendered with the values it installs with, from its repository or
/// from a kept archive, gives the images; the values change them (a chart upgrade would too).
#[tokio::test]
async fn template_renders_the_images_the_release_will_run() {
    if !charts_or_skip("template_renders_the_images_the_release_will_run") {
        return;
    }
    let w = HelmWorld::start();
    let helm = Helm {
        bin: w.helm.clone(),
        kubeconfig: Default::default(),
        context: String::new(),
    };
    let r = vcluster(&w.charts.url, json!({}));
    let text = helm.template(&r).await.unwrap();
    assert!(
        text.starts_with("---\n# Source: vcluster/templates/"),
        "{text}"
    );
    let images = bootstrap::core::images::in_manifest(&text).unwrap();
    assert_eq!(
        images,
        [
            "ghcr.io/loft-sh/kubernetes:v1.32.1",
            "ghcr.io/loft-sh/vcluster-pro:0.26.0"
        ]
    );
    let moved = vcluster(
        &w.charts.url,
        json!({"controlPlane": {"statefulSet": {"image": {"registry": "mirror.test", "tag": "0.26.1"}}}}),
    );
    let images =
        bootstrap::core::images::in_manifest(&helm.template(&moved).await.unwrap()).unwrap();
    assert!(
        images.contains(&"mirror.test/loft-sh/vcluster-pro:0.26.1".to_owned()),
        "{images:?}"
    );
    // The kept archive renders the same, asking the repository nothing.
    let asked = w.charts.served.lock().unwrap().len();
    let mut kept = r.clone();
    kept.chart.path = Some(
        support::charts::contracts()
            .join("charts/vcluster-0.26.0.tgz")
            .display()
            .to_string(),
    );
    assert_eq!(helm.template(&kept).await.unwrap(), text);
    assert_eq!(w.charts.served.lock().unwrap().len(), asked);
    assert!(w.api.writes() == 0, "rendering writes nothing to a cluster");
}

#[test]
fn list_and_get_values_answer_in_the_real_cli_shapes() {
    if !charts_or_skip("list_and_get_values_answer_in_the_real_cli_shapes") {
        return;
    }
    let w = HelmWorld::start();
    let (code, _, err) = w.run(&[
        "upgrade",
        "--install",
        "plain",
        "ingress-nginx",
        "--repo",
        &w.charts.url,
        "--version",
        "4.14.1",
        "--namespace",
        "ingress-nginx",
        "--create-namespace",
        "--wait",
        "--timeout",
        "60s",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = w.run(&[
        "list",
        "-o",
        "json",
        "--filter",
        "^plain$",
        "--namespace",
        "ingress-nginx",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.ends_with("]\n"),
        "encoding/json ends with a newline: {out:?}"
    );
    let rows: Value = serde_json::from_str(&out).unwrap();
    let row = &rows[0];
    let keys: Vec<&str> = row
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "namespace",
            "revision",
            "updated",
            "status",
            "chart",
            "app_version"
        ],
        "releaseElement's fields in order"
    );
    assert_eq!(row["revision"], "1", "revision is a string (strconv.Itoa)");
    assert_eq!(row["chart"], "ingress-nginx-4.14.1");
    assert_eq!(row["app_version"], "1.14.1");
    assert_eq!(row["status"], "deployed");
    // time.Time.String(): "2006-01-02 15:04:05.999999999 -0700 MST"
    let updated = row["updated"].as_str().unwrap();
    let shape = regex_lite(updated);
    assert!(shape, "updated as Go prints a time: {updated:?}");

    // No user values: helm stores none, and Go encodes the nil map as null.
    let (code, out, _) = w.run(&[
        "get",
        "values",
        "plain",
        "-o",
        "json",
        "--namespace",
        "ingress-nginx",
    ]);
    assert_eq!((code, out.as_str()), (0, "null\n"));
    let (code, _, err) = w.run(&[
        "get",
        "values",
        "nope",
        "-o",
        "json",
        "--namespace",
        "ingress-nginx",
    ]);
    assert_eq!((code, err.trim()), (1, "Error: release: not found"));

    // helm 4 has no `list --all`; like the real CLI the double refuses what helm refuses.
    let (code, _, err) = w.run(&["list", "--all", "-o", "json"]);
    assert_eq!((code, err.trim()), (1, "Error: unknown flag: --all"));
    let (code, _, err) = w.run(&["pull", "x"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("Error: unknown command \"pull\" for \"helm\""),
        "{err}"
    );
    // `template` takes the release name and the chart, as helm's does.
    let (code, _, err) = w.run(&["template", "x"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("Error: \"helm template\" requires 2 arguments"),
        "{err}"
    );

    // The chart's own schema checks the values, naming the key.
    let values = w.dir.path().join("bad.json");
    std::fs::write(
        &values,
        r#"{"controlPlane": {"proxy": {"extraSans": ["x"]}}}"#,
    )
    .unwrap();
    let (code, _, err) = w.run(&[
        "upgrade",
        "--install",
        "bad",
        "vcluster",
        "--repo",
        &w.charts.url,
        "--version",
        "0.26.0",
        "--namespace",
        "bad",
        "--create-namespace",
        "--values",
        values.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("extraSans"), "{err}");
    assert!(
        w.api.object("/api/v1/namespaces/bad").is_none(),
        "nothing applied: {err}"
    );
}

/// "2026-11-30 09:20:34.368781061 +0000 UTC" without a regex crate.
fn regex_lite(s: &str) -> bool {
    let parts: Vec<&str> = s.split(' ').collect();
    parts.len() == 4
        && parts[0].len() == 10
        && parts[0].as_bytes()[4] == b'-'
        && parts[1].len() >= 8
        && parts[1].as_bytes()[2] == b':'
        && (parts[2].starts_with('+') || parts[2].starts_with('-'))
        && parts[2].len() == 5
}
