//! The in-cluster reconcile against the apiserver double (real TLS, client-certificate auth)
//! and the helm double, whose real Helm engine installs the contract charts into it: first run
//! installs and applies, the second makes no helm upgrade and no API write, teardown removes
//! everything and tolerates a second run.

mod support;

use base64::Engine;
use bootstrap::cluster_api::client_for_context;
use bootstrap::config::{load_str, Env};
use bootstrap::helm::Helm;
use bootstrap::reconcile::in_cluster::{converge, teardown, Settings};
use serde_json::json;
use std::time::Duration;
use support::charts::charts_or_skip;
use support::helm::{HelmWorld, CONTEXT};

/// dev on the seeds' vcluster 0.26.0, staging on 0.36.1, the router on ingress-nginx 4.14.1,
/// all from the contract charts served at `repo`.
fn env(repo: &str) -> Env {
    let text = format!(
        "cluster: {{name: t}}\nrouter: {{domain: cnoe.localtest.me, chart: {{repo: '{repo}', name: ingress-nginx, version: 4.14.1}}}}\nvclusters:\n  - {{name: dev, release: vcluster-dev-helm, namespace: dev-vcluster, chart: {{repo: '{repo}', name: vcluster, version: 0.26.0}}}}\n  - {{name: staging, release: vcluster-staging-helm, namespace: staging-vcluster, chart: {{repo: '{repo}', name: vcluster, version: 0.36.1}}}}\nargocd: {{register: true}}\n"
    );
    load_str(&text, "t.yaml", &[]).env.unwrap()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn converge_then_no_op_then_teardown() {
    if !charts_or_skip("converge_then_no_op_then_teardown") {
        return;
    }
    let w = HelmWorld::start();
    let env = env(&w.charts.url);
    let api = &w.api;
    // The apiserver double plays no vcluster (the kind node double does): the secrets the
    // vclusters would write are seeded.
    for v in &env.vclusters {
        api.seed(
            &format!("/api/v1/namespaces/{}/secrets/{}", v.namespace, v.secret_name()),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": v.secret_name(), "namespace": v.namespace},
                   "data": {"certificate-authority": b64("CA"), "client-certificate": b64("CERT"), "client-key": b64("KEY")}}),
        );
    }
    let client = client_for_context(&w.kubeconfig, CONTEXT).await.unwrap();
    let state = w.state.clone();
    let helm = Helm {
        bin: w.helm.clone(),
        kubeconfig: w.kubeconfig.clone(),
        context: CONTEXT.into(),
    };
    let s = Settings {
        helm_timeout: Duration::from_secs(30),
        secret_timeout: Duration::from_secs(5),
        dry_run: false,
    };
    let lines = std::sync::Mutex::new(Vec::<String>::new());
    let report = |l: &str| lines.lock().unwrap().push(l.to_owned());

    // A dry run first: it says what would happen and changes nothing anywhere.
    let dry = Settings {
        dry_run: true,
        ..Settings::default()
    };
    let planned = converge(&env, &client, &helm, &dry, &report).await.unwrap();
    assert!(
        planned.changes.iter().all(|c| c.starts_with("would ")),
        "{:?}",
        planned.changes
    );
    assert!(
        planned
            .changes
            .contains(&"would helm install dev-vcluster/vcluster-dev-helm".to_owned()),
        "{:?}",
        planned.changes
    );
    assert!(
        planned
            .changes
            .contains(&"would apply Ingress dev-vcluster/vcluster-dev-helm-api".to_owned()),
        "{:?}",
        planned.changes
    );
    assert_eq!(api.writes(), 0, "a dry run must not write");
    assert!(
        !state.join("calls.log").exists()
            || !std::fs::read_to_string(state.join("calls.log"))
                .unwrap()
                .contains("upgrade")
    );

    let first = converge(&env, &client, &helm, &s, &report).await.unwrap();
    let changes = first.changes.join("\n");
    for want in [
        "helm install ingress-nginx/ingress-nginx",
        "helm install dev-vcluster/vcluster-dev-helm",
        "helm install staging-vcluster/vcluster-staging-helm",
        "applied Ingress dev-vcluster/vcluster-dev-helm-api",
        "applied Ingress staging-vcluster/vcluster-staging-helm-api",
        "applied Secret argocd/cluster-dev-vcluster",
        "applied Secret argocd/cluster-staging-vcluster",
    ] {
        assert!(changes.contains(want), "missing {want:?} in:\n{changes}");
    }
    assert_eq!(first.vclusters.len(), 2);
    assert_eq!(first.vclusters[0].secret.key_pem, b"KEY");
    let reg = api
        .object("/api/v1/namespaces/argocd/secrets/cluster-dev-vcluster")
        .unwrap();
    assert_eq!(
        reg["metadata"]["labels"]["argocd.argoproj.io/secret-type"],
        "cluster"
    );
    assert_eq!(
        reg["data"]["server"],
        b64("https://vcluster-dev-helm.dev-vcluster.svc:443")
    );

    let writes = api.writes();
    let calls_before = std::fs::read_to_string(state.join("calls.log")).unwrap();
    let second = converge(&env, &client, &helm, &s, &report).await.unwrap();
    assert!(
        second.changes.is_empty(),
        "second run changed: {:?}",
        second.changes
    );
    assert_eq!(
        api.writes(),
        writes,
        "a converged run must make no API write"
    );
    let calls_after = std::fs::read_to_string(state.join("calls.log")).unwrap();
    let new_calls: Vec<&str> = calls_after[calls_before.len()..].lines().collect();
    assert!(
        new_calls
            .iter()
            .all(|c| c.starts_with("list") || c.starts_with("get values")),
        "{new_calls:?}"
    );

    let removed = teardown(&env, &client, &helm, &report).await.unwrap();
    assert_eq!(removed.len(), 2 + 2 + 2 + 1, "{removed:?}");
    for gone in [
        "/apis/networking.k8s.io/v1/namespaces/dev-vcluster/ingresses/vcluster-dev-helm-api",
        "/apis/networking.k8s.io/v1/namespaces/staging-vcluster/ingresses/vcluster-staging-helm-api",
        "/api/v1/namespaces/argocd/secrets/cluster-dev-vcluster",
    ] {
        assert!(api.object(gone).is_none(), "{gone} is still there");
    }
    assert!(
        teardown(&env, &client, &helm, &report)
            .await
            .unwrap()
            .is_empty(),
        "a second teardown is a no-op"
    );
}

#[tokio::test]
async fn a_failing_vcluster_is_named_and_the_other_still_converges() {
    if !charts_or_skip("a_failing_vcluster_is_named_and_the_other_still_converges") {
        return;
    }
    let w = HelmWorld::start();
    let env = env(&w.charts.url);
    let api = &w.api;
    let dev = &env.vclusters[0];
    api.seed(
        &format!("/api/v1/namespaces/{}/secrets/{}", dev.namespace, dev.secret_name()),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": dev.secret_name()},
               "data": {"certificate-authority": b64("CA"), "client-certificate": b64("C"), "client-key": b64("K")}}),
    );
    let client = client_for_context(&w.kubeconfig, CONTEXT).await.unwrap();
    let helm = Helm {
        bin: w.helm.clone(),
        kubeconfig: w.kubeconfig.clone(),
        context: CONTEXT.into(),
    };
    // staging's secret never appears: its wait times out, dev still converges.
    let s = Settings {
        helm_timeout: Duration::from_secs(30),
        secret_timeout: Duration::from_millis(800),
        dry_run: false,
    };
    let err = converge(&env, &client, &helm, &s, &|_| {})
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(
            "vcluster staging: vcluster secret staging-vcluster/vc-vcluster-staging-helm not ready"
        ),
        "{msg}"
    );
    assert!(!msg.contains("vcluster dev:"), "{msg}");
    assert!(api
        .object(
            "/apis/networking.k8s.io/v1/namespaces/dev-vcluster/ingresses/vcluster-dev-helm-api"
        )
        .is_some());
}
