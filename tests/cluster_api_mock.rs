//! Apply, wait and secret reading against kube's mock service (the kube-rs testing pattern):
//! every request the code makes is recorded and asserted.

use bootstrap::drivers::kube::{apply_manifests, read_vcluster_secret, wait_for_vcluster_secret};
use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    content_type: String,
    body: String,
}

type Responder = Box<dyn FnMut(&Seen) -> (StatusCode, Value) + Send>;

/// A kube client whose requests are answered by `respond` and recorded.
fn mock_client(mut respond: Responder) -> (kube::Client, Arc<Mutex<Vec<Seen>>>) {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let (parts, body) = req.into_parts();
            let body = body.collect_bytes().await.unwrap_or_default();
            let s = Seen {
                method: parts.method.to_string(),
                uri: parts.uri.to_string(),
                content_type: parts
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned(),
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            let (status, value) = respond(&s);
            log.lock().unwrap().push(s);
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&value).unwrap()))
                    .unwrap(),
            );
        }
    });
    (kube::Client::new(svc, "default"), seen)
}

fn not_found() -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
    )
}

fn networking_discovery() -> Value {
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "networking.k8s.io/v1", "resources": [
        {"name": "ingresses", "singularName": "ingress", "namespaced": true, "kind": "Ingress", "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
    ]})
}

const INGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: vcluster-dev-helm-api\n  namespace: dev-vcluster\n  labels: {app.kubernetes.io/managed-by: bootstrap}\nspec:\n  ingressClassName: nginx\n";

#[tokio::test]
async fn apply_discovers_reads_then_patches_with_our_field_manager() {
    let (client, seen) = mock_client(Box::new(|s: &Seen| {
        match (s.method.as_str(), s.uri.as_str()) {
            ("GET", "/apis/networking.k8s.io/v1") => (StatusCode::OK, networking_discovery()),
            ("GET", u)
                if u.starts_with(
                    "/apis/networking.k8s.io/v1/namespaces/dev-vcluster/ingresses/",
                ) =>
            {
                not_found()
            }
            ("PATCH", _) => (
                StatusCode::CREATED,
                serde_json::from_str::<Value>(&s.body).unwrap(),
            ),
            _ => panic!("unexpected request {s:?}"),
        }
    }));
    let applied = apply_manifests(&client, &manifests(INGRESS), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(applied.len(), 1);
    assert!(applied[0].changed);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    let patch = &seen[2];
    assert_eq!(patch.method, "PATCH");
    assert!(
        patch.uri.starts_with(
            "/apis/networking.k8s.io/v1/namespaces/dev-vcluster/ingresses/vcluster-dev-helm-api?"
        ),
        "{}",
        patch.uri
    );
    assert!(
        patch.uri.contains("fieldManager=bootstrap"),
        "{}",
        patch.uri
    );
    assert!(patch.uri.contains("force=true"), "{}", patch.uri);
    assert_eq!(patch.content_type, "application/apply-patch+yaml");
    let body: Value = serde_json::from_str(&patch.body).unwrap();
    assert_eq!(body["spec"]["ingressClassName"], "nginx");
}

#[tokio::test]
async fn converged_object_gets_no_write() {
    let (client, seen) = mock_client(Box::new(|s: &Seen| {
        match (s.method.as_str(), s.uri.as_str()) {
            ("GET", "/apis/networking.k8s.io/v1") => (StatusCode::OK, networking_discovery()),
            ("GET", _) => (
                StatusCode::OK,
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "metadata": {"name": "vcluster-dev-helm-api", "namespace": "dev-vcluster", "uid": "u1", "resourceVersion": "7",
                                "labels": {"app.kubernetes.io/managed-by": "bootstrap"}},
                   "spec": {"ingressClassName": "nginx"}, "status": {"loadBalancer": {}}}),
            ),
            _ => panic!("a converged object must not be written: {s:?}"),
        }
    }));
    let applied = apply_manifests(&client, &manifests(INGRESS), Duration::from_secs(1))
        .await
        .unwrap();
    assert!(!applied[0].changed);
    assert!(seen.lock().unwrap().iter().all(|s| s.method == "GET"));
}

#[tokio::test]
async fn crds_first_and_waited_for_until_established() {
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: tlsroutes.gateway.networking.k8s.io\nspec: {group: gateway.networking.k8s.io}\n";
    let manifest = format!("{INGRESS}---\n{crd}");
    let mut gets = 0;
    let (client, seen) = mock_client(Box::new(move |s: &Seen| {
        match (s.method.as_str(), s.uri.as_str()) {
        ("GET", "/apis/apiextensions.k8s.io/v1") => (
            StatusCode::OK,
            json!({"kind": "APIResourceList", "groupVersion": "apiextensions.k8s.io/v1", "resources": [
                {"name": "customresourcedefinitions", "singularName": "customresourcedefinition", "namespaced": false, "kind": "CustomResourceDefinition", "verbs": ["get", "patch"]}]}),
        ),
        ("GET", "/apis/networking.k8s.io/v1") => (StatusCode::OK, networking_discovery()),
        ("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/tlsroutes.gateway.networking.k8s.io") => {
            gets += 1;
            match gets {
                1 => not_found(),
                2 => (StatusCode::OK, json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "tlsroutes.gateway.networking.k8s.io"}, "status": {"conditions": []}})),
                _ => (StatusCode::OK, json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "tlsroutes.gateway.networking.k8s.io"}, "status": {"conditions": [{"type": "Established", "status": "True"}]}})),
            }
        }
        ("GET", _) => not_found(),
        ("PATCH", _) => (StatusCode::OK, serde_json::from_str::<Value>(&s.body).unwrap()),
        _ => panic!("unexpected {s:?}"),
    }
    }));
    let applied = apply_manifests(&client, &manifests(&manifest), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        applied.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(),
        vec!["CustomResourceDefinition", "Ingress"]
    );
    let seen = seen.lock().unwrap().clone();
    let first_patch = seen.iter().position(|s| s.method == "PATCH").unwrap();
    assert!(
        seen[first_patch].uri.contains("customresourcedefinitions"),
        "CRD must be applied first"
    );
    let ingress_patch = seen.iter().rposition(|s| s.method == "PATCH").unwrap();
    let established_read = seen
        .iter()
        .rposition(|s| s.uri.contains("customresourcedefinitions/tlsroutes"))
        .unwrap();
    assert!(
        established_read < ingress_patch,
        "the Ingress waits until the CRD is Established"
    );
}

#[tokio::test]
async fn crd_never_established_fails_within_its_timeout() {
    let (client, _) = mock_client(Box::new(|s: &Seen| {
        match (s.method.as_str(), s.uri.as_str()) {
            ("GET", "/apis/apiextensions.k8s.io/v1") => (
                StatusCode::OK,
                json!({"kind": "APIResourceList", "groupVersion": "apiextensions.k8s.io/v1", "resources": [
                {"name": "customresourcedefinitions", "singularName": "customresourcedefinition", "namespaced": false, "kind": "CustomResourceDefinition", "verbs": ["get", "patch"]}]}),
            ),
            ("GET", _) => (
                StatusCode::OK,
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x.example.com"}, "spec": {"changed": true}, "status": {}}),
            ),
            ("PATCH", _) => (
                StatusCode::OK,
                serde_json::from_str::<Value>(&s.body).unwrap(),
            ),
            _ => panic!("unexpected {s:?}"),
        }
    }));
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x.example.com}\nspec: {changed: false}\n";
    let t = std::time::Instant::now();
    let err = apply_manifests(&client, &manifests(crd), Duration::from_millis(600))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("was not Established within"),
        "{err:#}"
    );
    assert!(t.elapsed() < Duration::from_secs(3));
}

fn secret(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vc-vcluster-dev-helm", "namespace": "dev-vcluster"}, "data": data})
}

#[tokio::test]
async fn reads_the_vcluster_secret_keys() {
    use base64::Engine;
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let data = json!({"certificate-authority": b("CA"), "client-certificate": b("CERT"), "client-key": b("KEY"), "config": b("apiVersion: v1")});
    let (client, seen) = mock_client(Box::new(move |s: &Seen| {
        assert_eq!(
            s.uri,
            "/api/v1/namespaces/dev-vcluster/secrets/vc-vcluster-dev-helm"
        );
        (StatusCode::OK, secret(data.clone()))
    }));
    let s = read_vcluster_secret(&client, "dev-vcluster", "vc-vcluster-dev-helm")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            s.ca_pem.as_slice(),
            s.cert_pem.as_slice(),
            s.key_pem.as_slice()
        ),
        (&b"CA"[..], &b"CERT"[..], &b"KEY"[..])
    );
    assert_eq!(s.token, None);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn waits_for_the_secret_then_gives_up_with_the_reason() {
    use base64::Engine;
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut n = 0;
    let (client, _) = mock_client(Box::new(move |_s: &Seen| {
        n += 1;
        match n {
            1 => not_found(),
            2 => (
                StatusCode::OK,
                secret(json!({"certificate-authority": b("CA")})),
            ),
            _ => (
                StatusCode::OK,
                secret(
                    json!({"certificate-authority": b("CA"), "client-certificate": b("C"), "client-key": b("K")}),
                ),
            ),
        }
    }));
    let s = wait_for_vcluster_secret(
        &client,
        "dev-vcluster",
        "vc-vcluster-dev-helm",
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(s.key_pem, b"K");

    let (client, _) = mock_client(Box::new(|_s: &Seen| not_found()));
    let err = wait_for_vcluster_secret(&client, "dev-vcluster", "vc-x", Duration::from_millis(700))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}")
            .contains("not ready within 0.7s: secret dev-vcluster/vc-x does not exist yet"),
        "{err:#}"
    );
}

fn manifests(yaml: &str) -> Vec<serde_json::Value> {
    bootstrap::drivers::kube::apply::parse_manifests(yaml).unwrap()
}
