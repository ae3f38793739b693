//! verify against real TLS endpoints (testkit's ApiServer double with rcgen certificates) and a
//! real nginx routing by SNI the way ingress-nginx passthrough does: every diagnosis, asserted on
//! its text; kubectl as a second opinion on the healthy contexts.

mod verify_support;

use bootstrap::core::verify::diagnose::Via;
use bootstrap::core::verify::report::{CheckStatus, ContextReport};
use bootstrap::core::verify::Report;
use bootstrap::drivers::probe::{
    check_passthrough, resolve, verify_contexts_with, HostFacts, PassthroughExpect,
};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use testkit::{ApiServer, Auth, Pki};
use verify_support::*;

const DEV_HOST: &str = "dev-vcluster.cnoe.localtest.me";
const STAGING_HOST: &str = "staging-vcluster.cnoe.localtest.me";

async fn verify(
    kc: &Path,
    contexts: &[(&str, Via)],
    in_container: bool,
    timeout: Duration,
) -> Report {
    let kc = bootstrap::drivers::kubeconfig::store::read(kc)
        .unwrap()
        .unwrap();
    let targets = contexts
        .iter()
        .map(|(n, r)| resolve(&kc, n, r.clone()))
        .collect();
    verify_contexts_with(targets, timeout, HostFacts { in_container }).await
}

fn get<'a>(r: &'a Report, name: &str) -> &'a ContextReport {
    r.contexts
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no context {name} in {r:#?}"))
}

fn assert_ok(r: &Report, name: &str) {
    let c = get(r, name);
    assert!(c.ok, "{name} should pass: {c:#?}");
    let layers: Vec<&str> = c.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(layers, ["dns", "tcp", "tls", "auth", "api"], "{name}");
}

#[track_caller]
fn assert_fails(r: &Report, name: &str, layer: &str, diagnosis: &[&str], hint: &[&str]) {
    let c = get(r, name);
    assert!(!c.ok, "{name} should fail: {c:#?}");
    assert_eq!(
        c.failed_layer.map(|l| l.as_str()),
        Some(layer),
        "{name}: {c:#?}"
    );
    let last = c.layers.last().unwrap();
    assert_eq!(
        (last.name.as_str(), last.ok),
        (layer, false),
        "{name}: the failing layer ends the run"
    );
    let d = c.diagnosis.as_deref().unwrap_or_default();
    let h = c.hint.as_deref().unwrap_or_default();
    for want in diagnosis {
        assert!(d.contains(want), "{name}: diagnosis lacks `{want}`:\n{d}");
    }
    for want in hint {
        assert!(h.contains(want), "{name}: hint lacks `{want}`:\n{h}");
    }
}

fn kubectl_second_opinion(kc: &Path, context: &str) {
    if !need("kubectl", &["version", "--client"]) {
        return;
    }
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kc)
        .args([
            "--context",
            context,
            "--request-timeout",
            "5s",
            "get",
            "--raw",
            "/version",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl disagrees on {context}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("v1.35.0-testkit"));
}

const T: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_contexts_pass_every_layer_and_kubectl_agrees() {
    let pki = Pki::new("kubernetes-ca");
    let srv = ApiServer::start(
        "127.0.0.1:0",
        &pki.server(&["localhost", "127.0.0.1"]),
        Auth {
            client_ca_pem: Some(pki.ca_pem.clone()),
            token: Some("s3cret".into()),
            deny_all: false,
        },
    );
    let admin = pki.client("kubernetes-admin", "system:masters");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{}", srv.port());
    let kc = write_kubeconfig(
        dir.path(),
        &[
            Ctx::new("cert", &url, &pki.ca_pem).client(&admin),
            Ctx::new("token", &url, &pki.ca_pem).token("s3cret"),
            Ctx::new(
                "by-name",
                &format!("https://localhost:{}", srv.port()),
                &pki.ca_pem,
            )
            .client(&admin),
            Ctx::new("sni", &url, &pki.ca_pem)
                .sni("localhost")
                .token("s3cret"),
        ],
    );
    let r = verify(
        &kc,
        &[
            ("cert", Via::Api),
            ("token", Via::Unknown),
            ("by-name", Via::Unknown),
            ("sni", Via::Unknown),
        ],
        false,
        T,
    )
    .await;
    assert!(r.ok, "{r:#?}");
    // auth and api share one connection: two requests per context
    assert_eq!(srv.hits.load(std::sync::atomic::Ordering::Relaxed), 8);
    for name in ["cert", "token", "by-name", "sni"] {
        assert_ok(&r, name);
        kubectl_second_opinion(&kc, name);
    }
    let cert = get(&r, "cert");
    assert!(
        cert.layers[3]
            .detail
            .contains("v1.35.0-testkit as client cert kubernetes-admin"),
        "{cert:#?}"
    );
    assert_eq!(cert.layers[4].detail, "may list namespaces");
    assert!(
        cert.layers[2].detail.contains("verified for 127.0.0.1"),
        "{cert:#?}"
    );
    assert!(
        get(&r, "by-name").layers[0].detail.contains("127.0.0.1"),
        "localhost resolves"
    );
}

/// A listener whose accept queue is full drops new SYNs: a real, local connect timeout.
fn blackhole() -> (tokio::net::TcpListener, Vec<std::net::TcpStream>, u16) {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = sock.listen(0).unwrap();
    let port = listener.local_addr().unwrap().port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => fillers.push(s),
            Err(_) => break,
        }
    }
    (listener, fillers, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_timed_out_and_the_localhost_trap() {
    let pki = Pki::new("kubernetes-ca");
    let srv = ApiServer::start(
        "127.0.0.1:0",
        &pki.server(&["127.0.0.1"]),
        Auth {
            token: Some("t".into()),
            ..Default::default()
        },
    );
    let (_listener, _fillers, dead_port) = blackhole();
    let closed = free_port();
    let dir = tempfile::tempdir().unwrap();
    let kc = write_kubeconfig(
        dir.path(),
        &[
            Ctx::new(
                "healthy",
                &format!("https://127.0.0.1:{}", srv.port()),
                &pki.ca_pem,
            )
            .token("t"),
            Ctx::new(
                "refused",
                &format!("https://127.0.0.1:{closed}"),
                &pki.ca_pem,
            )
            .token("t"),
            Ctx::new(
                "dead",
                &format!("https://127.0.0.1:{dead_port}"),
                &pki.ca_pem,
            )
            .token("t"),
        ],
    );
    let timeout = Duration::from_millis(600);
    let list = [
        ("healthy", Via::Unknown),
        ("refused", Via::Api),
        ("dead", Via::Unknown),
    ];
    let r = verify(&kc, &list, false, timeout).await;
    assert_ok(&r, "healthy");
    assert_fails(
        &r,
        "refused",
        "tcp",
        &[&format!("127.0.0.1:{closed} refused: nothing listens")],
        &["is the cluster up?"],
    );
    assert_fails(
        &r,
        "dead",
        "tcp",
        &["timed out after 600 ms", "not even a refusal"],
        &["unreachable"],
    );
    // a dead endpoint costs its timeout and never delays the others
    let dead = get(&r, "dead");
    assert!(
        dead.ms >= 590.0 && dead.ms < 1200.0,
        "dead endpoint took {} ms",
        dead.ms
    );
    assert!(
        get(&r, "healthy").ms < 590.0,
        "the healthy context waited for the dead one: {} ms",
        get(&r, "healthy").ms
    );

    let r = verify(&kc, &list, true, timeout).await;
    assert_fails(
        &r,
        "refused",
        "tcp",
        &[
            "refused, and this runs inside a container",
            "localhost trap",
        ],
        &[
            &format!("https://host.docker.internal:{closed} with tls-server-name: localhost"),
            "kind` network",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_mismatch_suggests_a_tls_server_name_that_works() {
    let pki = Pki::new("kubernetes-ca");
    let srv = ApiServer::start(
        "127.0.0.1:0",
        &pki.server(&["localdev-control-plane", "localhost"]),
        Auth {
            token: Some("t".into()),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{}", srv.port());
    let kc = write_kubeconfig(
        dir.path(),
        &[
            Ctx::new("plain", &url, &pki.ca_pem).token("t"),
            Ctx::new("fixed", &url, &pki.ca_pem)
                .token("t")
                .sni("localhost"),
        ],
    );
    let r = verify(
        &kc,
        &[("plain", Via::Unknown), ("fixed", Via::Unknown)],
        false,
        T,
    )
    .await;
    assert_fails(
        &r,
        "plain",
        "tls",
        &[
            "certificate name mismatch",
            "not valid for 127.0.0.1",
            "[localdev-control-plane, localhost]",
        ],
        &["set tls-server-name: localhost on cluster `plain`"],
    );
    // the suggestion, applied, verifies
    assert_ok(&r, "fixed");
    kubectl_second_opinion(&kc, "fixed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_authority_names_the_issuer_seen_and_the_ca_expected() {
    let new_ca = Pki::new("kind-localdev-ca-recreated");
    let old_ca = Pki::new("kind-localdev-ca-old");
    let srv = ApiServer::start(
        "127.0.0.1:0",
        &new_ca.server(&["127.0.0.1"]),
        Auth {
            token: Some("t".into()),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let kc = write_kubeconfig(
        dir.path(),
        &[Ctx::new(
            "stale",
            &format!("https://127.0.0.1:{}", srv.port()),
            &old_ca.ca_pem,
        )
        .token("t")],
    );
    let r = verify(&kc, &[("stale", Via::Api)], false, T).await;
    assert_fails(
        &r,
        "stale",
        "tls",
        &[
            "unknown authority",
            "issued by `kind-localdev-ca-recreated`",
            "trusts only `kind-localdev-ca-old`",
        ],
        &["recreated", "old CA"],
    );
    assert_eq!(
        srv.hits.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no request goes past a failed TLS layer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_rejected_401_403_and_denied() {
    let pki = Pki::new("kubernetes-ca");
    let stranger = Pki::new("some-other-ca");
    let srv = ApiServer::start(
        "127.0.0.1:0",
        &pki.server(&["127.0.0.1"]),
        Auth {
            client_ca_pem: Some(pki.ca_pem.clone()),
            token: Some("good".into()),
            deny_all: false,
        },
    );
    let denying = ApiServer::start(
        "127.0.0.1:0",
        &pki.server(&["127.0.0.1"]),
        Auth {
            token: Some("good".into()),
            deny_all: true,
            ..Default::default()
        },
    );
    // 403: nginx terminating TLS and refusing every path, as an API server does without RBAC
    let forbidden_pki = Pki::new("forbidden-ca");
    let (_fake_pki, fake_leaf) = fake_router_pki();
    let fake = ApiServer::start("127.0.0.1:0", &fake_leaf, Auth::default());
    if !need("nginx", &["-v"]) {
        return;
    }
    let nginx = Nginx::start(&[], fake.port(), &forbidden_pki.server(&["127.0.0.1"]));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{}", srv.port());
    let kc = write_kubeconfig(
        dir.path(),
        &[
            Ctx::new("wrong-token", &url, &pki.ca_pem).token("expired"),
            Ctx::new("anonymous", &url, &pki.ca_pem),
            Ctx::new("foreign-cert", &url, &pki.ca_pem)
                .client(&stranger.client("mallory", "system:masters")),
            Ctx::new(
                "forbidden",
                &format!("https://127.0.0.1:{}", nginx.ports.forbidden),
                &forbidden_pki.ca_pem,
            )
            .token("good"),
            Ctx::new(
                "web-server",
                &format!("https://127.0.0.1:{}", nginx.ports.web),
                &forbidden_pki.ca_pem,
            )
            .token("good"),
            Ctx::new(
                "denied",
                &format!("https://127.0.0.1:{}", denying.port()),
                &pki.ca_pem,
            )
            .token("good"),
        ],
    );
    let names = [
        "wrong-token",
        "anonymous",
        "foreign-cert",
        "forbidden",
        "web-server",
        "denied",
    ];
    let list: Vec<(&str, Via)> = names.iter().map(|n| (*n, Via::Unknown)).collect();
    let r = verify(&kc, &list, false, T).await;
    assert_fails(
        &r,
        "wrong-token",
        "auth",
        &["credentials rejected (401 Unauthorized)", "bearer token"],
        &["expired or was revoked"],
    );
    assert_fails(
        &r,
        "anonymous",
        "auth",
        &[
            "credentials rejected (401 Unauthorized)",
            "without credentials",
        ],
        &["has no credentials"],
    );
    assert_fails(
        &r,
        "foreign-cert",
        "auth",
        // the alert, or (TLS 1.3, racing our request) the reset that follows it
        &["credentials rejected", "client certificate (mallory)"],
        &["not signed by a CA this server trusts"],
    );
    assert_fails(
        &r,
        "web-server",
        "auth",
        &[
            "/version answered HTTP 200: the answer is not a version document",
            "does not behave like a kube-apiserver",
        ],
        &["points at the API server"],
    );
    assert_fails(
        &r,
        "forbidden",
        "auth",
        &[
            "credentials accepted but forbidden (403 Forbidden)",
            "cannot get path \"/version\"",
        ],
        &["RBAC"],
    );
    assert_fails(
        &r,
        "denied",
        "api",
        &["not allowed to list namespaces", "allowed=false"],
        &["clusterrolebinding"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_router_plain_http_and_another_service() {
    if !need("nginx", &["-v"]) {
        return;
    }
    let dev_pki = Pki::new("vcluster-dev-ca");
    let staging_pki = Pki::new("vcluster-staging-ca");
    let dev = ApiServer::start(
        "127.0.0.1:0",
        &dev_pki.server(&["localhost", "127.0.0.1", DEV_HOST]),
        Auth {
            token: Some("dev".into()),
            ..Default::default()
        },
    );
    let _staging = ApiServer::start(
        "127.0.0.1:0",
        &staging_pki.server(&["localhost", "127.0.0.1", STAGING_HOST]),
        Auth {
            token: Some("staging".into()),
            ..Default::default()
        },
    );
    let (_fake_pki, fake_leaf) = fake_router_pki();
    let fake = ApiServer::start("127.0.0.1:0", &fake_leaf, Auth::default());
    // only dev is routed through: staging's SNI falls to the router's own TLS (passthrough off for it)
    let nginx = Nginx::start(
        &[(DEV_HOST, dev.port())],
        fake.port(),
        &Pki::new("unused").server(&["127.0.0.1"]),
    );
    let p = &nginx.ports;
    let router = format!("https://127.0.0.1:{}", p.router);
    let dir = tempfile::tempdir().unwrap();
    let kc = write_kubeconfig(
        dir.path(),
        &[
            Ctx::new("dev-vcluster", &router, &dev_pki.ca_pem)
                .sni(DEV_HOST)
                .token("dev"),
            Ctx::new("staging-vcluster", &router, &staging_pki.ca_pem)
                .sni(STAGING_HOST)
                .token("staging"),
            Ctx::new("staging-undeclared", &router, &staging_pki.ca_pem)
                .sni(STAGING_HOST)
                .token("staging"),
            Ctx::new(
                "plain-http",
                &format!("https://127.0.0.1:{}", p.plain_http),
                &dev_pki.ca_pem,
            )
            .token("dev"),
            Ctx::new(
                "ssh",
                &format!("https://127.0.0.1:{}", p.banner),
                &dev_pki.ca_pem,
            )
            .token("dev"),
        ],
    );
    let pass = |h: &str| Via::Passthrough {
        hostname: h.into(),
        https_port: p.router,
    };
    let r = verify(
        &kc,
        &[
            ("dev-vcluster", pass(DEV_HOST)),
            ("staging-vcluster", pass(STAGING_HOST)),
            ("staging-undeclared", Via::Unknown),
            ("plain-http", Via::Unknown),
            ("ssh", Via::Unknown),
        ],
        false,
        T,
    )
    .await;
    assert_ok(&r, "dev-vcluster");
    kubectl_second_opinion(&kc, "dev-vcluster");
    for name in ["staging-vcluster", "staging-undeclared"] {
        assert_fails(
            &r,
            name,
            "tls",
            &[
                "passthrough is not working",
                "answered for staging-vcluster.cnoe.localtest.me with its own certificate",
                "Kubernetes Ingress Controller Fake Certificate",
            ],
            &[
                "--enable-ssl-passthrough",
                "ssl-passthrough: \"true\"",
                "TLSRoute for staging-vcluster.cnoe.localtest.me",
            ],
        );
    }
    assert!(
        get(&r, "staging-vcluster").layers[2]
            .detail
            .contains("ingress.local"),
        "the presented names are reported"
    );
    assert_fails(
        &r,
        "plain-http",
        "tls",
        &["speaks plain HTTP, not TLS", "`HTTP/1.1 400 Bad Request`"],
        &[&format!("sport = :{}", p.plain_http)],
    );
    assert_fails(
        &r,
        "ssh",
        "tls",
        &[
            "another service is behind",
            "`SSH-2.0-OpenSSH_9.2p1 Debian-2`",
        ],
        &["wrong port"],
    );

    // the environment check: the router must answer each hostname with that vcluster's certificate
    let router = format!("https://127.0.0.1:{}", p.router);
    let checks = check_passthrough(
        vec![
            PassthroughExpect {
                context: "dev-vcluster".into(),
                hostname: DEV_HOST.into(),
                ca_pem: Some(dev_pki.ca_pem.clone().into_bytes()),
                server: router.clone(),
                https_port: p.router,
            },
            PassthroughExpect {
                context: "staging-vcluster".into(),
                hostname: STAGING_HOST.into(),
                ca_pem: Some(staging_pki.ca_pem.clone().into_bytes()),
                server: router.clone(),
                https_port: p.router,
            },
        ],
        T,
        Some(HostFacts {
            in_container: false,
        }),
    )
    .await;
    assert_eq!(checks[0].status, CheckStatus::Pass, "{checks:#?}");
    assert!(checks[0].detail.contains(DEV_HOST), "{checks:#?}");
    assert_eq!(checks[1].status, CheckStatus::Fail, "{checks:#?}");
    assert!(
        checks[1].detail.contains("passthrough is not working"),
        "{checks:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_failure_of_the_passthrough_domain() {
    let pki = Pki::new("ca");
    let dir = tempfile::tempdir().unwrap();
    // .invalid never resolves (RFC 6761), so this holds with or without internet
    let host = "dev-vcluster.cnoe.verify.invalid";
    let kc = write_kubeconfig(
        dir.path(),
        &[Ctx::new("dev-vcluster", &format!("https://{host}:8443"), &pki.ca_pem).token("t")],
    );
    let route = Via::Passthrough {
        hostname: host.into(),
        https_port: 8443,
    };
    let r = verify(&kc, &[("dev-vcluster", route)], false, T).await;
    assert_fails(
        &r,
        "dev-vcluster",
        "dns",
        &[
            &format!("{host} does not resolve"),
            "*.cnoe.verify.invalid",
            "DNS rebinding",
        ],
        &[
            &format!("`127.0.0.1 {host}` to /etc/hosts"),
            "allows rebinding for cnoe.verify.invalid",
            "host.docker.internal:8443",
        ],
    );
}

fn bootstrap(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(args)
        .current_dir(cwd)
        .env_remove("KUBECONFIG")
        .env_remove("BOOTSTRAP_FILE")
        // a dead proxy in the environment must not matter: loopback is dialled directly
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("https_proxy", "http://127.0.0.1:9")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_contexts_without_a_file_table_and_exit_codes() {
    let pki = Pki::new("kubernetes-ca");
    let srv = ApiServer::start(
        "127.0.0.1:0",
        &pki.server(&["127.0.0.1"]),
        Auth {
            token: Some("t".into()),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{}", srv.port());
    let kc = write_kubeconfig(
        dir.path(),
        &[
            Ctx::new("a", &url, &pki.ca_pem).token("t"),
            Ctx::new("b", &url, &pki.ca_pem).token("nope"),
        ],
    );
    let kc = kc.to_str().unwrap();
    // no envs.yaml in the working directory
    let (code, out, err) = bootstrap(
        &["verify", "--kubeconfig", kc, "--context", "a"],
        dir.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    let first = out.lines().nth(1).unwrap();
    assert!(
        first.starts_with("a ") && first.ends_with("ok") && first.contains(&url),
        "{out}"
    );
    assert!(out.contains("1 of 1 context verified"), "{out}");

    let (code, out, err) = bootstrap(
        &[
            "verify",
            "--kubeconfig",
            kc,
            "--context",
            "a",
            "--context",
            "b",
            "--context",
            "missing",
            "-o",
            "json",
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["contexts"][0]["ok"], true);
    assert_eq!(v["contexts"][0]["layers"].as_array().unwrap().len(), 5);
    assert!(v["contexts"][0]["layers"][1]["ms"].is_number());
    assert_eq!(v["contexts"][1]["layers"][3]["name"], "auth");
    assert!(
        v["contexts"][1]["diagnosis"]
            .as_str()
            .unwrap()
            .contains("401 Unauthorized"),
        "{out}"
    );
    assert!(
        v["contexts"][2]["diagnosis"]
            .as_str()
            .unwrap()
            .contains("context `missing` is not in the kubeconfig; it has: a, b"),
        "{out}"
    );
    assert_eq!(
        v["checks"].as_array().unwrap().len(),
        0,
        "no environment checks without the file"
    );

    let (code, out, _) = bootstrap(
        &["verify", "--kubeconfig", kc, "--context", "b"],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("b (")
            && out.contains("auth: credentials rejected (401 Unauthorized)")
            && out.contains("  hint: "),
        "{out}"
    );
}

#[test]
fn cli_file_declares_contexts_router_secrets_and_a_vcluster_not_running() {
    if !need("nginx", &["-v"]) {
        return;
    }
    let host_pki = Pki::new("kind-ca");
    let api = ApiServer::start(
        "127.0.0.1:0",
        &host_pki.server(&["localhost", "127.0.0.1"]),
        Auth {
            client_ca_pem: Some(host_pki.ca_pem.clone()),
            ..Default::default()
        },
    );
    let dev_pki = Pki::new("vcluster-dev-ca");
    let dev = ApiServer::start(
        "127.0.0.1:0",
        &dev_pki.server(&["localhost", DEV_HOST]),
        Auth {
            token: Some("dev".into()),
            ..Default::default()
        },
    );
    let (_fake_pki, fake_leaf) = fake_router_pki();
    let fake = ApiServer::start("127.0.0.1:0", &fake_leaf, Auth::default());
    let nginx = Nginx::start(
        &[(DEV_HOST, dev.port())],
        fake.port(),
        &Pki::new("unused").server(&["127.0.0.1"]),
    );
    let forward_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let kc = write_kubeconfig(
        dir.path(),
        &[
            Ctx::new(
                "kind-vt",
                &format!("https://127.0.0.1:{}", api.port()),
                &host_pki.ca_pem,
            )
            .client(&host_pki.client("kubernetes-admin", "system:masters")),
            Ctx::new(
                "dev-vcluster",
                &format!("https://127.0.0.1:{}", nginx.ports.router),
                &dev_pki.ca_pem,
            )
            .sni(DEV_HOST)
            .token("dev"),
            Ctx::new(
                "pf-vcluster",
                &format!("https://127.0.0.1:{forward_port}"),
                &dev_pki.ca_pem,
            )
            .sni("localhost")
            .token("dev"),
        ],
    );
    let envs = format!(
        r#"cluster:
  provider: existing
  context: kind-vt
router: {{ domain: cnoe.localtest.me, httpsPort: {router} }}
vclusters:
  - name: dev
    context: dev-vcluster
    hostname: {DEV_HOST}
  - name: pf
    context: pf-vcluster
    hostname: pf-vcluster.cnoe.localtest.me
argocd: {{ register: true }}
"#,
        router = nginx.ports.router,
    );
    std::fs::write(dir.path().join("envs.yaml"), envs).unwrap();
    // dev's secrets exist in the host cluster; pf's do not
    api.seed(
        "/api/v1/namespaces/dev-vcluster/secrets/vc-vcluster-dev",
        serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "vc-vcluster-dev", "namespace": "dev-vcluster"}}),
    );
    api.seed(
        "/api/v1/namespaces/argocd/secrets/cluster-dev-vcluster",
        serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "cluster-dev-vcluster", "namespace": "argocd",
                "labels": {"argocd.argoproj.io/secret-type": "cluster"}}}),
    );
    let kc = kc.to_str().unwrap();
    // pf's context points at a port nothing listens on: its vcluster is not running.
    let (code, out, err) = bootstrap(
        &[
            "verify",
            "--kubeconfig",
            kc,
            "--access",
            "devcontainer",
            "-o",
            "json",
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "{out}{err}");
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let names: Vec<&str> = v["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kind-vt", "dev-vcluster", "pf-vcluster"]);
    assert_eq!(v["contexts"][0]["ok"], true, "{out}");
    assert_eq!(v["contexts"][1]["ok"], true, "{out}");
    let pf = &v["contexts"][2];
    assert_eq!(pf["failed_layer"], "tcp", "{out}");
    let checks = v["checks"].as_array().unwrap();
    let router = checks
        .iter()
        .find(|c| {
            c["name"]
                .as_str()
                .unwrap()
                .starts_with("router passthrough")
        })
        .unwrap();
    assert_eq!(router["status"], "pass", "{out}");
    let status = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["status"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no check {name}: {out}"))
    };
    assert_eq!(
        status("vcluster secret dev-vcluster/vc-vcluster-dev"),
        "pass"
    );
    assert_eq!(
        status("ArgoCD cluster secret argocd/cluster-dev-vcluster"),
        "pass"
    );
    assert_eq!(status("vcluster secret pf-vcluster/vc-vcluster-pf"), "fail");
    assert_eq!(
        status("ArgoCD cluster secret argocd/cluster-pf-vcluster"),
        "fail"
    );
    assert!(
        checks
            .iter()
            .all(|c| !c["name"].as_str().unwrap().contains("Docker")),
        "no Docker checks for an existing cluster: {out}"
    );

    let (code, out, _) = bootstrap(
        &["verify", "--kubeconfig", kc, "--access", "host"],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("vcluster secret pf-vcluster/vc-vcluster-pf: FAILED: missing\n    hint: vcluster writes it once it has started"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "router passthrough {DEV_HOST} (127.0.0.1:{}): ok",
            nginx.ports.router
        )),
        "{out}"
    );
    assert!(out.contains("2 of 3 contexts verified"), "{out}");
}

/// A minimal HTTP CONNECT proxy that tunnels every request to `upstream`, counting tunnels.
async fn connect_proxy(upstream: u16) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnels = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let Ok(b) = client.read_u8().await else {
                        return;
                    };
                    head.push(b);
                }
                assert!(
                    head.starts_with(b"CONNECT proxied.test:443 "),
                    "{}",
                    String::from_utf8_lossy(&head)
                );
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut server = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
                    .await
                    .unwrap();
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (port, tunnels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_url_is_used_for_remote_servers_and_never_for_loopback() {
    let pki = Pki::new("kubernetes-ca");
    let srv = ApiServer::start(
        "127.0.0.1:0",
        &pki.server(&["proxied.test", "127.0.0.1"]),
        Auth {
            token: Some("t".into()),
            ..Default::default()
        },
    );
    let (proxy_port, tunnels) = connect_proxy(srv.port()).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig_yaml(&[
        Ctx::new("remote", "https://proxied.test", &pki.ca_pem).token("t"),
        Ctx::new(
            "local",
            &format!("https://127.0.0.1:{}", srv.port()),
            &pki.ca_pem,
        )
        .token("t"),
    ])
    .replace(
        "    certificate-authority-data:",
        &format!("    proxy-url: http://127.0.0.1:{proxy_port}\n    certificate-authority-data:"),
    );
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kc).unwrap();
    let r = verify(
        &path,
        &[("remote", Via::Unknown), ("local", Via::Unknown)],
        false,
        T,
    )
    .await;
    assert_ok(&r, "remote");
    assert_ok(&r, "local");
    assert_eq!(
        tunnels.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "only the remote server goes through the proxy"
    );
    assert!(
        get(&r, "remote").layers[1].detail.contains("via proxy"),
        "{r:#?}"
    );
    assert!(
        get(&r, "local").layers[1]
            .detail
            .contains("ignored: loopback is dialled directly"),
        "{r:#?}"
    );
}

/// Contexts of one server, one CA, one name and the same credentials share one connection: the
/// first dials (dns, tcp, tls), the others make their own two requests on it and report those
/// layers as `shared`, with 0 ms. A context with other credentials dials its own. A second run
/// in the same process resumes the TLS sessions the server offered, per trust; a context that
/// trusts another CA never resumes a session another one verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_of_one_server_and_user_share_a_connection_and_resume_sessions() {
    use std::sync::atomic::Ordering::SeqCst;
    let pki = Pki::new("share-ca");
    let srv = ApiServer::start(
        "127.0.0.1:0",
        &pki.server(&["localhost", "127.0.0.1"]),
        Auth {
            token: Some("good".into()),
            ..Default::default()
        },
    );
    let other_ca = Pki::new("another-ca");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{}", srv.port());
    let mut ctxs: Vec<Ctx> = (0..5)
        .map(|i| Ctx::new(&format!("team-{i}"), &url, &pki.ca_pem).token("good"))
        .collect();
    ctxs.push(Ctx::new("wrong-token", &url, &pki.ca_pem).token("bad"));
    ctxs.push(Ctx::new("wrong-ca", &url, &other_ca.ca_pem).token("good"));
    let kc = write_kubeconfig(dir.path(), &ctxs);
    let names: Vec<(&str, Via)> = ctxs
        .iter()
        .map(|c| (c.name.as_str(), Via::Unknown))
        .collect();
    let r = verify(&kc, &names, false, T).await;
    for i in 0..5 {
        assert_ok(&r, &format!("team-{i}"));
    }
    let lead = get(&r, "team-0");
    assert_eq!(lead.shared_with, None);
    assert!(lead.layers.iter().all(|l| !l.shared), "{lead:#?}");
    for i in 1..5 {
        let c = get(&r, &format!("team-{i}"));
        assert_eq!(c.shared_with.as_deref(), Some("team-0"), "{c:#?}");
        for l in &c.layers[..3] {
            assert!(l.shared && l.ok && l.ms == 0.0, "{c:#?}");
        }
        for l in &c.layers[3..] {
            assert!(!l.shared && l.ok, "its own requests: {c:#?}");
        }
    }
    assert_fails(&r, "wrong-token", "auth", &["401"], &[]);
    assert_eq!(get(&r, "wrong-token").shared_with, None);
    assert_fails(&r, "wrong-ca", "tls", &["another-ca"], &[]);
    // One connection for the five, one for the wrong token, one for the wrong CA (refused at
    // the handshake, so the server counts only the first two); each request still made.
    assert_eq!(srv.handshakes.load(SeqCst), 2, "{r:#?}");
    assert_eq!(srv.hits.load(SeqCst), 5 * 2 + 1);
    let table = bootstrap::core::verify::report::render_table(&r);
    assert!(
        table.contains("shared") && table.contains("4 of 7 contexts `shared` the connection"),
        "{table}"
    );

    // Again in this process: both connections resume their sessions; the wrong CA still fails.
    let again = verify(&kc, &names, false, T).await;
    assert_eq!(srv.handshakes.load(SeqCst), 4);
    assert_eq!(
        srv.resumed.load(SeqCst),
        2,
        "sessions resumed per trust: {again:#?}"
    );
    assert_ok(&again, "team-3");
    let tls = &get(&again, "team-0").layers[2].detail;
    assert!(tls.contains("(session resumed)"), "{tls}");
    assert_fails(&again, "wrong-ca", "tls", &["another-ca"], &[]);
}

/// A server that stops answering costs one timeout, not one per context sharing its
/// connection: the others take the same answer (the same server, the same credentials).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_costs_one_timeout_for_all_who_share_it() {
    let pki = Pki::new("hang-ca");
    let srv = ApiServer::start(
        "127.0.0.1:0",
        &pki.server(&["127.0.0.1"]),
        Auth {
            token: Some("good".into()),
            ..Default::default()
        },
    );
    srv.gate.hold("selfsubjectaccessreviews");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{}", srv.port());
    let ctxs: Vec<Ctx> = (0..6)
        .map(|i| Ctx::new(&format!("ns-{i}"), &url, &pki.ca_pem).token("good"))
        .collect();
    let kc = write_kubeconfig(dir.path(), &ctxs);
    let names: Vec<(&str, Via)> = ctxs
        .iter()
        .map(|c| (c.name.as_str(), Via::Unknown))
        .collect();
    let timeout = Duration::from_millis(400);
    let started = std::time::Instant::now();
    let r = verify(&kc, &names, false, timeout).await;
    let took = started.elapsed();
    srv.gate.release();
    for c in &ctxs {
        assert_fails(&r, &c.name, "api", &[], &[]);
    }
    assert!(
        took < timeout * 3,
        "six contexts sharing a hung server took {took:?} (timeout {timeout:?})"
    );
}
