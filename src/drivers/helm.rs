//! The `helm` executable: the arguments we run it with (pure, tested) and the runner. Whether a
//! release needs a run at all is decided in `core::release`.

pub use crate::core::release::{is_converged, Release};
use serde_json::Value;

/// The chart argument and where helm finds it: a local path as it is, else the name with
/// `--repo` and `--version` when the file gives them.
fn chart_source(r: &Release) -> Vec<String> {
    let mut a = Vec::new();
    match (&r.chart.path, &r.chart.repo) {
        (Some(path), _) => a.push(path.clone()),
        (None, Some(repo)) => {
            a.push(r.chart.name.clone());
            a.extend(["--repo".into(), repo.clone()]);
        }
        (None, None) => a.push(r.chart.name.clone()),
    }
    if let (None, Some(v)) = (&r.chart.path, &r.chart.version) {
        a.extend(["--version".into(), v.clone()]);
    }
    a
}

/// `helm upgrade --install` arguments; the values come from `values_file`; `labels` (`k=v`) mark
/// the release ours (helm 3.13+ stores them on every revision's record).
pub fn upgrade_args(
    r: &Release,
    values_file: &str,
    labels: &str,
    kube_context: &str,
    kubeconfig: &str,
    timeout_s: u64,
) -> Vec<String> {
    let mut a: Vec<String> = vec!["upgrade".into(), "--install".into(), r.name.clone()];
    a.extend(chart_source(r));
    a.extend([
        "--namespace".into(),
        r.namespace.clone(),
        "--create-namespace".into(),
        "--values".into(),
        values_file.into(),
        "--labels".into(),
        labels.into(),
        "--wait".into(),
        "--timeout".into(),
        format!("{timeout_s}s"),
        "--kube-context".into(),
        kube_context.into(),
        "--kubeconfig".into(),
        kubeconfig.into(),
    ]);
    a
}

/// `helm template` of the release as `upgrade_args` would install it: the same chart, version
/// and values, rendered without a cluster. What `up` reads the release's images from.
pub fn template_args(r: &Release, values_file: &str) -> Vec<String> {
    let mut a: Vec<String> = vec!["template".into(), r.name.clone()];
    a.extend(chart_source(r));
    a.extend([
        "--namespace".into(),
        r.namespace.clone(),
        "--values".into(),
        values_file.into(),
    ]);
    a
}

pub fn uninstall_args(r: &Release, kube_context: &str, kubeconfig: &str) -> Vec<String> {
    vec![
        "uninstall".into(),
        r.name.clone(),
        "--namespace".into(),
        r.namespace.clone(),
        "--ignore-not-found".into(),
        "--wait".into(),
        "--kube-context".into(),
        kube_context.into(),
        "--kubeconfig".into(),
        kubeconfig.into(),
    ]
}

/// `helm rollback NAME` (to the previous revision): how a release left `pending-upgrade` or
/// `pending-rollback` by an interrupted helm becomes upgradeable again.
pub fn rollback_args(
    r: &Release,
    kube_context: &str,
    kubeconfig: &str,
    timeout_s: u64,
) -> Vec<String> {
    vec![
        "rollback".into(),
        r.name.clone(),
        "--namespace".into(),
        r.namespace.clone(),
        "--wait".into(),
        "--timeout".into(),
        format!("{timeout_s}s"),
        "--kube-context".into(),
        kube_context.into(),
        "--kubeconfig".into(),
        kubeconfig.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::Chart;
    use serde_json::json;

    fn rel() -> Release {
        Release {
            name: "vcluster-dev-helm".into(),
            namespace: "dev-vcluster".into(),
            chart: Chart {
                repo: Some("https://charts.loft.sh".into()),
                name: "vcluster".into(),
                version: Some("0.26.0".into()),
                path: None,
            },
            values: json!({"a": 1}),
        }
    }

    #[test]
    fn upgrade_args_for_repo_and_local_charts() {
        let a = upgrade_args(
            &rel(),
            "/tmp/v.yaml",
            "bootstrap/env=localdev",
            "kind-localdev",
            "/tmp/kc",
            300,
        );
        let s = a.join(" ");
        assert!(s.starts_with("upgrade --install vcluster-dev-helm vcluster --repo https://charts.loft.sh --version 0.26.0 --namespace dev-vcluster --create-namespace"), "{s}");
        assert!(s.contains("--kube-context kind-localdev"));
        assert!(s.contains("--labels bootstrap/env=localdev"), "{s}");
        let mut local = rel();
        local.chart.path = Some("./charts/vcluster".into());
        let s = upgrade_args(&local, "v", "l", "c", "k", 1).join(" ");
        assert!(
            s.starts_with("upgrade --install vcluster-dev-helm ./charts/vcluster --namespace"),
            "{s}"
        );
        assert!(!s.contains("--version"));
    }

    #[test]
    fn template_renders_what_upgrade_installs() {
        let s = template_args(&rel(), "/tmp/v.yaml").join(" ");
        assert_eq!(s, "template vcluster-dev-helm vcluster --repo https://charts.loft.sh --version 0.26.0 --namespace dev-vcluster --values /tmp/v.yaml");
        let mut local = rel();
        local.chart.path = Some("/kept/vcluster-0.26.0.tgz".into());
        let s = template_args(&local, "v").join(" ");
        assert_eq!(s, "template vcluster-dev-helm /kept/vcluster-0.26.0.tgz --namespace dev-vcluster --values v");
    }
}

/// The `helm` executable, driven for one cluster context.
pub struct Helm {
    pub bin: std::path::PathBuf,
    pub kubeconfig: std::path::PathBuf,
    pub context: String,
}

/// What `helm` says about one release.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub listed: Option<Value>,
    pub values: Option<Value>,
}

impl Helm {
    async fn run(&self, args: &[String]) -> anyhow::Result<String> {
        use anyhow::Context;
        let started = std::time::Instant::now();
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        super::process::die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("running {}", self.bin.display()))?;
        let _running = super::process::register(child.id());
        let out = child
            .wait_with_output()
            .await
            .with_context(|| format!("running {}", self.bin.display()))?;
        crate::logging::ran(
            "helm",
            &args.join(" "),
            &out.status.to_string(),
            started.elapsed(),
            || {
                format!(
                    "{} bytes out, {} bytes err",
                    out.stdout.len(),
                    out.stderr.len()
                )
            },
        );
        if !out.status.success() {
            anyhow::bail!(
                "`helm {}` failed ({}): {}",
                args.iter().take(3).cloned().collect::<Vec<_>>().join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn scope(&self, namespace: &str) -> Vec<String> {
        vec![
            "--namespace".into(),
            namespace.into(),
            "--kube-context".into(),
            self.context.clone(),
            "--kubeconfig".into(),
            self.kubeconfig.display().to_string(),
        ]
    }

    /// Read-only: the release's row and its user-supplied values.
    pub async fn observe(&self, r: &Release) -> anyhow::Result<Observed> {
        // Every state, in helm 3 and 4 alike: helm 4 removed `list --all` (helm/helm 8a73d97,
        // v4.0.0) and lists every state by default; helm 3 lists deployed and failed unless told.
        let mut list: Vec<String> = [
            "list",
            "--deployed",
            "--failed",
            "--pending",
            "--superseded",
            "--uninstalling",
            "--uninstalled",
        ]
        .map(String::from)
        .to_vec();
        list.extend([
            "-o".into(),
            "json".into(),
            "--filter".into(),
            format!("^{}$", r.name),
        ]);
        list.extend(self.scope(&r.namespace));
        let rows: Value =
            serde_json::from_str(self.run(&list).await?.trim()).unwrap_or(Value::Null);
        let listed = rows
            .as_array()
            .and_then(|a| a.iter().find(|row| row["name"] == r.name.as_str()))
            .cloned();
        if listed.is_none() {
            return Ok(Observed::default());
        }
        let mut get = vec![
            "get".into(),
            "values".into(),
            r.name.clone(),
            "-o".into(),
            "json".into(),
        ];
        get.extend(self.scope(&r.namespace));
        let values = serde_json::from_str(self.run(&get).await?.trim()).ok();
        Ok(Observed { listed, values })
    }

    pub async fn upgrade(&self, r: &Release, labels: &str, timeout_s: u64) -> anyhow::Result<()> {
        let mut file = tempfile::NamedTempFile::new()?;
        std::io::Write::write_all(&mut file, serde_json::to_string(&r.values)?.as_bytes())?;
        let args = upgrade_args(
            r,
            &file.path().display().to_string(),
            labels,
            &self.context,
            &self.kubeconfig.display().to_string(),
            timeout_s,
        );
        self.run(&args).await.map(|_| ())
    }

    /// The release's manifest as `helm template` renders it (no cluster is asked).
    pub async fn template(&self, r: &Release) -> anyhow::Result<String> {
        let mut file = tempfile::NamedTempFile::new()?;
        std::io::Write::write_all(&mut file, serde_json::to_string(&r.values)?.as_bytes())?;
        self.run(&template_args(r, &file.path().display().to_string()))
            .await
    }

    pub async fn rollback(&self, r: &Release, timeout_s: u64) -> anyhow::Result<()> {
        self.run(&rollback_args(
            r,
            &self.context,
            &self.kubeconfig.display().to_string(),
            timeout_s,
        ))
        .await
        .map(|_| ())
    }

    pub async fn uninstall(&self, r: &Release) -> anyhow::Result<()> {
        self.run(&uninstall_args(
            r,
            &self.context,
            &self.kubeconfig.display().to_string(),
        ))
        .await
        .map(|_| ())
    }
}
