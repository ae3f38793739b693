//! The `router` section: which router, its chart and values, the passthrough domain.

use super::*;

const ROUTER: &[&str] = &[
    "kind",
    "passthrough",
    "domain",
    "httpsPort",
    "namespace",
    "release",
    "chart",
    "values",
    "service",
    "domainFromAddress",
];

impl Decoder<'_> {
    pub(super) fn router(&mut self, n: Option<&Node>, provider: Provider) -> Router {
        let f = self.fields(n, "router", ROUTER);
        let kind = self
            .choice(
                f.get("kind"),
                "router.kind",
                &crate::core::router::kind_names(),
            )
            .and_then(crate::core::router::kind_named)
            .unwrap_or_else(crate::core::router::default_kind);
        // Each router kind installs its own chart, into its own namespace and release by default.
        let d = crate::core::router::router_of(kind).defaults();
        let (default_name, repo, chart, version) = (d.name, d.repo, d.chart, d.version);
        let service = self
            .pick(f.get("service"), "router.service")
            .unwrap_or(RouterService::LoadBalancer);
        let domain_from_address = self
            .choice(
                f.get("domainFromAddress"),
                "router.domainFromAddress",
                &ADDRESS_DOMAINS,
            )
            .map(str::to_owned);
        // A load balancer listens on the usual 443; kind publishes the node's 443 on 8443.
        let default_https_port =
            if provider == Provider::Existing && service == RouterService::LoadBalancer {
                443
            } else {
                8443
            };
        Router {
            kind,
            passthrough: self
                .boolean(f.get("passthrough"), "router.passthrough")
                .unwrap_or(true),
            domain: self
                .string(f.get("domain"), "router.domain")
                .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                .or_else(|| domain_from_address.as_deref().map(pending_address_domain))
                .unwrap_or_else(|| DEFAULT_DOMAIN.into()),
            https_port: self
                .port(f.get("httpsPort"), "router.httpsPort")
                .unwrap_or(default_https_port),
            service,
            domain_from_address,
            namespace: self
                .string(f.get("namespace"), "router.namespace")
                .unwrap_or_else(|| default_name.into()),
            release: self
                .string(f.get("release"), "router.release")
                .unwrap_or_else(|| default_name.into()),
            chart: self.chart(f.get("chart"), "router.chart", repo, chart, version),
            values: self.values(f.get("values"), "router.values"),
        }
    }
}
