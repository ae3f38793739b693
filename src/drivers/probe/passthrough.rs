//! The router check: each vcluster hostname, sent as SNI through the route its context uses,
//! must be answered with that vcluster's own certificate, not the router's default.

#[allow(unused_imports)]
use super::*;

/// What the passthrough check expects behind the router for one vcluster.
#[derive(Debug, Clone)]
pub struct PassthroughExpect {
    pub context: String,
    pub hostname: String,
    /// The vcluster's CA (from its context); None: only the hostname is checked.
    pub ca_pem: Option<Vec<u8>>,
    /// Where the router is dialed from here: the route the context uses (`environment::
    /// router_server` chooses it), never a fixed 127.0.0.1, which inside a container is the
    /// container itself.
    pub server: String,
    pub https_port: u16,
}

/// The router, dialed as each context dials it, must answer each hostname's SNI with that
/// vcluster's own certificate (chaining to its CA, holding the hostname), not its default
/// certificate. `facts: None` detects where we stand only if a diagnosis needs it.
pub async fn check_passthrough(
    expects: Vec<PassthroughExpect>,
    timeout: Duration,
    facts: Option<HostFacts>,
) -> Vec<EnvCheck> {
    let targets = expects
        .iter()
        .map(|e| {
            let url = crate::core::verify::target::parse_server(&e.server).map_err(|message| {
                crate::core::verify::target::TargetError {
                    context: e.context.clone(),
                    server: Some(e.server.clone()),
                    message,
                }
            })?;
            Ok(Target {
                context: e.context.clone(),
                cluster: e.context.clone(),
                server: e.server.clone(),
                https: true,
                host: url.host,
                port: url.port,
                tls_server_name: Some(e.hostname.clone()),
                ca_pem: e.ca_pem.clone(),
                via: Via::Passthrough {
                    hostname: e.hostname.clone(),
                    https_port: e.https_port,
                },
                ..Default::default()
            })
        })
        .collect();
    let reports = probe_many(targets, timeout, facts, Depth::TlsOnly).await;
    expects
        .iter()
        .zip(reports)
        .map(|(e, r)| {
            let dialed = e
                .server
                .split_once("://")
                .map(|(_, rest)| rest)
                .unwrap_or(&e.server);
            let name = format!("router passthrough {} ({dialed})", e.hostname);
            if r.ok {
                EnvCheck {
                    name,
                    status: CheckStatus::Pass,
                    detail: format!(
                        "answers with the vcluster's certificate: {}",
                        r.layers
                            .last()
                            .map(|l| l.detail.as_str())
                            .unwrap_or_default()
                    ),
                    hint: None,
                }
            } else {
                EnvCheck {
                    name,
                    status: CheckStatus::Fail,
                    detail: r.diagnosis.unwrap_or_default(),
                    hint: r.hint,
                }
            }
        })
        .collect()
}
