//! The vcluster dial step (shown as "routes"): what each vcluster context dials from where the
//! user stands. The access table gives candidate dials, ordered by our zone; with more than one, all are probed in parallel (TLS
//! with the cluster's CA, an authenticated /version, one authorised call) and the first in order
//! that passes is kept. The kubeconfig step writes what this step chose.

use crate::core::access::Endpoint;
#[cfg(test)]
use crate::core::access::Origin;
#[cfg(test)]
use crate::core::config::AccessMode;
use crate::core::config::Env;
use crate::core::kubeconfig::{doc, Entry};
use crate::core::verify::diagnose::Via;
use crate::drivers::probe::probe_all;
use crate::drivers::probe::HostFacts;
use anyhow::{bail, Result};
use std::time::Duration;

pub use super::context::Chosen;
use crate::core::kubeconfig::doc::Credentials;

/// One context to place: its name, what it points at, how verify should read failures.
pub struct Want<'a> {
    pub context: String,
    pub endpoint: Endpoint<'a>,
    pub creds: Credentials,
    pub via: Via,
}

pub use crate::core::access::ordered;

pub fn entry(
    env: &Env,
    context: &str,
    route: &crate::core::access::Dial,
    creds: &Credentials,
) -> Entry {
    let insecure = env.access.insecure_skip_tls_verify;
    Entry {
        context: context.to_owned(),
        cluster: context.to_owned(),
        user: context.to_owned(),
        // The route's server; no CA when insecure (kubectl refuses both).
        creds: Credentials {
            server: route.server.clone(),
            ca_pem: if insecure {
                Vec::new()
            } else {
                creds.ca_pem.clone()
            },
            ..creds.clone()
        },
        tls_server_name: route.tls_server_name.clone(),
        insecure_skip_tls_verify: insecure,
        namespace: None,
    }
}

/// The entry to write for each wanted context. `zone` is where the run found we stand (its
/// `access` is what `auto` resolves to); None detects it when candidates must be probed.
pub async fn choose(
    env: &Env,
    wants: &[Want<'_>],
    zone: Option<&crate::core::zone::ZoneVerdict>,
    timeout: Duration,
) -> Result<Vec<Chosen>> {
    let here = zone.and_then(|z| z.access);
    let mode = env.access.mode;
    let per_context: Vec<Vec<Entry>> = wants
        .iter()
        .map(|w| {
            ordered(env, w.endpoint, mode, here)
                .iter()
                .map(|r| entry(env, &w.context, r, &w.creds))
                .collect()
        })
        .collect();
    // One candidate, or a pinned mode: nothing to choose between; verify will judge it.
    if per_context.iter().all(|c| c.len() <= 1) {
        return per_context
            .into_iter()
            .zip(wants)
            .map(|(mut c, w)| {
                c.pop()
                    .map(|entry| Chosen { entry, proof: None })
                    .ok_or_else(|| anyhow::anyhow!("no route to `{}` from here", w.context))
            })
            .collect();
    }
    // Probe every candidate through a throwaway kubeconfig holding one context per candidate.
    let mut scratch = doc::parse("apiVersion: v1\nkind: Config\n")?;
    let mut names = Vec::new();
    for (i, cands) in per_context.iter().enumerate() {
        for (j, e) in cands.iter().enumerate() {
            let mut e = e.clone();
            let name = format!("{}--route-{j}", wants[i].context);
            e.context = name.clone();
            e.cluster = name.clone();
            e.user = name.clone();
            doc::upsert(&mut scratch, &[e], "route-probe")?;
            names.push((i, j, name));
        }
    }
    let targets = names
        .iter()
        .map(|(i, _, n)| crate::drivers::probe::resolve(&scratch, n, wants[*i].via.clone()))
        .collect();
    let facts = match zone {
        Some(z) => HostFacts::of(z),
        None => HostFacts::detect().await,
    };
    let reports = probe_all(targets, timeout, Some(facts)).await;
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for (i, cands) in per_context.iter().enumerate() {
        let passed = names
            .iter()
            .zip(&reports)
            .filter(|((ci, _, _), r)| *ci == i && r.ok)
            .map(|((_, j, _), _)| *j)
            .min();
        match passed {
            Some(j) => out.push(Chosen {
                entry: cands[j].clone(),
                proof: names
                    .iter()
                    .zip(&reports)
                    .find(|((ci, cj, _), _)| *ci == i && *cj == j)
                    .map(|(_, r)| r.clone()),
            }),
            None => {
                let tried: Vec<String> = names
                    .iter()
                    .zip(&reports)
                    .filter(|((ci, _, _), _)| *ci == i)
                    .map(|((_, j, _), r)| {
                        format!(
                            "{}{}: {}",
                            cands[*j].creds.server,
                            cands[*j]
                                .tls_server_name
                                .as_ref()
                                .map(|t| format!(" (tls-server-name {t})"))
                                .unwrap_or_default(),
                            r.diagnosis.clone().unwrap_or_else(|| "failed".into())
                        )
                    })
                    .collect();
                failures.push(format!(
                    "context `{}`: no route verified:\n    {}",
                    wants[i].context,
                    tried.join("\n    ")
                ));
            }
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n  "));
    }
    Ok(out)
}

#[derive(Default)]
pub struct VclusterDial {
    out: Vec<super::Output>,
}

#[async_trait::async_trait(?Send)]
impl super::Step for VclusterDial {
    fn id(&self) -> super::StepId {
        super::StepId::VclusterDial
    }

    fn outputs(&mut self) -> Vec<super::Output> {
        std::mem::take(&mut self.out)
    }

    fn name(&self) -> String {
        "vcluster routes".into()
    }

    async fn observe(&mut self, cx: &super::Cx<'_>) -> Result<super::Looked> {
        use super::Looked;
        if cx.mode == super::Mode::Down || cx.api().is_none() {
            return Ok(Looked::Not("the cluster is not running yet".into()));
        }
        let env = cx.env;
        let mut wants = Vec::new();
        for v in &env.vclusters {
            let Some(creds) = cx.vcluster_creds(&v.name) else {
                return Ok(Looked::Not(format!(
                    "vcluster {} is not running yet",
                    v.name
                )));
            };
            wants.push(Want {
                context: v.context.clone(),
                endpoint: Endpoint::Vcluster(v),
                creds,
                via: crate::core::verify::environment::via_for(Some(env), &v.context),
            });
        }
        let step = cx.progress.begin("vcluster routes");
        let zone = cx.zone();
        // A vcluster just installed may publish its secret before its API answers through the
        // route: when this run changed something, keep trying, bounded, and report the last failure.
        let deadline = std::time::Instant::now() + cx.opts.secret_timeout;
        let chosen = loop {
            match choose(env, &wants, zone.as_ref(), cx.opts.timeout).await {
                Ok(c) => break c,
                Err(e)
                    if std::time::Instant::now() < deadline
                        && cx.changed_so_far() > 0
                        && cx.mode == super::Mode::Up =>
                {
                    step.note(&format!(
                        "waiting for the vcluster APIs: {}",
                        e.to_string().lines().next().unwrap_or("")
                    ));
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => {
                    step.fail("no route verified");
                    return Err(e);
                }
            }
        };
        step.finish(&format!("{} context(s)", chosen.len()));
        self.out
            .push(super::Output::VclusterEntries(cx.proved(chosen)));
        Ok(Looked::Yes)
    }

    fn diff(&self, _cx: &super::Cx<'_>) -> super::Diff {
        super::Diff::default()
    }

    async fn apply(&mut self, _cx: &super::Cx<'_>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn remove(&mut self, _cx: &super::Cx<'_>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;

    #[test]
    fn auto_tries_the_detected_zone_first() {
        let env = load_str("cluster: {name: x}\n", "t", &[]).env.unwrap();
        let host_first = ordered(
            &env,
            Endpoint::KindApi,
            AccessMode::Auto,
            Some(AccessMode::Host),
        );
        assert_eq!(host_first[0].zone, Origin::Host);
        let dc = ordered(
            &env,
            Endpoint::KindApi,
            AccessMode::Auto,
            Some(AccessMode::Devcontainer),
        );
        assert_eq!(
            dc.iter().map(|r| r.zone).collect::<Vec<_>>(),
            vec![Origin::Devcontainer, Origin::KindNetwork, Origin::Host]
        );
        let pinned = ordered(
            &env,
            Endpoint::KindApi,
            AccessMode::Host,
            Some(AccessMode::Devcontainer),
        );
        assert_eq!(pinned.len(), 1);
    }

    #[test]
    fn insecure_only_when_asked_and_then_without_ca() {
        let env = load_str("access: {insecureSkipTLSVerify: true}\n", "t", &[])
            .env
            .unwrap();
        let r = crate::core::access::dial_for(&env, Endpoint::KindApi, Origin::Host).unwrap();
        let e = entry(
            &env,
            "c",
            &r,
            &Credentials {
                ca_pem: b"CA".to_vec(),
                ..Default::default()
            },
        );
        assert!(e.insecure_skip_tls_verify && e.creds.ca_pem.is_empty());
        let env = load_str("{}\n", "t", &[]).env.unwrap();
        let e = entry(
            &env,
            "c",
            &r,
            &Credentials {
                ca_pem: b"CA".to_vec(),
                ..Default::default()
            },
        );
        assert!(!e.insecure_skip_tls_verify && e.creds.ca_pem == b"CA");
    }
}
