//! `bootstrap init`: a starter envs.yaml for the choices given as flags, commented so it
//! explains itself, written only where no file is (created exclusively: nothing of the user's is
//! ever replaced).

use super::{Failure, Outcome};
use crate::cli::{Global, InitArgs};
use crate::core::config::validate::{kind_cluster_name_problem, vcluster_name_problem, FromName};
use std::io::Write;

/// What the starter file is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    pub cluster_name: String,
    /// `ingress-nginx` or `gateway-api`.
    pub router: String,
    pub vclusters: Vec<String>,
    pub registry: bool,
}

impl Choices {
    pub fn from_args(a: &InitArgs) -> Choices {
        Choices {
            cluster_name: a.cluster_name.clone(),
            router: a.router.clone(),
            vclusters: if a.no_vclusters {
                Vec::new()
            } else if a.vclusters.is_empty() {
                vec!["dev".into()]
            } else {
                a.vclusters.clone()
            },
            registry: a.registry,
        }
    }

    /// Names the file would carry that validation would refuse, said before anything is written:
    /// by the very rules `plan` applies to them (every default is made from the name in the
    /// file init writes), with the same message and hint.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut found = vec![(
            "--cluster-name",
            kind_cluster_name_problem(&self.cluster_name),
        )];
        found.extend(
            self.vclusters
                .iter()
                .map(|v| ("--vcluster", vcluster_name_problem(v, FromName::ALL))),
        );
        for (flag, problem) in found {
            if let Some((message, hint)) = problem {
                out.push(format!("{flag}: {message}\n    hint: {hint}"));
            }
        }
        for (i, v) in self.vclusters.iter().enumerate() {
            if self.vclusters[..i].contains(v) {
                out.push(format!("--vcluster `{v}` is given twice"));
            }
        }
        out
    }
}

/// A name as a YAML value that reads back as that string: a name YAML would take for a number
/// or a boolean (`123`, `true`, `1e3`, `0x1f`) is quoted, or `plan` would find no string there.
fn scalar(name: &str) -> String {
    let plain = crate::core::config::node::parse(&format!("k: {name}\n"))
        .ok()
        .and_then(|root| match root.value {
            crate::core::config::node::Value::Map(entries) => entries.into_iter().next(),
            _ => None,
        })
        .is_some_and(|(_, v)| v.value == crate::core::config::node::Value::Str(name.to_owned()));
    if plain {
        name.to_owned()
    } else {
        serde_json::to_string(name).unwrap_or_else(|_| format!("{name:?}"))
    }
}

/// Pure: the file's text.
pub fn starter(c: &Choices) -> String {
    let mut s = String::new();
    let vcs = if c.vclusters.is_empty() {
        "no vclusters".to_owned()
    } else {
        format!("vclusters {}", c.vclusters.join(", "))
    };
    s.push_str(&format!(
        "# Written by `bootstrap init`: router {}, {vcs}, registry {}.\n\
         # `bootstrap plan` shows what `bootstrap up` would do; `bootstrap down` removes it again.\n\
         # Every field, its default and what is valid: docs/reference.md.\n\
         apiVersion: bootstrap/v1alpha1\n\n",
        c.router,
        if c.registry { "on" } else { "off" }
    ));
    s.push_str(&format!(
        "# A kind cluster; kind names its kube context `kind-{name}`.\n\
         cluster:\n  provider: kind\n  name: {value}\n\
         \x20 apiServer:\n    address: 127.0.0.1   # where the API is published on this machine\n    port: 6443\n\n",
        name = c.cluster_name,
        value = scalar(&c.cluster_name)
    ));
    let router_note = crate::core::router::kind_named(&c.router)
        .map(|k| crate::core::router::router_of(k).about())
        .unwrap_or_default();
    s.push_str(router_note);
    s.push_str(&format!(
        "router:\n  kind: {}   # {}\n  passthrough: true\n\
         \x20 domain: localtest.me   # every name under localtest.me resolves to 127.0.0.1\n\
         \x20 httpsPort: 8443        # https://<vcluster>-vcluster.localtest.me:8443\n\n",
        c.router,
        crate::core::router::kind_names().join(" or ")
    ));
    if c.vclusters.is_empty() {
        s.push_str(
            "# vclusters: none yet. Add one as `- name: dev`: it is reached as\n\
             # https://dev-vcluster.localtest.me:8443 with kube context dev-vcluster.\n\
             vclusters: []\n\n",
        );
    } else {
        s.push_str(
            "# Each vcluster is reached as https://<name>-vcluster.localtest.me:8443 with kube context\n\
             # <name>-vcluster; `values:` under one passes chart values through.\n\
             vclusters:\n",
        );
        for v in &c.vclusters {
            s.push_str(&format!("  - name: {}\n", scalar(v)));
        }
        s.push('\n');
    }
    if c.registry {
        s.push_str(
            "# A local image registry beside the cluster: `docker push localhost:5001/app:dev`, then\n\
             # `image: localhost:5001/app:dev` in a pod. Tilt, Skaffold and ctlptl find it through the\n\
             # local-registry-hosting ConfigMap in kube-public.\n\
             registry:\n  enabled: true\n  port: 5001\n\n",
        );
    } else {
        s.push_str(
            "# A local image registry on localhost:5001 (`bootstrap init --registry` writes it):\n\
             # registry:\n#   enabled: true\n#   port: 5001\n\n",
        );
    }
    s.push_str(
        "# Pull-through image caches for docker.io, ghcr.io, registry.k8s.io and quay.io, shared by\n\
         # every environment here and kept across clusters: a recreated cluster pulls its images\n\
         # from them, not the internet. Credentials come from your Docker config (`docker login`).\n\
         # `bootstrap cache status` shows them, `bootstrap cache prune` removes them.\n\
         cache: {}\n\n",
    );
    s.push_str(
        "# Where you stand decides the routes written to the kubeconfig: auto probes them.\n\
         access:\n  mode: auto   # auto, host, devcontainer, wsl2 or kind-network\n",
    );
    s
}

pub fn run(g: &Global, args: &InitArgs) -> Outcome {
    let choices = Choices::from_args(args);
    let problems = choices.problems();
    if !problems.is_empty() {
        return Err(Failure::Invalid(format!(
            "nothing was written:\n  - {}",
            problems.join("\n  - ")
        )));
    }
    let path = &g.file;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Failed(format!("{}: {e}", dir.display())))?;
    }
    // Created exclusively: an existing file (even one made a moment ago) is never replaced.
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Failure::Invalid(format!(
                "{} already exists; nothing was written\n  hint: choose another file with -f, or move that one away first",
                path.display()
            )))
        }
        Err(e) => return Err(Failure::Failed(format!("{}: {e}", path.display()))),
    };
    f.write_all(starter(&choices).as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| Failure::Failed(format!("{}: {e}", path.display())))?;
    match g.output {
        crate::cli::Output::Json => println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "file": path.display().to_string(),
                "next": [
                    format!("bootstrap plan -f {}", path.display()),
                    format!("bootstrap up -f {}", path.display()),
                ],
            })
        ),
        crate::cli::Output::Table => println!(
            "wrote {}\nnext: bootstrap plan -f {p}, then bootstrap up -f {p}",
            path.display(),
            p = path.display()
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;

    fn choices(router: &str, vcs: &[&str], registry: bool) -> Choices {
        Choices {
            cluster_name: "localdev".into(),
            router: router.into(),
            vclusters: vcs.iter().map(|s| s.to_string()).collect(),
            registry,
        }
    }

    #[test]
    fn the_file_means_what_was_chosen() {
        let text = starter(&choices("gateway-api", &["dev", "staging"], true));
        let l = load_str(&text, "envs.yaml", &[]);
        assert_eq!(l.diags.items.len(), 0, "{:?}", l.diags.items);
        // ingress-nginx's file: only the warning that its chart is older than kind's node.
        let nginx = load_str(
            &starter(&choices("ingress-nginx", &["dev"], false)),
            "envs.yaml",
            &[],
        );
        assert!(!nginx.diags.has_errors(), "{:?}", nginx.diags.items);
        assert_eq!(nginx.diags.items.len(), 1, "{:?}", nginx.diags.items);
        let env = l.env.unwrap();
        assert_eq!(env.cluster.name, "localdev");
        let names: Vec<&str> = env.vclusters.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["dev", "staging"]);
        assert!(env.registry.enabled);
        assert_eq!(env.registry.port, 5001);
        assert!(
            env.cache.enabled,
            "init's file turns the pull-through caches on"
        );
        assert_eq!(env.cache.upstreams.len(), 4);
        assert_eq!(env.vclusters[0].hostname, "dev-vcluster.localtest.me");

        let off = load_str(&starter(&choices("ingress-nginx", &[], false)), "e", &[]);
        let env = off.env.unwrap();
        assert!(env.vclusters.is_empty());
        assert!(!env.registry.enabled);
    }

    #[test]
    fn bad_names_are_refused_before_writing() {
        let mut c = choices("ingress-nginx", &["Dev", "x", "x"], false);
        c.cluster_name = "my_cluster".into();
        let p = c.problems();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("--cluster-name: `my_cluster` is not a valid kind cluster name"));
        assert!(p[1].starts_with("--vcluster: `Dev` is not a valid vcluster name"));
        assert_eq!(p[2], "--vcluster `x` is given twice");
    }

    /// Issue 18: a 45-character name passed init (its limit was 50) and `plan` then refused the
    /// release `vcluster-<name>`, over Helm's 53. Init and plan now share one rule: every name
    /// init accepts plans clean, every one it refuses plan refuses too, with the same words.
    #[test]
    fn init_accepts_exactly_the_names_plan_accepts() {
        let mut names: Vec<String> = (1..=70).map(|n| "a".repeat(n)).collect();
        names.extend(["true", "null", "123", "1e3", "0x1f", "dev", "Dev", "a_b"].map(String::from));
        for name in names {
            let c = choices("gateway-api", &[name.as_str()], false);
            let refused = !c.problems().is_empty();
            let l = load_str(&starter(&c), "envs.yaml", &[]);
            let plan_errors: Vec<_> = l
                .diags
                .items
                .iter()
                .filter(|d| d.severity == crate::core::config::Severity::Error)
                .collect();
            if refused {
                // Quoted by init, or refused by both with one message.
                let d = plan_errors
                    .first()
                    .unwrap_or_else(|| panic!("{name}: plan accepts"));
                let said = &c.problems()[0];
                assert!(said.contains(&d.message), "{name}: {said} / {}", d.message);
                assert!(said.contains(d.hint.as_deref().unwrap()), "{name}: {said}");
            } else {
                assert!(plan_errors.is_empty(), "{name}: {plan_errors:?}");
            }
        }
        // The hint says the real limit and why, agreeing with the message.
        let p = choices("gateway-api", &[&"a".repeat(45)], false).problems();
        assert!(
            p[0].contains("at most 44 characters; this one has 45"),
            "{p:?}"
        );
        assert!(p[0].contains("hint: use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 44 characters (the default Helm release `vcluster-"), "{p:?}");
        assert!(choices("gateway-api", &[&"a".repeat(44)], false)
            .problems()
            .is_empty());
    }

    #[test]
    fn names_yaml_would_read_as_numbers_or_booleans_are_quoted() {
        let mut c = choices("gateway-api", &["123", "true"], false);
        c.cluster_name = "1e3".into();
        assert!(c.problems().is_empty());
        let l = load_str(&starter(&c), "envs.yaml", &[]);
        let env = l.env.unwrap_or_else(|| panic!("{:?}", l.diags.items));
        assert_eq!(env.cluster.name, "1e3");
        assert_eq!(env.vclusters[0].name, "123");
        assert_eq!(env.vclusters[1].name, "true");
        assert!(starter(&choices("gateway-api", &["dev"], false)).contains("  - name: dev\n"));
    }
}
