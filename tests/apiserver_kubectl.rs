//! The kube-apiserver double (crates/testkit `kube`) answers the real kubectl: what a new user
//! types first (`get ns`, `get secrets -A -l owner=helm`, `apply --server-side`, `get -o yaml`,
//! `delete`, `get --raw`, `create secret`, `auth can-i`) works against it as against a real
//! server, so the doubles are checked by a client we did not write.

use base64::Engine;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use testkit::{ApiServer, Auth, Pki};

fn kubectl_or_skip(test: &str) -> Option<PathBuf> {
    match which::which("kubectl") {
        Ok(k) => Some(k),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: kubectl is required under CI (scripts/test.sh installs it)"
            );
            eprintln!("skipped {test}: no kubectl on PATH (scripts/test.sh installs it)");
            None
        }
    }
}

struct Cluster {
    api: ApiServer,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
}

impl Cluster {
    fn start(kubectl: PathBuf) -> Cluster {
        let pki = Pki::new("kubernetes");
        let api = ApiServer::start(
            "127.0.0.1:0",
            &pki.server(&["127.0.0.1", "localhost"]),
            Auth {
                client_ca_pem: Some(pki.ca_pem.clone()),
                ..Default::default()
            },
        );
        let admin = pki.client("kubernetes-admin", "system:masters");
        let dir = tempfile::tempdir().unwrap();
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let kubeconfig = dir.path().join("config");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: double\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority-data: {}\ncontexts:\n- name: double\n  context: {{cluster: double, user: admin}}\ncurrent-context: double\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
                api.port(),
                b(&pki.ca_pem),
                b(&admin.cert_pem),
                b(&admin.key_pem)
            ),
        )
        .unwrap();
        Cluster {
            api,
            dir,
            kubeconfig,
            kubectl,
        }
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&Path>) -> (i32, String, String) {
        let mut cmd = Command::new(&self.kubectl);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy");
        if let Some(f) = stdin {
            cmd.stdin(std::fs::File::open(f).unwrap());
        }
        let out = cmd.output().expect("run kubectl");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.kubectl(args, None);
        assert_eq!(code, 0, "kubectl {args:?}: {err}\n{out}");
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }
}

const MANIFESTS: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "nginx:1", ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Secret
metadata: {name: sh.helm.release.v1.web.v1, namespace: demo, labels: {owner: helm, name: web}}
type: helm.sh/release.v1
data: {release: eA==}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: demo}
data: {a: "1"}
"#;

#[test]
fn kubectl_everyday_commands_work_against_the_apiserver_double() {
    let Some(kubectl) =
        kubectl_or_skip("kubectl_everyday_commands_work_against_the_apiserver_double")
    else {
        return;
    };
    let c = Cluster::start(kubectl);
    let manifests = c.dir.path().join("m.yaml");
    std::fs::write(&manifests, MANIFESTS).unwrap();
    let m = manifests.to_str().unwrap();

    // Discovery with short names: `ns` resolves.
    let ns = c.ok(&["get", "ns"]);
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(n), "{ns}");
    }
    let resources = c.ok(&["api-resources"]);
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("deployments ") && l.contains(" deploy ")),
        "{resources}"
    );

    // Server-side apply downloads OpenAPI v3 to learn the server validates fields itself.
    let applied = c.ok(&["apply", "--server-side", "-f", m]);
    assert!(
        applied.contains("deployment.apps/web serverside-applied"),
        "{applied}"
    );
    let deploy = c.json(&[
        "get",
        "deploy",
        "-n",
        "demo",
        "web",
        "--show-managed-fields",
    ]);
    assert_eq!(
        deploy["status"]["readyReplicas"], 2,
        "the double plays the controller"
    );
    assert_eq!(
        deploy["status"]["observedGeneration"],
        deploy["metadata"]["generation"]
    );
    assert_eq!(deploy["metadata"]["managedFields"][0]["manager"], "kubectl");
    assert_eq!(deploy["metadata"]["managedFields"][0]["operation"], "Apply");
    let rv = deploy["metadata"]["resourceVersion"].clone();
    c.ok(&["apply", "--server-side", "-f", m]);
    let again = c.json(&["get", "deploy", "-n", "demo", "web"]);
    assert_eq!(
        again["metadata"]["resourceVersion"], rv,
        "an identical apply is no write"
    );

    // Label selectors, across namespaces, as `helm` release records are found.
    let (code, out, err) = c.kubectl(&["get", "secrets", "-A", "-l", "owner=helm"], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("NAMESPACE") && out.contains("sh.helm.release.v1.web.v1"),
        "{out}"
    );
    let none = c.json(&["get", "secrets", "-A", "-l", "owner=flux"]);
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    let yaml = c.ok(&["get", "cm", "cfg", "-n", "demo", "-o", "yaml"]);
    assert!(
        yaml.contains("a: \"1\"") && yaml.contains("namespace: demo"),
        "{yaml}"
    );

    // Client-side apply: a strategic merge patch computed from kubectl's own types.
    let cs = c.dir.path().join("cs.yaml");
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cs, namespace: demo}\ndata: {a: \"1\"}\n";
    std::fs::write(&cs, cm).unwrap();
    assert!(c
        .ok(&["apply", "-f", cs.to_str().unwrap()])
        .contains("configmap/cs created"));
    std::fs::write(&cs, cm.replace("a: \"1\"", "a: \"2\"")).unwrap();
    assert!(c
        .ok(&["apply", "-f", cs.to_str().unwrap()])
        .contains("configmap/cs configured"));
    assert!(c
        .ok(&["apply", "-f", cs.to_str().unwrap()])
        .contains("configmap/cs unchanged"));
    assert_eq!(c.json(&["get", "cm", "cs", "-n", "demo"])["data"]["a"], "2");

    // Another manager's field: a conflict, forced here.
    let scaled = c.dir.path().join("scaled.yaml");
    std::fs::write(&scaled, MANIFESTS.replace("replicas: 2", "replicas: 3")).unwrap();
    let (code, _, err) = c.kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "other",
            "-f",
            scaled.to_str().unwrap(),
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("conflict with \"kubectl\"") && err.contains(".spec.replicas"),
        "{err}"
    );
    let (code, out, err) = c.kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "other",
            "--force-conflicts",
            "-f",
            scaled.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    let scaled = c.json(&["get", "deploy", "-n", "demo", "web"]);
    assert_eq!(scaled["spec"]["replicas"], 3);
    assert_eq!(scaled["metadata"]["generation"], 2);
    assert_eq!(scaled["status"]["availableReplicas"], 3);
    c.ok(&[
        "patch",
        "-n",
        "demo",
        "cm",
        "cfg",
        "-p",
        r#"{"data":{"b":"2"}}"#,
    ]);
    c.ok(&["label", "-n", "demo", "cm", "cfg", "tier=x"]);
    let cm = c.json(&["get", "cm", "-n", "demo", "cfg"]);
    assert_eq!(cm["data"]["b"], "2");
    assert_eq!(cm["metadata"]["labels"]["tier"], "x");

    // Typed clients send protobuf: kubectl create and auth can-i.
    c.ok(&[
        "create",
        "secret",
        "generic",
        "s1",
        "-n",
        "demo",
        "--from-literal=k=v",
    ]);
    let s1 = c.json(&["get", "secret", "s1", "-n", "demo"]);
    assert_eq!(s1["data"]["k"], "dg==");
    assert_eq!(s1["type"], "Opaque");
    assert_eq!(c.ok(&["auth", "can-i", "list", "pods"]).trim(), "yes");

    let raw = c.ok(&["get", "--raw", "/api/v1/namespaces/demo/configmaps/cfg"]);
    let raw: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(raw["kind"], "ConfigMap");

    let deleted = c.ok(&["delete", "-f", m]);
    assert!(
        deleted.contains("deployment.apps \"web\" deleted"),
        "{deleted}"
    );
    let (code, _, err) = c.kubectl(&["get", "deploy", "web", "-n", "demo"], None);
    assert_ne!(code, 0);
    assert!(err.contains("NotFound"), "{err}");
    assert!(c.api.writes() > 0);
}
