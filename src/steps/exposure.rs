//! The router's load balancer address on `provider: existing` with `router.domainFromAddress`:
//! read from the router release's LoadBalancer Service through the user's context (the cluster
//! and host-route steps' own observe), waited for after the router is installed, and turned into
//! the environment whose hostnames live under `<address>.sslip.io` (`core::exposure`).

use super::{Cx, Mode, Options};
use crate::core::config::Env;
use crate::core::exposure::{self, Address};
use crate::progress::Progress;
use anyhow::{anyhow, Result};
use std::time::{Duration, Instant};

/// What the router's load balancer has published; with `wait`, polled until it has an address
/// or the wait ends.
pub async fn router_address(
    env: &Env,
    opts: &Options,
    progress: &Progress,
    wait: Option<Duration>,
) -> Result<Address> {
    let cx = Cx::new(env, Mode::Plan, opts, progress)?;
    super::look(&mut super::cluster::Existing::default(), &cx).await?;
    super::look(&mut super::host_dial::HostDial::default(), &cx).await?;
    let api = cx
        .api()
        .ok_or_else(|| anyhow!("the cluster's API was not reached"))?;
    let services: kube::Api<k8s_openapi::api::core::v1::Service> =
        kube::Api::namespaced(api.client.clone(), &env.router.namespace);
    let deadline = Instant::now() + wait.unwrap_or_default();
    let step = wait.map(|_| progress.begin("load balancer"));
    loop {
        let listed = services.list(&Default::default()).await.map_err(|e| {
            anyhow!(
                "listing the Services of namespace {}: {e}",
                env.router.namespace
            )
        })?;
        let values: Vec<serde_json::Value> = listed
            .items
            .iter()
            .filter_map(|s| serde_json::to_value(s).ok())
            .collect();
        let address = exposure::router_address(&values, &env.router.release);
        if address != Address::Pending || Instant::now() >= deadline {
            if let Some(step) = step {
                match &address {
                    Address::Ip(ip) => step.finish(&format!("address {ip}")),
                    _ => step.fail("no address"),
                }
            }
            return Ok(address);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The environment under the address's domain, or why there is none.
pub fn resolve(env: &Env, address: &Address, base: &str) -> Result<Env> {
    match address {
        Address::Ip(ip) => {
            let domain = exposure::address_domain(*ip, base);
            eprintln!("router: load balancer address {ip}: hostnames under {domain}");
            Ok(exposure::with_domain(env, &domain))
        }
        other => Err(anyhow!(
            "router: {}",
            exposure::explain(other, &env.router.namespace, base).unwrap_or_default()
        )),
    }
}
