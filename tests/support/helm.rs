//! The helm double (the real Helm engine) against the apiserver double on this machine, with the
//! contract charts served as a chart repository: what tests of the helm driver and of the
//! in-cluster reconcile stand on.

use base64::Engine;
use std::path::{Path, PathBuf};
use testkit::{ApiServer, Auth, Pki};

pub struct HelmWorld {
    pub api: ApiServer,
    pub dir: tempfile::TempDir,
    /// Context `kind-t` reaches `api` with an admin client certificate.
    pub kubeconfig: PathBuf,
    /// The helm double behind a wrapper with its own state folder (tests run in parallel and
    /// must not share one through the process environment).
    pub helm: PathBuf,
    pub state: PathBuf,
    pub charts: super::charts::ChartRepo,
}

pub const CONTEXT: &str = "kind-t";

/// A wrapper running tests/doubles/helm with `HELM_DOUBLE_STATE=<dir>/helm-state` and `extra`.
pub fn helm_double(dir: &Path, extra: &[(&str, &str)]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let real = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/doubles/helm");
    let wrapper = dir.join("helm");
    let vars: String = extra.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nHELM_DOUBLE_STATE='{}' {vars}exec '{}' \"$@\"\n",
            dir.join("helm-state").display(),
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

/// The token the apiserver double of `HelmWorld::start_exec` accepts, and nothing else.
pub const EXEC_TOKEN: &str = "exec-plugin-token-7f3a";

impl HelmWorld {
    /// As `start`, but the double accepts only a bearer token (no client certificate), and the
    /// context's user gets it from an exec credential plugin (`client.authentication.k8s.io/v1`):
    /// `creds-plugin` beside the kubeconfig, named relatively (`./creds-plugin`) as client-go
    /// allows. The plugin logs each run to `plugin.log`, and fails as an expired login does
    /// while a file `logged-out` lies beside it. A second context `kind-t-anonymous` reaches the
    /// same server with a token that is not the plugin's.
    pub fn start_exec() -> HelmWorld {
        Self::start_exec_giving(false)
    }

    /// As `start_exec`; with `client_cert` the plugin prints a client certificate and key
    /// (`clientCertificateData`, `clientKeyData`, as Teleport's does) and the double accepts
    /// only client certificates of its CA.
    pub fn start_exec_giving(client_cert: bool) -> HelmWorld {
        use std::os::unix::fs::PermissionsExt;
        let pki = Pki::new("cloud-ca");
        let auth = if client_cert {
            Auth {
                client_ca_pem: Some(pki.ca_pem.clone()),
                ..Default::default()
            }
        } else {
            Auth {
                token: Some(EXEC_TOKEN.into()),
                ..Default::default()
            }
        };
        let api = ApiServer::start("127.0.0.1:0", &pki.server(&["127.0.0.1"]), auth);
        let dir = tempfile::tempdir().unwrap();
        let status = if client_cert {
            let leaf = pki.client("sso:dev@example.com", "developers");
            serde_json::json!({"clientCertificateData": leaf.cert_pem, "clientKeyData": leaf.key_pem})
        } else {
            serde_json::json!({"token": EXEC_TOKEN})
        };
        std::fs::write(
            dir.path().join("credential.json"),
            serde_json::json!({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status}).to_string(),
        )
        .unwrap();
        let plugin = dir.path().join("creds-plugin");
        std::fs::write(
            &plugin,
            "#!/bin/sh\nhere=$(dirname \"$0\")\necho \"$KUBERNETES_EXEC_INFO\" >> \"$here/plugin.log\"\nif [ -e \"$here/logged-out\" ]; then\n  echo 'error: the SSO session for profile dev has expired; run `corp-cli login`' >&2\n  exit 1\nfi\ncat \"$here/credential.json\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority-data: {}\ncontexts:\n- name: {CONTEXT}\n  context: {{cluster: {CONTEXT}, user: cloud-sso}}\n- name: kind-t-anonymous\n  context: {{cluster: {CONTEXT}, user: nobody}}\nusers:\n- name: cloud-sso\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./creds-plugin\n      args: [token, --cluster, t]\n      interactiveMode: Never\n- name: nobody\n  user: {{token: someone-elses-token}}\n",
                api.port(),
                b64(&pki.ca_pem),
            ),
        )
        .unwrap();
        let helm = helm_double(dir.path(), &[]);
        let state = dir.path().join("helm-state");
        HelmWorld {
            api,
            dir,
            kubeconfig,
            helm,
            state,
            charts: super::charts::ChartRepo::start(),
        }
    }

    /// How many times the exec plugin of `start_exec` ran.
    pub fn plugin_runs(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("plugin.log"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    pub fn start() -> HelmWorld {
        let pki = Pki::new("kind-ca");
        let admin = pki.client("kubernetes-admin", "system:masters");
        let api = ApiServer::start(
            "127.0.0.1:0",
            &pki.server(&["127.0.0.1"]),
            Auth {
                client_ca_pem: Some(pki.ca_pem.clone()),
                ..Default::default()
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority-data: {}\ncontexts:\n- name: {CONTEXT}\n  context: {{cluster: {CONTEXT}, user: {CONTEXT}}}\nusers:\n- name: {CONTEXT}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
                api.port(),
                b64(&pki.ca_pem),
                b64(&admin.cert_pem),
                b64(&admin.key_pem)
            ),
        )
        .unwrap();
        let helm = helm_double(dir.path(), &[]);
        let state = dir.path().join("helm-state");
        HelmWorld {
            api,
            dir,
            kubeconfig,
            helm,
            state,
            charts: super::charts::ChartRepo::start(),
        }
    }

    /// The calls the helm double was given, one per line.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.state.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Run the helm double as a user would, in this world's cluster.
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = std::process::Command::new(&self.helm)
            .args(args)
            .args(["--kube-context", CONTEXT, "--kubeconfig"])
            .arg(&self.kubeconfig)
            .output()
            .expect("run the helm double");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}
