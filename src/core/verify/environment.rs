//! What the environment file asks verify to check: which contexts and what is behind each, which
//! hostnames the passthrough router must pass through, and what Docker and the host cluster's
//! secrets must look like. Pure: the facts are gathered by `observe`.

use super::diagnose::Via;
use super::report::{CheckStatus, EnvCheck};
use crate::core::config::{Env, Provider, VclusterAccess};

/// The contexts the file declares, host cluster first, each with what is behind its server.
pub fn declared_contexts(env: &Env) -> Vec<(String, Via)> {
    let mut out = vec![(env.cluster.context.clone(), Via::Api)];
    for v in &env.vclusters {
        out.push((v.context.clone(), vcluster_via(env, v)));
    }
    out
}

fn vcluster_via(env: &Env, v: &crate::core::config::Vcluster) -> Via {
    match v.access {
        VclusterAccess::Ingress => Via::Passthrough {
            hostname: v.hostname.clone(),
            https_port: env.router.https_port,
        },
    }
}

/// What is behind any context name: what the file says, or `Unknown` for a context it does not declare.
pub fn via_for(env: Option<&Env>, context: &str) -> Via {
    env.and_then(|e| declared_contexts(e).into_iter().find(|(c, _)| c == context))
        .map(|(_, r)| r)
        .unwrap_or_default()
}

/// The router port and the (context, hostname) pairs it must pass through, when the file routes
/// any vcluster through passthrough.
pub fn passthrough_routes(env: &Env) -> Option<(u16, Vec<(String, String)>)> {
    if !env.router.passthrough {
        return None;
    }
    let routes: Vec<(String, String)> = env
        .vclusters
        .iter()
        .filter(|v| v.access == VclusterAccess::Ingress)
        .map(|v| (v.context.clone(), v.hostname.clone()))
        .collect();
    (!routes.is_empty()).then_some((env.router.https_port, routes))
}

/// How a context dials: its server and the name it sends as SNI.
#[derive(Debug, Clone, Copy)]
pub struct Dial<'a> {
    pub server: &'a str,
    pub sni: &'a str,
}

/// Where to dial the router for one vcluster's hostname: as its context dials it, when the context
/// goes through the router (it sends the hostname as SNI: the route `up` chose for where it ran,
/// or the user's own), else the access table's route for where we stand (`here`). Never a fixed
/// 127.0.0.1: inside a container that is the container itself.
pub fn router_server(
    env: &Env,
    context: &str,
    dial: Option<Dial>,
    here: crate::core::access::Origin,
) -> Option<String> {
    use crate::core::access::{dial_for, Endpoint};
    let v = env.vclusters.iter().find(|v| v.context == context)?;
    if let Some(d) = dial.filter(|d| d.sni.eq_ignore_ascii_case(&v.hostname)) {
        return Some(d.server.to_owned());
    }
    dial_for(env, Endpoint::Vcluster(v), here).map(|r| r.server)
}

/// What Docker showed about the kind cluster (gathered by `observe::docker_facts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerFacts {
    /// The engine (endpoint and API version), or why it could not be reached.
    pub daemon: Result<String, String>,
    /// The control-plane container, found by kind's labels.
    pub node: Option<NodeFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    pub name: String,
    /// Docker's state: running, exited, paused ...
    pub state: String,
    /// (container port, host address, host port) of each published TCP port.
    pub published: Vec<(u16, String, u16)>,
}

fn check(name: String, status: CheckStatus, detail: String, hint: Option<String>) -> EnvCheck {
    EnvCheck {
        name,
        status,
        detail,
        hint,
    }
}

/// Docker daemon, node container running, API port and router port published. Only for
/// `provider: kind`; an existing cluster is not ours to inspect.
pub fn docker_checks(env: &Env, facts: &DockerFacts) -> Vec<EnvCheck> {
    if env.cluster.provider != Provider::Kind {
        return Vec::new();
    }
    let node_name = format!("{}-control-plane", env.cluster.name);
    let api = &env.cluster.api_server;
    let names = [
        "Docker daemon".to_string(),
        format!("node container {node_name} running"),
        format!("API port {}:{} published", api.address, api.port),
        format!("router port {} published", env.router.https_port),
    ];
    let version = match &facts.daemon {
        Ok(v) => v,
        Err(e) => {
            let mut out = vec![check(
                names[0].clone(),
                CheckStatus::Fail,
                format!("Docker is not reachable: {e}"),
                Some("start Docker, or point DOCKER_HOST at the engine the cluster runs on".into()),
            )];
            out.extend(not_checked(&names[1..], "Docker is not reachable"));
            return out;
        }
    };
    let mut out = vec![check(
        names[0].clone(),
        CheckStatus::Pass,
        format!("engine {version}"),
        None,
    )];
    let Some(node) = &facts.node else {
        out.push(check(
            names[1].clone(),
            CheckStatus::Fail,
            format!(
                "no container labelled io.x-k8s.kind.cluster={}: the kind cluster does not exist",
                env.cluster.name
            ),
            Some("`bootstrap up` creates it".into()),
        ));
        out.extend(not_checked(&names[2..], "no node container"));
        return out;
    };
    if node.state != "running" {
        out.push(check(
            names[1].clone(),
            CheckStatus::Fail,
            format!("container {} is {}", node.name, node.state),
            Some(format!(
                "`docker start {}` (after a reboot or sleep), or `bootstrap up`",
                node.name
            )),
        ));
        out.extend(not_checked(
            &names[2..],
            "the node container is not running",
        ));
        return out;
    }
    out.push(check(
        names[1].clone(),
        CheckStatus::Pass,
        format!("{} is running", node.name),
        None,
    ));
    out.extend(port_checks(env, node, [&names[2], &names[3]]));
    out
}

/// The checks after a failed one, not run: they depend on it.
fn not_checked<'a>(names: &'a [String], why: &'a str) -> impl Iterator<Item = EnvCheck> + 'a {
    names
        .iter()
        .map(move |n| check(n.clone(), CheckStatus::NotChecked, why.into(), None))
}

/// The API server's and the router's ports, published by the running node.
fn port_checks(env: &Env, node: &NodeFacts, names: [&String; 2]) -> Vec<EnvCheck> {
    let api = &env.cluster.api_server;
    let mut out = Vec::new();
    let published = |container_port: u16, host_port: u16| {
        node.published
            .iter()
            .find(|(c, _, h)| *c == container_port && *h == host_port)
    };
    let shown = || {
        let all: Vec<String> = node
            .published
            .iter()
            .map(|(c, a, h)| format!("{a}:{h}->{c}"))
            .collect();
        if all.is_empty() {
            "nothing".to_string()
        } else {
            all.join(", ")
        }
    };
    for (name, container_port, host_port, what) in [
        (names[0], 6443, api.port, "the API server"),
        (
            names[1],
            443,
            env.router.https_port,
            "the router's https port",
        ),
    ] {
        out.push(match published(container_port, host_port) {
            Some((_, addr, _)) => check(name.clone(), CheckStatus::Pass, format!("{addr}:{host_port} -> {container_port}"), None),
            None => check(
                name.clone(),
                CheckStatus::Fail,
                format!("{} does not publish {what} ({container_port}/tcp) on host port {host_port}; it publishes {}", node.name, shown()),
                Some("port mappings are fixed when kind creates the cluster: `bootstrap up --recreate`".into()),
            ),
        });
    }
    out
}

/// The (namespace, name) of every secret `secret_checks` asks about.
pub fn wanted_secrets(env: &Env) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in &env.vclusters {
        out.push((v.namespace.clone(), v.secret_name()));
        if env.argocd.register {
            out.push((
                env.argocd.namespace.clone(),
                crate::core::argocd::secret_name(v),
            ));
        }
    }
    out
}

/// What reading a secret from the host cluster showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Present {
        labels: std::collections::BTreeMap<String, String>,
    },
    Missing,
    Error(String),
}

/// The secrets in the host cluster: vcluster's kubeconfig secret for each vcluster, and the
/// ArgoCD cluster secret when registration is on. `seen(namespace, name)` is what a read showed;
/// None when the host cluster could not be asked (its context failed).
pub fn secret_checks(env: &Env, seen: &dyn Fn(&str, &str) -> Option<Seen>) -> Vec<EnvCheck> {
    let mut out = Vec::new();
    for v in &env.vclusters {
        let name = v.secret_name();
        out.push(one_secret(
            format!("vcluster secret {}/{name}", v.namespace),
            seen(&v.namespace, &name),
            None,
            format!(
                "vcluster writes it once it has started: `kubectl --context {} -n {} get pods`",
                env.cluster.context, v.namespace
            ),
        ));
        if env.argocd.register {
            let secret = crate::core::argocd::secret_name(v);
            out.push(one_secret(
                format!("ArgoCD cluster secret {}/{secret}", env.argocd.namespace),
                seen(&env.argocd.namespace, &secret),
                Some(("argocd.argoproj.io/secret-type", "cluster")),
                "`bootstrap up` registers the vcluster with ArgoCD".to_string(),
            ));
        }
    }
    out
}

fn one_secret(
    name: String,
    seen: Option<Seen>,
    label: Option<(&str, &str)>,
    hint: String,
) -> EnvCheck {
    match seen {
        None => check(
            name,
            CheckStatus::NotChecked,
            "the host cluster's context did not verify".into(),
            None,
        ),
        Some(Seen::Error(e)) => check(
            name,
            CheckStatus::Fail,
            format!("could not read it: {e}"),
            None,
        ),
        Some(Seen::Missing) => check(name, CheckStatus::Fail, "missing".into(), Some(hint)),
        Some(Seen::Present { labels }) => match label {
            Some((k, v)) if labels.get(k).map(String::as_str) != Some(v) => check(
                name,
                CheckStatus::Fail,
                format!("present but not labelled {k}={v}, so ArgoCD ignores it"),
                Some(hint),
            ),
            _ => check(name, CheckStatus::Pass, "present".into(), None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(text: &str) -> Env {
        let loaded = crate::core::config::load_str(text, "envs.yaml", &[]);
        loaded
            .env
            .unwrap_or_else(|| panic!("invalid test env: {:?}", loaded.diags.items))
    }

    const FILE: &str = r#"
cluster: { name: localdev }
router: { domain: cnoe.localtest.me, httpsPort: 8443 }
vclusters:
  - name: dev
  - name: staging
argocd: { register: true }
"#;

    #[test]
    fn contexts_and_routes_come_from_the_file() {
        let e = env(FILE);
        let ctx = declared_contexts(&e);
        assert_eq!(ctx[0].1, Via::Api);
        assert_eq!(ctx.len(), 3);
        let dev = &ctx[1];
        assert!(
            matches!(&dev.1, Via::Passthrough { hostname, https_port: 8443 } if hostname.contains("dev")),
            "{dev:?}"
        );
        assert!(
            matches!(&ctx[2].1, Via::Passthrough { hostname, .. } if hostname.contains("staging")),
            "{:?}",
            ctx[2]
        );
        assert_eq!(via_for(Some(&e), &ctx[1].0), ctx[1].1);
        assert_eq!(via_for(Some(&e), "someone-elses"), Via::Unknown);
        assert_eq!(via_for(None, &ctx[1].0), Via::Unknown);
    }

    #[test]
    fn passthrough_covers_only_ingress_vclusters() {
        let e = env(FILE);
        let (port, routes) = passthrough_routes(&e).unwrap();
        assert_eq!(port, 8443);
        assert_eq!(routes.len(), 2);
    }

    #[test]
    fn the_router_is_dialed_as_the_context_dials_it() {
        use crate::core::access::Origin;
        let e = env(FILE);
        let dev = declared_contexts(&e)[1].0.clone();
        let host = e.vclusters[0].hostname.clone();
        // A context that sends the hostname as SNI goes through the router: dial as it does.
        for server in [
            "https://host.docker.internal:8443",
            "https://localdev-control-plane:443",
            "https://127.0.0.1:8443",
        ] {
            let dial = Dial { server, sni: &host };
            assert_eq!(
                router_server(&e, &dev, Some(dial), Origin::Host).as_deref(),
                Some(server)
            );
        }
        // No context, or one that does not go through the router: the table's route for here.
        assert_eq!(
            router_server(&e, &dev, None, Origin::Devcontainer).as_deref(),
            Some("https://host.docker.internal:8443")
        );
        let forward = Dial {
            server: "https://127.0.0.1:9443",
            sni: "localhost",
        };
        assert_eq!(
            router_server(&e, &dev, Some(forward), Origin::Host).as_deref(),
            Some(&*format!("https://{host}:8443"))
        );
        assert_eq!(
            router_server(&e, &dev, None, Origin::KindNetwork).as_deref(),
            Some("https://localdev-control-plane:443")
        );
        assert_eq!(router_server(&e, "someone-elses", None, Origin::Host), None);
    }

    fn node(state: &str, published: &[(u16, &str, u16)]) -> Option<NodeFacts> {
        Some(NodeFacts {
            name: "localdev-control-plane".into(),
            state: state.into(),
            published: published
                .iter()
                .map(|(c, a, h)| (*c, a.to_string(), *h))
                .collect(),
        })
    }

    fn statuses(checks: &[EnvCheck]) -> Vec<(&str, CheckStatus)> {
        checks.iter().map(|c| (c.name.as_str(), c.status)).collect()
    }

    #[test]
    fn docker_checks_from_facts() {
        use CheckStatus::*;
        let e = env("cluster: { name: localdev }\nrouter: { httpsPort: 8443 }\n");
        let healthy = DockerFacts {
            daemon: Ok("20.10.24".into()),
            node: node(
                "running",
                &[(6443, "127.0.0.1", 6443), (443, "0.0.0.0", 8443)],
            ),
        };
        let c = docker_checks(&e, &healthy);
        assert!(c.iter().all(|c| c.status == Pass), "{c:#?}");
        assert_eq!(c[2].name, "API port 127.0.0.1:6443 published");

        let down = DockerFacts {
            daemon: Err("connection refused".into()),
            node: None,
        };
        let c = docker_checks(&e, &down);
        assert_eq!(statuses(&c)[0], ("Docker daemon", Fail));
        assert!(c[0].hint.as_deref().unwrap().contains("DOCKER_HOST"));
        assert!(c[1..].iter().all(|c| c.status == NotChecked), "{c:#?}");

        let asleep = DockerFacts {
            daemon: Ok("x".into()),
            node: node("exited", &[]),
        };
        let c = docker_checks(&e, &asleep);
        assert_eq!(c[1].status, Fail);
        assert!(c[1]
            .hint
            .as_deref()
            .unwrap()
            .contains("docker start localdev-control-plane"));

        let gone = DockerFacts {
            daemon: Ok("x".into()),
            node: None,
        };
        assert!(docker_checks(&e, &gone)[1]
            .detail
            .contains("io.x-k8s.kind.cluster=localdev"));

        let no_router = DockerFacts {
            daemon: Ok("x".into()),
            node: node("running", &[(6443, "127.0.0.1", 6443)]),
        };
        let c = docker_checks(&e, &no_router);
        assert_eq!((c[2].status, c[3].status), (Pass, Fail));
        assert!(
            c[3].detail
                .contains("on host port 8443; it publishes 127.0.0.1:6443->6443"),
            "{}",
            c[3].detail
        );

        let existing = env("cluster: { provider: existing, context: prod }\n");
        assert!(docker_checks(&existing, &healthy).is_empty());
    }

    #[test]
    fn secret_checks_from_what_was_seen() {
        use CheckStatus::*;
        let e = env(FILE);
        let labelled = |ok: bool| Seen::Present {
            labels: [(
                "argocd.argoproj.io/secret-type".to_string(),
                if ok { "cluster" } else { "other" }.to_string(),
            )]
            .into(),
        };
        let c = secret_checks(&e, &|ns, name| {
            Some(match (ns, name) {
                ("dev-vcluster", "vc-vcluster-dev") => Seen::Present {
                    labels: Default::default(),
                },
                ("argocd", "cluster-dev-vcluster") => labelled(true),
                ("argocd", "cluster-staging-vcluster") => labelled(false),
                _ => Seen::Missing,
            })
        });
        assert_eq!(
            statuses(&c),
            [
                ("vcluster secret dev-vcluster/vc-vcluster-dev", Pass),
                ("ArgoCD cluster secret argocd/cluster-dev-vcluster", Pass),
                ("vcluster secret staging-vcluster/vc-vcluster-staging", Fail),
                (
                    "ArgoCD cluster secret argocd/cluster-staging-vcluster",
                    Fail
                ),
            ]
        );
        assert!(c[3]
            .detail
            .contains("not labelled argocd.argoproj.io/secret-type=cluster"));
        let unasked = secret_checks(&e, &|_, _| None);
        assert!(unasked.iter().all(|c| c.status == NotChecked));
    }
}
