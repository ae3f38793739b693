//! Interruptions resume (issue 10, item 3): `up` stopped at any point, by Ctrl-C or SIGKILL,
//! then `up` again converges, nothing of the user's is lost, and a second `up` changes nothing.
//!
//! Through the real binary, on `provider: existing` against the apiserver double, with the helm
//! double whose engine is the real Helm engine (helm v4.2.3 through helm-python-sdk): what a
//! killed helm leaves behind (a release `pending-install` or `pending-upgrade`), and that helm
//! then refuses to touch it, are the engine's own doing. Kill points are chosen by hooks that
//! announce them (the helm double holding at its wait, the apiserver double holding a write,
//! strace stopping the kubeconfig rename), never by sleeping.
//!
//! That the host cluster's context is written when a later step fails is proven on the kind
//! double, where there is a host cluster: full_up.rs
//! `a_failed_up_writes_only_the_host_context_and_the_next_up_resumes`.

mod support;

use base64::Engine;
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::charts::charts_or_skip;
use support::helm::{HelmWorld, CONTEXT};
use support::{bin, run_bounded, Run};

/// The router on ingress-nginx `router_version`, dev on vcluster 0.26.0, staging on 0.36.1, and
/// their ArgoCD registrations. Access is pinned to the host zone: no router answers in front of
/// the apiserver double, so routes are written unprobed and `up` runs without the final verify.
fn env_file(w: &HelmWorld, router_version: &str) -> PathBuf {
    let repo = &w.charts.url;
    let text = format!(
        "cluster: {{provider: existing, name: t, context: {CONTEXT}}}\naccess: {{mode: host}}\nrouter: {{domain: cnoe.localtest.me, chart: {{repo: '{repo}', name: ingress-nginx, version: {router_version}}}}}\nvclusters:\n  - {{name: dev, release: vcluster-dev-helm, namespace: dev-vcluster, chart: {{repo: '{repo}', name: vcluster, version: 0.26.0}}}}\n  - {{name: staging, release: vcluster-staging-helm, namespace: staging-vcluster, chart: {{repo: '{repo}', name: vcluster, version: 0.36.1}}}}\nargocd: {{register: true}}\n"
    );
    let p = w.dir.path().join("envs.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The user's kubeconfig: theirs (a `work` context, their current one) next to the context
/// bootstrap is told to use.
fn with_user_entries(w: &HelmWorld) -> Vec<u8> {
    let mine = std::fs::read_to_string(&w.kubeconfig).unwrap();
    let mut d: Value = bootstrap::core::kubeconfig::doc::parse(&mine).unwrap();
    d["clusters"].as_array_mut().unwrap().push(json!({"name": "work", "cluster": {"server": "https://k8s.example.com:6443", "certificate-authority-data": "Zm9yZWlnbg=="}}));
    d["contexts"].as_array_mut().unwrap().push(
        json!({"name": "work", "context": {"cluster": "work", "user": "work", "namespace": "team-a"}}),
    );
    d["users"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "work", "user": {"token": "keep-me"}}));
    d["current-context"] = json!("work");
    d["preferences"] = json!({"colors": true});
    // JSON is YAML: every kubeconfig reader takes it.
    let text = serde_json::to_string_pretty(&d).unwrap();
    std::fs::write(&w.kubeconfig, &text).unwrap();
    text.into_bytes()
}

fn assert_user_entries_intact(w: &HelmWorld) {
    let text = std::fs::read_to_string(&w.kubeconfig).unwrap();
    let d = bootstrap::core::kubeconfig::doc::parse(&text).unwrap();
    let names = bootstrap::core::kubeconfig::doc::context_names(&d);
    for ctx in ["work", CONTEXT] {
        assert!(names.iter().any(|n| n == ctx), "{ctx} lost:\n{text}");
    }
    assert_eq!(d["current-context"], "work", "{text}");
    for theirs in ["keep-me", "team-a", "colors", "k8s.example.com"] {
        assert!(text.contains(theirs), "{theirs} lost:\n{text}");
    }
}

/// The apiserver double plays no vcluster: the secrets the vclusters would write are seeded.
fn seed_vcluster_secrets(w: &HelmWorld) {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for (ns, release) in [
        ("dev-vcluster", "vcluster-dev-helm"),
        ("staging-vcluster", "vcluster-staging-helm"),
    ] {
        w.api.seed(
            &format!("/api/v1/namespaces/{ns}/secrets/vc-{release}"),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("vc-{release}"), "namespace": ns},
                   "data": {"certificate-authority": b64("CA"), "client-certificate": b64("CERT"), "client-key": b64("KEY")}}),
        );
    }
}

fn command(w: &HelmWorld, helm: &Path, args: &[&str]) -> Command {
    let mut cmd = run_as_user(w, &bin(), helm);
    cmd.args(args);
    cmd
}

/// `program` with the environment the user runs bootstrap in.
fn run_as_user(w: &HelmWorld, program: &Path, helm: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("KUBECONFIG", &w.kubeconfig)
        .env("BOOTSTRAP_HELM", helm)
        .env("BOOTSTRAP_OFFLINE", "1")
        .env("HOME", w.dir.path())
        .env_remove("BOOTSTRAP_ACCESS")
        .env_remove("DOCKER_HOST");
    cmd
}

fn up(w: &HelmWorld, helm: &Path, f: &Path) -> Run {
    let out = run_bounded(
        command(w, helm, &["-f", f.to_str().unwrap(), "up", "--no-verify"]),
        Duration::from_secs(240),
    );
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An `up` running in its own process group (so it and its children can be killed together,
/// as a closed container or an OOM kill ends them), its output drained meanwhile.
struct Running {
    child: Child,
    out: std::thread::JoinHandle<Vec<u8>>,
    /// stderr so far, read as it comes (a test waits for a line before acting).
    err: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    err_done: std::thread::JoinHandle<()>,
}

fn start_up(w: &HelmWorld, helm: &Path, f: &Path) -> Running {
    start(command(
        w,
        helm,
        &["-f", f.to_str().unwrap(), "up", "--no-verify"],
    ))
}

fn start(mut cmd: Command) -> Running {
    use std::io::Read;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn bootstrap");
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let err = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = err.clone();
    let err_done = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = se.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    Running {
        child,
        out,
        err,
        err_done,
    }
}

impl Running {
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the child we spawned and have not reaped.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// Wait for it to end (bounded), and what it printed.
    fn finish(mut self) -> (Option<i32>, Option<i32>, Run) {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + Duration::from_secs(240);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("bootstrap did not end within 240s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = self.err_done.join();
        let stderr = String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned();
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&self.out.join().unwrap()).into_owned(),
            stderr,
        };
        (status.code(), status.signal(), run)
    }

    /// SIGKILL the whole process group: bootstrap and every child it runs.
    fn kill_all(self) -> Run {
        // SAFETY: kill(2) on the process group we created for this child.
        unsafe {
            libc::kill(-self.pid(), libc::SIGKILL);
        }
        let (_, signal, run) = self.finish();
        assert_eq!(signal, Some(libc::SIGKILL), "{}", run.text());
        run
    }
}

/// The world's helm double (same state folder: one calls.log) with one hook set.
fn helm_with(w: &HelmWorld, hook: &str, release: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let wrapper = w.dir.path().join(format!("helm-{release}"));
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nHELM_DOUBLE_STATE='{}' {hook}='{release}' exec '{}' \"$@\"\n",
            w.state.display(),
            support::repo().join("tests/doubles/helm").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

/// Poll (every 20ms, bounded) for a point a hook announces.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !ready() {
        assert!(Instant::now() < deadline, "never reached: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The status helm's storage driver keeps on the record of one revision (its `status` label).
fn status(w: &HelmWorld, ns: &str, release: &str, revision: u32) -> Option<String> {
    w.api
        .object(&format!(
            "/api/v1/namespaces/{ns}/secrets/sh.helm.release.v1.{release}.v{revision}"
        ))
        .and_then(|s| {
            s["metadata"]["labels"]["status"]
                .as_str()
                .map(str::to_owned)
        })
}

/// Latest revision's status, by walking revisions up from 1.
fn latest(w: &HelmWorld, ns: &str, release: &str) -> Option<(u32, String)> {
    let mut found = None;
    for rev in 1..50 {
        match status(w, ns, release, rev) {
            Some(s) => found = Some((rev, s)),
            None => break,
        }
    }
    found
}

fn calls(w: &HelmWorld) -> Vec<String> {
    w.calls()
}

/// `helm upgrade --install` as a user (or bootstrap) would run it, with the plain double.
fn helm_upgrade(
    w: &HelmWorld,
    release: &str,
    ns: &str,
    chart: &str,
    version: &str,
) -> (i32, String) {
    let values = w.dir.path().join("user-values.yaml");
    std::fs::write(&values, "{}").unwrap();
    let (code, out, err) = w.run(&[
        "upgrade",
        "--install",
        release,
        chart,
        "--repo",
        &w.charts.url,
        "--version",
        version,
        "--namespace",
        ns,
        "--values",
        values.to_str().unwrap(),
    ]);
    (code, format!("{out}{err}"))
}

/// The converged check every test ends with: a second `up` runs no helm and writes nothing.
fn assert_second_up_changes_nothing(w: &HelmWorld, f: &Path) {
    let calls_before = calls(w).len();
    let writes = w.api.writes();
    let kubeconfig = std::fs::read(&w.kubeconfig).unwrap();
    let again = up(w, &w.helm, f);
    assert_eq!(again.code, 0, "{}", again.text());
    assert!(
        again.stdout.contains("Nothing to change"),
        "{}",
        again.text()
    );
    assert_eq!(calls(w)[calls_before..], [] as [String; 0], "helm ran");
    assert_eq!(w.api.writes(), writes, "API writes on a converged up");
    assert_eq!(std::fs::read(&w.kubeconfig).unwrap(), kubeconfig);
}

fn world(test: &str) -> Option<HelmWorld> {
    if !charts_or_skip(test) {
        return None;
    }
    let w = HelmWorld::start();
    seed_vcluster_secrets(&w);
    with_user_entries(&w);
    Some(w)
}

#[test]
fn a_release_left_pending_install_by_a_killed_helm_is_reinstalled() {
    let Some(w) = world("a_release_left_pending_install_by_a_killed_helm_is_reinstalled") else {
        return;
    };
    let f = env_file(&w, "4.14.1");
    // helm is killed outright while dev installs: its pods still starting, the engine's record
    // says pending-install.
    let killing = helm_with(&w, "HELM_DOUBLE_KILL_AT_WAIT", "vcluster-dev-helm");
    let first = up(&w, &killing, &f);
    assert_eq!(first.code, 1, "{}", first.text());
    assert!(first.stderr.contains("signal: 9"), "{}", first.text());
    assert_eq!(
        latest(&w, "dev-vcluster", "vcluster-dev-helm"),
        Some((1, "pending-install".into())),
        "what a killed helm leaves"
    );
    // Real helm refuses to touch it: the engine's own words.
    let (code, said) = helm_upgrade(
        &w,
        "vcluster-dev-helm",
        "dev-vcluster",
        "vcluster",
        "0.26.0",
    );
    assert_ne!(code, 0, "{said}");
    assert!(
        said.contains("another operation (install/upgrade/rollback) is in progress"),
        "{said}"
    );
    let plan = run_bounded(
        command(&w, &w.helm, &["-f", f.to_str().unwrap(), "plan"]),
        Duration::from_secs(120),
    );
    let plan_text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan_text.contains("left pending-install by an interrupted helm"),
        "{plan_text}"
    );

    let calls_before = calls(&w).len();
    let resumed = up(&w, &w.helm, &f);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    let helm_ran: Vec<String> = calls(&w)[calls_before..]
        .iter()
        .filter(|c| c.contains("vcluster-dev-helm"))
        .map(|c| c.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(helm_ran, ["uninstall", "upgrade"], "{}", resumed.text());
    assert_eq!(
        latest(&w, "dev-vcluster", "vcluster-dev-helm"),
        Some((1, "deployed".into())),
        "installed again from scratch"
    );
    assert!(
        resumed
            .stdout
            .contains("helm install dev-vcluster/vcluster-dev-helm"),
        "{}",
        resumed.text()
    );
    assert_user_entries_intact(&w);
    assert_second_up_changes_nothing(&w, &f);
}

#[test]
fn a_release_left_pending_upgrade_by_a_killed_helm_is_rolled_back_then_upgraded() {
    let Some(w) =
        world("a_release_left_pending_upgrade_by_a_killed_helm_is_rolled_back_then_upgraded")
    else {
        return;
    };
    let f = env_file(&w, "4.14.1");
    let first = up(&w, &w.helm, &f);
    assert_eq!(first.code, 0, "{}", first.text());
    // The file moves the router to 4.15.1; helm is killed mid-upgrade.
    let f = env_file(&w, "4.15.1");
    let killing = helm_with(&w, "HELM_DOUBLE_KILL_AT_WAIT", "ingress-nginx");
    let killed = up(&w, &killing, &f);
    assert_eq!(killed.code, 1, "{}", killed.text());
    assert_eq!(
        latest(&w, "ingress-nginx", "ingress-nginx"),
        Some((2, "pending-upgrade".into())),
        "what a helm killed mid-upgrade leaves:\n{}",
        killed.text()
    );
    let (code, said) = helm_upgrade(
        &w,
        "ingress-nginx",
        "ingress-nginx",
        "ingress-nginx",
        "4.15.1",
    );
    assert_ne!(code, 0, "{said}");
    assert!(
        said.contains(
            "UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"
        ),
        "{said}"
    );

    let calls_before = calls(&w).len();
    let resumed = up(&w, &w.helm, &f);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    let helm_ran: Vec<String> = calls(&w)[calls_before..]
        .iter()
        .filter(|c| c.contains("ingress-nginx"))
        .map(|c| c.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(helm_ran, ["rollback", "upgrade"], "{}", resumed.text());
    // rev 3 is the rollback to 1, rev 4 the upgrade the file asks for.
    assert_eq!(
        latest(&w, "ingress-nginx", "ingress-nginx"),
        Some((4, "deployed".into()))
    );
    let record = w
        .api
        .object("/api/v1/namespaces/ingress-nginx/secrets/sh.helm.release.v1.ingress-nginx.v4")
        .unwrap();
    assert_eq!(
        record["metadata"]["labels"]["bootstrap/env"], "t",
        "still ours"
    );
    assert_user_entries_intact(&w);
    assert_second_up_changes_nothing(&w, &f);
}

#[test]
fn ctrl_c_during_a_helm_install_is_passed_to_helm_and_the_next_up_converges() {
    let Some(w) = world("ctrl_c_during_a_helm_install_is_passed_to_helm_and_the_next_up_converges")
    else {
        return;
    };
    let f = env_file(&w, "4.14.1");
    let holding = helm_with(&w, "HELM_DOUBLE_HOLD_AT_WAIT", "vcluster-dev-helm");
    let run = start_up(&w, &holding, &f);
    let marker = w.state.join("holding-vcluster-dev-helm");
    wait_for("helm waiting on dev's install", || marker.exists());
    // Ctrl-C, sent to bootstrap alone (not its process group, as a terminal would): helm sees
    // it only if bootstrap passes it on.
    run.signal(libc::SIGINT);
    let (code, _, r) = run.finish();
    assert_eq!(code, Some(1), "{}", r.text());
    assert!(
        r.stderr
            .contains("interrupt: letting the running step end cleanly"),
        "{}",
        r.text()
    );
    assert!(
        r.stderr.contains("run `bootstrap up` again to resume"),
        "{}",
        r.text()
    );
    // helm was asked, as a terminal asks it, and the engine cancelled the install: the release
    // is `failed` (a helm killed instead would have left it pending-install; one never told
    // would still be waiting).
    assert_eq!(
        latest(&w, "dev-vcluster", "vcluster-dev-helm"),
        Some((1, "failed".into())),
        "{}",
        r.text()
    );
    assert!(
        r.stderr
            .contains("vcluster dev: helm install of dev-vcluster/vcluster-dev-helm"),
        "{}",
        r.text()
    );
    // No later step ran.
    assert!(
        w.api
            .object("/api/v1/namespaces/argocd/secrets/cluster-dev-vcluster")
            .is_none(),
        "{}",
        r.text()
    );
    assert!(
        !std::fs::read_to_string(&w.kubeconfig)
            .unwrap()
            .contains("dev-vcluster.cnoe.localtest.me"),
        "no context was written"
    );

    let resumed = up(&w, &w.helm, &f);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert!(
        resumed
            .stdout
            .contains("helm upgrade dev-vcluster/vcluster-dev-helm"),
        "{}",
        resumed.text()
    );
    assert_eq!(
        latest(&w, "dev-vcluster", "vcluster-dev-helm"),
        Some((2, "deployed".into()))
    );
    assert_user_entries_intact(&w);
    assert_second_up_changes_nothing(&w, &f);
}

#[test]
fn ctrl_c_lets_the_running_step_finish_and_starts_no_other() {
    interrupt_lets_the_running_step_finish(
        "ctrl_c_lets_the_running_step_finish_and_starts_no_other",
        libc::SIGINT,
    );
}

/// `docker stop`, systemd and CI runners ask with SIGTERM: the same as Ctrl-C.
#[test]
fn sigterm_lets_the_running_step_finish_and_starts_no_other() {
    interrupt_lets_the_running_step_finish(
        "sigterm_lets_the_running_step_finish_and_starts_no_other",
        libc::SIGTERM,
    );
}

fn interrupt_lets_the_running_step_finish(test: &str, sig: i32) {
    let Some(w) = world(test) else {
        return;
    };
    let f = env_file(&w, "4.14.1");
    // Both vclusters' Ingresses are being written (their helm installs done) when Ctrl-C comes:
    // no child to pass it to; the steps end, and the stages after them do not start.
    w.api.gate.hold("/ingresses/vcluster-");
    let run = start_up(&w, &w.helm, &f);
    wait_for("both vclusters' Ingress writes held", || {
        w.api.gate.held() == 2
    });
    run.signal(sig);
    wait_for("bootstrap took the interrupt", || {
        run.stderr()
            .contains("interrupt: letting the running step end")
    });
    w.api.gate.release();
    let (code, _, r) = run.finish();
    assert_eq!(code, Some(1), "{}", r.text());
    assert!(r.stderr.contains("interrupted before"), "{}", r.text());
    assert!(
        r.stderr.contains("run `bootstrap up` again to resume"),
        "{}",
        r.text()
    );
    assert!(
        w.api
            .object("/apis/networking.k8s.io/v1/namespaces/dev-vcluster/ingresses/vcluster-dev-helm-api")
            .is_some(),
        "the running step finished"
    );
    let text = std::fs::read_to_string(&w.kubeconfig).unwrap();
    assert!(
        !text.contains("dev-vcluster.cnoe.localtest.me"),
        "the kubeconfig step must not start:\n{text}"
    );
    assert!(
        w.api
            .object("/api/v1/namespaces/argocd/secrets/cluster-dev-vcluster")
            .is_none(),
        "argocd must not start"
    );
    let resumed = up(&w, &w.helm, &f);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert_user_entries_intact(&w);
    assert_second_up_changes_nothing(&w, &f);
}

#[test]
fn a_second_ctrl_c_stops_at_once() {
    let Some(w) = world("a_second_ctrl_c_stops_at_once") else {
        return;
    };
    let f = env_file(&w, "4.14.1");
    // Writes that never return (both vclusters' Ingresses, after their helm installs): only
    // the second Ctrl-C ends the run.
    w.api.gate.hold("/ingresses/vcluster-");
    let run = start_up(&w, &w.helm, &f);
    wait_for("both vclusters' Ingress writes held", || {
        w.api.gate.held() == 2
    });
    run.signal(libc::SIGINT);
    wait_for("bootstrap took the interrupt", || {
        run.stderr()
            .contains("interrupt: letting the running step end")
    });
    let t = Instant::now();
    run.signal(libc::SIGINT);
    let (code, _, r) = run.finish();
    assert_eq!(code, Some(1), "{}", r.text());
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "the second Ctrl-C must not wait for the step ({:?})",
        t.elapsed()
    );
    assert!(
        r.stderr.contains("run `bootstrap up` again to resume"),
        "{}",
        r.text()
    );
    w.api.gate.release();
    let resumed = up(&w, &w.helm, &f);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert_second_up_changes_nothing(&w, &f);
}

#[test]
fn killed_during_a_helm_install_the_next_up_converges() {
    let Some(w) = world("killed_during_a_helm_install_the_next_up_converges") else {
        return;
    };
    let f = env_file(&w, "4.14.1");
    let holding = helm_with(&w, "HELM_DOUBLE_HOLD_AT_WAIT", "vcluster-dev-helm");
    let run = start_up(&w, &holding, &f);
    let marker = w.state.join("holding-vcluster-dev-helm");
    wait_for("helm waiting on dev's install", || marker.exists());
    // bootstrap and helm killed together, as a closed container or an OOM kill ends them.
    run.kill_all();
    assert_eq!(
        latest(&w, "dev-vcluster", "vcluster-dev-helm"),
        Some((1, "pending-install".into()))
    );
    assert_user_entries_intact(&w);
    let resumed = up(&w, &w.helm, &f);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert_eq!(
        latest(&w, "dev-vcluster", "vcluster-dev-helm"),
        Some((1, "deployed".into()))
    );
    assert_user_entries_intact(&w);
    assert_second_up_changes_nothing(&w, &f);
}

#[test]
fn killed_between_two_api_applies_the_next_up_converges() {
    let Some(w) = world("killed_between_two_api_applies_the_next_up_converges") else {
        return;
    };
    let f = env_file(&w, "4.14.1");
    // The ArgoCD registrations are one set of objects applied in turn: killed while staging's
    // is on its way, after dev's went through.
    w.api.gate.hold("/secrets/cluster-staging-vcluster");
    let run = start_up(&w, &w.helm, &f);
    wait_for("staging's registration held", || w.api.gate.held() > 0);
    assert!(
        w.api
            .object("/api/v1/namespaces/argocd/secrets/cluster-dev-vcluster")
            .is_some(),
        "half applied: dev's registration went first"
    );
    run.kill_all();
    w.api.gate.release();
    assert!(w
        .api
        .object("/api/v1/namespaces/argocd/secrets/cluster-staging-vcluster")
        .is_none());
    let resumed = up(&w, &w.helm, &f);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert!(
        resumed
            .stdout
            .contains("applied Secret argocd/cluster-staging-vcluster"),
        "{}",
        resumed.text()
    );
    assert!(
        !resumed
            .stdout
            .contains("applied Secret argocd/cluster-dev-vcluster"),
        "dev's was already there:\n{}",
        resumed.text()
    );
    assert_user_entries_intact(&w);
    assert_second_up_changes_nothing(&w, &f);
}

#[test]
fn killed_while_writing_the_kubeconfig_loses_nothing_and_the_next_up_converges() {
    let test = "killed_while_writing_the_kubeconfig_loses_nothing_and_the_next_up_converges";
    if !support::spawns::strace_or_skip(test) {
        return;
    }
    let Some(w) = world(test) else {
        return;
    };
    let f = env_file(&w, "4.14.1");
    let before = std::fs::read(&w.kubeconfig).unwrap();
    // Killed at the instant that matters: our lock taken, the new kubeconfig written beside the
    // user's and being flushed to disk before it is renamed over it. strace SIGKILLs bootstrap
    // at its first fsync(2), which is that one: nothing else in an offline `up` with its tools
    // in place syncs a file (helm and its engine never do), so the point is exact, not guessed.
    let trace = w.dir.path().join("fsync.strace");
    let mut cmd = run_as_user(&w, Path::new("strace"), &w.helm);
    cmd.args([
        "-f",
        "-qq",
        "-o",
        trace.to_str().unwrap(),
        "-e",
        "trace=fsync,fdatasync,execve",
        "-e",
        "inject=fsync,fdatasync:signal=SIGKILL",
    ])
    .arg(bin())
    .args(["-f", f.to_str().unwrap(), "up", "--no-verify"]);
    let out = run_bounded(cmd, Duration::from_secs(240));
    let killed = format!(
        "{}\n--- strace\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&trace).unwrap_or_default()
    );
    assert_eq!(out.status.code(), None, "killed by strace:\n{killed}");
    assert_eq!(
        std::fs::read(&w.kubeconfig).unwrap(),
        before,
        "the user's kubeconfig is as it was:\n{killed}"
    );
    let lock = bootstrap::drivers::kubeconfig::store::lock_path(&w.kubeconfig);
    assert!(lock.exists(), "our dead process's lock is left");
    let half_written = std::fs::read_dir(w.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".bootstrap-tmp-")
        });
    assert!(
        half_written,
        "killed mid-write: the new kubeconfig was beside the user's"
    );

    let resumed = up(&w, &w.helm, &f);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert!(!lock.exists());
    let text = std::fs::read_to_string(&w.kubeconfig).unwrap();
    assert!(text.contains("dev-vcluster.cnoe.localtest.me"), "{text}");
    assert_user_entries_intact(&w);
    assert_second_up_changes_nothing(&w, &f);
}

/// On the kind double (Docker): killed once the cluster is made, while the router installs.
/// The cluster carries our record, the router is left pending-install by the killed helm, the
/// host context was not written yet; the next `up` takes the cluster as ours, recovers the
/// release, writes every context next to the user's, and a second `up` changes nothing.
#[test]
fn killed_after_the_cluster_is_created_the_next_up_converges() {
    use support::full;
    let test = "killed_after_the_cluster_is_created_the_next_up_converges";
    if !support::docker_or_skip(test) || !full::unshare_works() || !charts_or_skip(test) {
        return;
    }
    let w = full::world();
    let _clean = support::Cleanup(vec![w.cluster.clone()]);
    let before = std::fs::read(&w.kubeconfig).unwrap();
    let cmd = full::ns_command(
        &w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "up"],
        &[("HELM_DOUBLE_HOLD_AT_WAIT", "ingress-nginx")],
    );
    let run = start(cmd);
    let marker = w.helm_state.join("holding-ingress-nginx");
    wait_for("helm waiting on the router's install", || marker.exists());
    assert_eq!(support::nodes(&w.cluster).len(), 1, "the cluster is made");
    let killed = run.kill_all();
    assert_eq!(
        std::fs::read(&w.kubeconfig).unwrap(),
        before,
        "nothing written yet:\n{}",
        killed.text()
    );

    let resumed = full::up(&w, &[]);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert!(
        !resumed.stdout.contains("create-cluster") && !resumed.stdout.contains("adopt"),
        "the cluster is ours, not created again nor adopted:\n{}",
        resumed.text()
    );
    assert!(
        resumed
            .stdout
            .contains("helm install ingress-nginx/ingress-nginx"),
        "{}",
        resumed.text()
    );
    assert!(
        resumed.stdout.contains("3 of 3 contexts verified"),
        "{}",
        resumed.text()
    );
    let text = std::fs::read_to_string(&w.kubeconfig).unwrap();
    let d = bootstrap::core::kubeconfig::doc::parse(&text).unwrap();
    assert_eq!(d["current-context"], "work", "{text}");
    for theirs in ["keep-me", "team-a", "colors"] {
        assert!(text.contains(theirs), "{theirs} lost:\n{text}");
    }
    let again = full::up(&w, &[]);
    assert_eq!(again.code, 0, "{}", again.text());
    assert!(
        again.stdout.contains("Nothing to change"),
        "{}",
        again.text()
    );
    let down = full::in_ns(
        &w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "down"],
        &[],
    );
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(
        support::nodes(&w.cluster).is_empty(),
        "ours, so down removes it"
    );
}

/// Whether a process runs (a zombie nobody reaped yet does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Kills a process at the end of a test, pass or fail (an orphan helm must not outlive it).
struct KillAtEnd(i32);

impl Drop for KillAtEnd {
    fn drop(&mut self) {
        if alive(self.0) {
            // SAFETY: kill(2) on a pid this test read from the helm double's own marker.
            unsafe {
                libc::kill(self.0, libc::SIGKILL);
            }
        }
    }
}

#[test]
fn killed_alone_bootstrap_takes_no_orphan_helm_with_it() {
    let Some(w) = world("killed_alone_bootstrap_takes_no_orphan_helm_with_it") else {
        return;
    };
    let f = env_file(&w, "4.14.1");
    let holding = helm_with(&w, "HELM_DOUBLE_HOLD_AT_WAIT", "vcluster-dev-helm");
    let run = start_up(&w, &holding, &f);
    let marker = w.state.join("holding-vcluster-dev-helm");
    wait_for("helm waiting on dev's install", || marker.exists());
    let helm: i32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _reap = KillAtEnd(helm);
    // `kill -9` of bootstrap alone (its helm is not in the signal's way): helm must not run on
    // as an orphan holding the release pending while the user runs `up` again, which would
    // then recover a release a live helm is still changing.
    run.signal(libc::SIGKILL);
    let (_, signal, r) = run.finish();
    assert_eq!(signal, Some(libc::SIGKILL), "{}", r.text());
    let t = Instant::now();
    while alive(helm) && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(helm), "helm {helm} outlived bootstrap");
    // Killed with it: what a killed helm leaves, which the next `up` recovers.
    assert_eq!(
        latest(&w, "dev-vcluster", "vcluster-dev-helm"),
        Some((1, "pending-install".into()))
    );
    let resumed = up(&w, &w.helm, &f);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert_user_entries_intact(&w);
    assert_second_up_changes_nothing(&w, &f);
}

#[test]
fn killed_while_recovering_a_pending_install_the_next_up_still_converges() {
    let Some(w) = world("killed_while_recovering_a_pending_install_the_next_up_still_converges")
    else {
        return;
    };
    let f = env_file(&w, "4.14.1");
    let killing = helm_with(&w, "HELM_DOUBLE_KILL_AT_WAIT", "vcluster-dev-helm");
    let first = up(&w, &killing, &f);
    assert_eq!(first.code, 1, "{}", first.text());
    assert_eq!(
        latest(&w, "dev-vcluster", "vcluster-dev-helm"),
        Some((1, "pending-install".into()))
    );
    // The recovery's own uninstall is killed while it waits for the objects to go: helm's
    // record says `uninstalling`, which `helm upgrade --install` cannot get past.
    let second = up(&w, &killing, &f);
    assert_eq!(second.code, 1, "{}", second.text());
    assert_eq!(
        latest(&w, "dev-vcluster", "vcluster-dev-helm"),
        Some((1, "uninstalling".into())),
        "{}",
        second.text()
    );
    let (code, said) = helm_upgrade(
        &w,
        "vcluster-dev-helm",
        "dev-vcluster",
        "vcluster",
        "0.26.0",
    );
    assert_ne!(code, 0, "the engine refuses it too: {said}");
    let resumed = up(&w, &w.helm, &f);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert_eq!(
        latest(&w, "dev-vcluster", "vcluster-dev-helm"),
        Some((1, "deployed".into()))
    );
    assert_user_entries_intact(&w);
    assert_second_up_changes_nothing(&w, &f);
}

#[test]
fn killed_while_rolling_back_a_pending_upgrade_the_next_up_still_converges() {
    let Some(w) = world("killed_while_rolling_back_a_pending_upgrade_the_next_up_still_converges")
    else {
        return;
    };
    let first = up(&w, &w.helm, &env_file(&w, "4.14.1"));
    assert_eq!(first.code, 0, "{}", first.text());
    let f = env_file(&w, "4.15.1");
    let killing = helm_with(&w, "HELM_DOUBLE_KILL_AT_WAIT", "ingress-nginx");
    let killed = up(&w, &killing, &f);
    assert_eq!(killed.code, 1, "{}", killed.text());
    assert_eq!(
        latest(&w, "ingress-nginx", "ingress-nginx"),
        Some((2, "pending-upgrade".into()))
    );
    // The recovery's rollback is killed too: helm's record says pending-rollback.
    let again = up(&w, &killing, &f);
    assert_eq!(again.code, 1, "{}", again.text());
    assert_eq!(
        latest(&w, "ingress-nginx", "ingress-nginx"),
        Some((3, "pending-rollback".into())),
        "{}",
        again.text()
    );
    let resumed = up(&w, &w.helm, &f);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    let (rev, status) = latest(&w, "ingress-nginx", "ingress-nginx").unwrap();
    assert_eq!(status, "deployed");
    let record = w
        .api
        .object(&format!(
            "/api/v1/namespaces/ingress-nginx/secrets/sh.helm.release.v1.ingress-nginx.v{rev}"
        ))
        .unwrap();
    assert_eq!(
        record["metadata"]["labels"]["bootstrap/env"], "t",
        "still ours"
    );
    assert_user_entries_intact(&w);
    assert_second_up_changes_nothing(&w, &f);
}

/// On the kind double (Docker): killed while kind creates the cluster, its node already made
/// but bootstrap's record not yet written into it.
#[test]
fn killed_while_kind_creates_the_cluster_the_next_up_takes_it_as_ours() {
    use support::full;
    let test = "killed_while_kind_creates_the_cluster_the_next_up_takes_it_as_ours";
    if !support::docker_or_skip(test) || !full::unshare_works() || !charts_or_skip(test) {
        return;
    }
    let w = full::world();
    let _clean = support::Cleanup(vec![w.cluster.clone()]);
    let marker = w.dir.path().join("kind-holding");
    let cmd = full::ns_command(
        &w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "up"],
        &[("KIND_DOUBLE_HOLD_AFTER_NODE", marker.to_str().unwrap())],
    );
    let run = start(cmd);
    wait_for("kind at work on the node", || marker.exists());
    assert_eq!(support::nodes(&w.cluster).len(), 1, "the node is made");
    run.kill_all();

    let resumed = full::up(&w, &[]);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert!(
        !resumed.stdout.contains("adopt"),
        "bootstrap made this cluster: it is ours, not the user's:\n{}",
        resumed.text()
    );
    let again = full::up(&w, &[]);
    assert!(
        again.stdout.contains("Nothing to change"),
        "{}",
        again.text()
    );
    let down = full::in_ns(
        &w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "down"],
        &[],
    );
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(
        support::nodes(&w.cluster).is_empty(),
        "ours, so down removes it"
    );
}
