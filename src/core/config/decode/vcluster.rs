//! Each item of `vclusters`: its chart, hostname, context and how it is reached.

use super::*;

const VCLUSTER: &[&str] = &[
    "name",
    "namespace",
    "release",
    "chart",
    "hostname",
    "context",
    "access",
    "values",
];
/// Keys that were valid once, each with why it went and what to write instead; reported by the
/// section that owned them rather than as unknown keys.
const VCLUSTER_REMOVED: &[&str] = &["localPort"];
/// Why `access: port-forward` (and its `localPort`) went, said wherever a file still uses it.
const PORT_FORWARD_GONE: &str = "nothing supervises a port-forward: it dies with the terminal that started it and with the laptop's sleep";

impl Decoder<'_> {
    pub(super) fn vcluster(
        &mut self,
        i: usize,
        item: &Node,
        domain: &str,
        https_port: u16,
    ) -> Option<Vcluster> {
        let p = format!("vclusters[{i}]");
        let f = self.fields_except(Some(item), &p, VCLUSTER, VCLUSTER_REMOVED);
        if !matches!(item.value, Value::Map(_)) {
            return None;
        }
        let name = self.string(f.get("name"), &format!("{p}.name"));
        if name.is_none() && f.get("name").is_none() {
            self.d.error(
                &at(item),
                &format!("{p}.name"),
                "`name` is required",
                Some("every vcluster needs a name, such as `dev`".into()),
            );
        }
        let Some(name) = name else {
            // Left out of the environment: what depends on the whole list must know.
            self.origins.rejected.insert(p);
            return None;
        };
        let context = self
            .string(f.get("context"), &format!("{p}.context"))
            .unwrap_or_else(|| format!("{name}-vcluster"));
        let access_node = f.get("access");
        let port_forward = access_node.filter(|n| n.value == Value::Str("port-forward".into()));
        if port_forward.is_none() {
            self.pick::<VclusterAccess>(access_node, &format!("{p}.access"));
        }
        let access = VclusterAccess::Ingress;
        let local_port = f.get("localPort");
        let hostname = self
            .string(f.get("hostname"), &format!("{p}.hostname"))
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
            .unwrap_or_else(|| format!("{context}.{domain}"));
        if f.get("hostname").is_none() {
            self.derived_from(
                &format!("{p}.hostname"),
                &[&format!("{p}.context"), "router.domain"],
            );
        }
        let instead = format!(
            "the vcluster is reached through the passthrough router at https://{hostname}:{https_port} from the host, a devcontainer, WSL2 and kind's network, with its certificate verified"
        );
        if let Some(n) = port_forward {
            self.d.error(
                &at(n),
                &format!("{p}.access"),
                format!("`access: port-forward` is no longer supported: {PORT_FORWARD_GONE}"),
                Some(format!(
                    "delete this line (the default is `ingress`): {instead}"
                )),
            );
        }
        if let Some(n) = local_port {
            self.d.error(
                &at(n),
                &format!("{p}.localPort"),
                format!("`localPort` is no longer supported: it belonged to `access: port-forward`, and {PORT_FORWARD_GONE}"),
                Some(format!("delete this line: {instead}")),
            );
        }
        Some(Vcluster {
            namespace: self
                .string(f.get("namespace"), &format!("{p}.namespace"))
                .unwrap_or_else(|| format!("{name}-vcluster")),
            release: self
                .string(f.get("release"), &format!("{p}.release"))
                .unwrap_or_else(|| format!("vcluster-{name}")),
            chart: self.chart(
                f.get("chart"),
                &format!("{p}.chart"),
                VCLUSTER_REPO,
                "vcluster",
                VCLUSTER_VERSION,
            ),
            hostname,
            context,
            access,
            values: self.values(f.get("values"), &format!("{p}.values")),
            name,
        })
    }
}
