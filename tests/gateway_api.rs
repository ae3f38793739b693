//! The Gateway API router held against upstream truth, from ../shared/contracts:
//! - every object `bootstrap render routes` prints for envs/gateway.yaml validates against the
//!   openAPIV3Schema of Gateway API v1.6.1's CRDs (the API server's check), holds no field the
//!   schema lacks (server-side apply's strict field validation), and passes the CEL rules of those
//!   CRDs that apply to what we render;
//! - Traefik's chart 41.3.0 renders with our values in the real Helm engine (helm-python-sdk) into
//!   what the Gateway needs: the websecure entry point on :8443 bound as hostPort 443 on the
//!   control-plane node, the Gateway provider on, no Ingress provider, no chart Gateway;
//! - the vcluster charts (0.26.0, 0.36.1) render the Service our TLSRoutes name, port 443;
//! - the node double's routing decision (testkit::gateway) sends each vcluster's hostname to its
//!   Service, and anything else to Traefik's default certificate, which verify names.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn contracts() -> Option<PathBuf> {
    let p = root().join("../shared/contracts");
    if p.is_dir() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have ../shared/contracts beside the checkout"
    );
    eprintln!("skipped: ../shared/contracts not found (a clone outside our CI)");
    None
}

fn bootstrap(file: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .current_dir(root())
        .env_remove("BOOTSTRAP_ACCESS")
        .env_remove("BOOTSTRAP_NODE_IMAGE")
        .args(["-f", file])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn rendered_objects() -> Vec<Value> {
    serde_json::from_str(&bootstrap(
        "envs/gateway.yaml",
        &["render", "routes", "-o", "json"],
    ))
    .unwrap()
}

/// (kind, version) → openAPIV3Schema, for every served version of v1.6.1's standard CRDs.
fn crd_schemas(dir: &Path) -> Vec<(String, String, Value)> {
    let text =
        std::fs::read_to_string(dir.join("crds/gateway-api-v1.6.1-standard-install.yaml")).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let mut out = Vec::new();
    for d in docs
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
    {
        for v in d["spec"]["versions"].as_array().unwrap() {
            if v["served"] == true {
                out.push((
                    d["spec"]["names"]["kind"].as_str().unwrap().to_owned(),
                    v["name"].as_str().unwrap().to_owned(),
                    v["schema"]["openAPIV3Schema"].clone(),
                ));
            }
        }
    }
    out
}

fn schema_for<'a>(schemas: &'a [(String, String, Value)], obj: &Value) -> &'a Value {
    let version = obj["apiVersion"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let kind = obj["kind"].as_str().unwrap();
    &schemas
        .iter()
        .find(|(k, v, _)| k == kind && v == version)
        .unwrap_or_else(|| panic!("v1.6.1 serves no {kind} {version}"))
        .2
}

/// What the API server's schema check reports (OpenAPI v3 as JSON Schema; the CEL rules are
/// checked separately below).
fn schema_errors(schema: &Value, obj: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).unwrap();
    validator
        .iter_errors(obj)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// Fields the schema does not declare: what server-side apply with strict field validation
/// refuses (structural schemas prune them otherwise, silently).
fn unknown_fields(schema: &Value, obj: &Value, path: &str, out: &mut Vec<String>) {
    if schema["x-kubernetes-preserve-unknown-fields"] == true {
        return;
    }
    match obj {
        Value::Object(m) => {
            let props = schema["properties"].as_object();
            for (k, v) in m {
                // ObjectMeta is validated by the API server itself, not the CRD schema.
                if path.is_empty() && k == "metadata" {
                    continue;
                }
                match props.and_then(|p| p.get(k)) {
                    Some(s) => unknown_fields(s, v, &format!("{path}.{k}"), out),
                    None if schema.get("additionalProperties").is_some() => {}
                    None => out.push(format!("{path}.{k}")),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                unknown_fields(&schema["items"], v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The CEL rules (x-kubernetes-validations) of v1.6.1's Gateway and TLSRoute that bear on what we
/// render, evaluated by hand. `cel_rules_we_check_are_in_the_crds` proves each is really there.
fn cel_violations(obj: &Value) -> Vec<&'static str> {
    let mut v = Vec::new();
    if obj["kind"] == "Gateway" {
        let ls = obj["spec"]["listeners"].as_array().unwrap();
        if ls
            .iter()
            .any(|l| l["protocol"] == "TLS" && l["tls"]["mode"].as_str().unwrap_or("").is_empty())
        {
            v.push("tls mode must be set for protocol TLS");
        }
        if ls.iter().any(|l| {
            ["HTTP", "TCP", "UDP"].contains(&l["protocol"].as_str().unwrap())
                && l.get("tls").is_some()
        }) {
            v.push("tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']");
        }
        let mut names: Vec<_> = ls.iter().map(|l| l["name"].clone()).collect();
        names.sort_by_key(|n| n.to_string());
        names.dedup();
        if names.len() != ls.len() {
            v.push("Listener name must be unique within the Gateway");
        }
        if ls.iter().any(|l| {
            l["tls"]["mode"] == "Terminate"
                && l["tls"]["certificateRefs"]
                    .as_array()
                    .is_none_or(Vec::is_empty)
                && l["tls"]["options"].as_object().is_none_or(|o| o.is_empty())
        }) {
            v.push("certificateRefs or options must be specified when mode is Terminate");
        }
    }
    if obj["kind"] == "TLSRoute" {
        let hosts = obj["spec"]["hostnames"].as_array().unwrap();
        if hosts
            .iter()
            .any(|h| h.as_str().unwrap().parse::<std::net::IpAddr>().is_ok())
        {
            v.push("Hostnames cannot contain an IP");
        }
        for r in obj["spec"]["rules"].as_array().unwrap() {
            for b in r["backendRefs"].as_array().unwrap() {
                let core = b["group"].as_str().unwrap_or("").is_empty();
                if core
                    && b["kind"].as_str().unwrap_or("Service") == "Service"
                    && b.get("port").is_none()
                {
                    v.push("Must have port for Service reference");
                }
            }
        }
    }
    v
}

fn cel_messages(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(m) => {
            for r in m
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.extend(r["message"].as_str().map(str::to_owned));
            }
            m.values().for_each(|v| cel_messages(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| cel_messages(v, out)),
        _ => {}
    }
}

#[test]
fn cel_rules_we_check_are_in_the_crds() {
    let Some(dir) = contracts() else { return };
    let mut messages = Vec::new();
    for (_, _, schema) in crd_schemas(&dir) {
        cel_messages(&schema, &mut messages);
    }
    for message in [
        "tls mode must be set for protocol TLS",
        "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']",
        "Listener name must be unique within the Gateway",
        "certificateRefs or options must be specified when mode is Terminate",
        "Hostnames cannot contain an IP",
        "Must have port for Service reference",
    ] {
        assert!(
            messages.iter().any(|m| m == message),
            "v1.6.1's CRDs have no rule {message:?}"
        );
    }
}

#[test]
fn rendered_gateway_api_objects_satisfy_the_v1_6_1_crds() {
    let Some(dir) = contracts() else { return };
    let schemas = crd_schemas(&dir);
    let objects = rendered_objects();
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["GatewayClass", "Gateway", "TLSRoute", "TLSRoute"]);
    for o in &objects {
        let schema = schema_for(&schemas, o);
        let errors = schema_errors(schema, o);
        assert!(errors.is_empty(), "{}: {errors:?}", o["kind"]);
        let mut unknown = Vec::new();
        unknown_fields(schema, o, "", &mut unknown);
        assert!(
            unknown.is_empty(),
            "{}: fields not in the CRD: {unknown:?}",
            o["kind"]
        );
        assert!(
            cel_violations(o).is_empty(),
            "{}: {:?}",
            o["kind"],
            cel_violations(o)
        );
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"], "bootstrap",
            "every object carries our mark"
        );
    }
}

#[test]
fn the_crd_checks_bite() {
    // Each check must fail on a plausible mistake, or passing proves nothing.
    let Some(dir) = contracts() else { return };
    let schemas = crd_schemas(&dir);
    let objects = rendered_objects();
    let (gateway, route) = (&objects[1], &objects[2]);
    let mutate = |base: &Value, f: &dyn Fn(&mut Value)| {
        let mut o = base.clone();
        f(&mut o);
        o
    };
    let schema_fails = [
        mutate(gateway, &|o| {
            o["spec"]["listeners"][0]["tls"]["mode"] = json!("passthrough")
        }),
        mutate(gateway, &|o| o["spec"]["listeners"][0]["port"] = json!(0)),
        mutate(gateway, &|o| {
            o["spec"]["listeners"][0]
                .as_object_mut()
                .unwrap()
                .remove("name");
        }),
        mutate(route, &|o| {
            o["spec"]["rules"] = json!([{"backendRefs": []}, {"backendRefs": []}])
        }),
        mutate(route, &|o| o["spec"]["hostnames"] = json!([])),
        mutate(route, &|o| {
            o["spec"]["rules"][0]["backendRefs"][0]["port"] = json!(70000)
        }),
    ];
    for bad in &schema_fails {
        assert!(
            !schema_errors(schema_for(&schemas, bad), bad).is_empty(),
            "the schema accepted {bad}"
        );
    }
    let misspelt = mutate(route, &|o| {
        o["spec"]["hostname"] = json!(["x.example.test"])
    });
    let mut unknown = Vec::new();
    unknown_fields(schema_for(&schemas, &misspelt), &misspelt, "", &mut unknown);
    assert_eq!(unknown, [".spec.hostname"]);
    let no_mode = mutate(gateway, &|o| {
        o["spec"]["listeners"][0]
            .as_object_mut()
            .unwrap()
            .remove("tls");
    });
    assert_eq!(
        cel_violations(&no_mode),
        ["tls mode must be set for protocol TLS"]
    );
    let no_port = mutate(route, &|o| {
        o["spec"]["rules"][0]["backendRefs"][0]
            .as_object_mut()
            .unwrap()
            .remove("port");
    });
    assert_eq!(
        cel_violations(&no_port),
        ["Must have port for Service reference"]
    );
    // TLSRoute v1alpha2 is not served by the standard channel: rendering it would be refused.
    assert!(crd_schemas(&dir)
        .iter()
        .all(|(k, v, _)| k != "TLSRoute" || v == "v1"));
}

/// The real Helm engine (helm-python-sdk: Helm v4.2.3 in libhelm_c), rendering `chart` with
/// `values` as `helm install` would. None (skipped) when it is not installed outside CI.
fn helm_render(chart: &Path, values: &Value, name: &str, namespace: &str) -> Option<Vec<Value>> {
    const SCRIPT: &str = r#"
import json, sys
from helm_python import Chart
chart_path, name, namespace = sys.argv[1:4]
values = json.load(sys.stdin)
c = Chart.load(chart_path)
c.validate_schema(values)
out = c.render(values, name=name, namespace=namespace, is_install=True)
print(json.dumps({k: v for k, v in out.items() if not k.endswith("NOTES.txt")}))
"#;
    let probe = Command::new("python3")
        .args(["-c", "import helm_python"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have python3 with helm-python-sdk (scripts/test.sh installs it)"
        );
        eprintln!(
            "skipped: python3 with helm-python-sdk not found (pip install helm-python-sdk==0.2.2)"
        );
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(chart)
        .args([name, namespace])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(values.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "helm render of {}: {}",
        chart.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let files: serde_json::Map<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut docs = Vec::new();
    for manifest in files.values().filter_map(Value::as_str) {
        let parsed: Vec<Value> = serde_saphyr::from_multiple(manifest).unwrap();
        docs.extend(parsed.into_iter().filter(|d| d.is_object()));
    }
    Some(docs)
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

#[test]
fn traefik_chart_renders_what_our_gateway_needs() {
    let Some(dir) = contracts() else { return };
    let values: Value = serde_json::from_str(&bootstrap(
        "envs/gateway.yaml",
        &["render", "router", "-o", "json"],
    ))
    .unwrap();
    let Some(docs) = helm_render(
        &dir.join("charts/traefik-41.3.0.tgz"),
        &values,
        "traefik",
        "traefik",
    ) else {
        return;
    };
    for kind in ["Gateway", "GatewayClass", "IngressClass"] {
        assert!(
            find(&docs, kind).is_empty(),
            "the chart rendered a {kind}: ours are rendered by bootstrap"
        );
    }
    let deployments = find(&docs, "Deployment");
    assert_eq!(deployments.len(), 1, "one Deployment, one pod");
    let pod = &deployments[0]["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["image"], "docker.io/traefik:v3.7.11", "one image");
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"--providers.kubernetesgateway"), "{args:?}");
    assert!(
        !args
            .iter()
            .any(|a| a.starts_with("--providers.kubernetesingress")
                || a.starts_with("--providers.kubernetescrd")),
        "a Gateway API router must not serve the cluster's Ingresses: {args:?}"
    );
    // Our Traefik reads only GatewayClasses with this environment's label, and ours has it.
    let objects = rendered_objects();
    let selector = args
        .iter()
        .find_map(|a| a.strip_prefix("--providers.kubernetesgateway.labelSelector="))
        .unwrap_or_else(|| panic!("no GatewayClass label selector in {args:?}"));
    let (k, v) = selector.split_once('=').unwrap();
    assert_eq!(objects[0]["kind"], "GatewayClass");
    assert_eq!(
        objects[0]["metadata"]["labels"][k], v,
        "{selector}: {}",
        objects[0]
    );
    // Our Gateway's listener port must be an entry point's port: Traefik binds a listener to the
    // entry point whose address ends in `:<port>` (entryPointName, pkg/provider/kubernetes/gateway).
    let listener_port = objects[1]["spec"]["listeners"][0]["port"].as_u64().unwrap();
    let entry = format!("--entryPoints.websecure.address=:{listener_port}/tcp");
    assert!(args.contains(&entry.as_str()), "no {entry} in {args:?}");
    let websecure = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "websecure")
        .unwrap();
    assert_eq!(websecure["containerPort"].as_u64(), Some(listener_port));
    assert_eq!(
        websecure["hostPort"], 443,
        "the node's 443, which kind publishes on router.httpsPort"
    );
    assert_eq!(
        pod["nodeSelector"]["node-role.kubernetes.io/control-plane"],
        ""
    );
    assert!(pod["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["key"] == "node-role.kubernetes.io/control-plane"));
    let services = find(&docs, "Service");
    assert_eq!(services.len(), 1);
    assert_eq!(
        services[0]["spec"]["type"], "ClusterIP",
        "a LoadBalancer would stay pending on kind"
    );
    // Traefik may read and report on TLSRoutes: its ClusterRole says so.
    let roles = find(&docs, "ClusterRole");
    let rules = roles[0]["rules"].as_array().unwrap();
    let grants = |resource: &str, verb: &str| {
        rules.iter().any(|r| {
            r["apiGroups"]
                .as_array()
                .unwrap()
                .contains(&json!("gateway.networking.k8s.io"))
                && r["resources"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(resource))
                && r["verbs"].as_array().unwrap().contains(&json!(verb))
        })
    };
    assert!(grants("tlsroutes", "watch") && grants("tlsroutes/status", "update"));
    assert!(grants("gateways", "watch") && grants("gatewayclasses/status", "update"));
    assert!(find(&docs, "Job").is_empty(), "no certgen job, no webhook");
}

#[test]
fn vcluster_charts_render_the_service_our_routes_name() {
    let Some(dir) = contracts() else { return };
    let routes = rendered_objects();
    for (file, chart) in [
        ("envs/localdev.yaml", "vcluster-0.26.0.tgz"),
        ("envs/gateway.yaml", "vcluster-0.36.1.tgz"),
    ] {
        let values: Value = serde_json::from_str(&bootstrap(
            file,
            &["render", "vcluster", "dev", "-o", "json"],
        ))
        .unwrap();
        let Some(docs) = helm_render(
            &dir.join("charts").join(chart),
            &values,
            "vcluster-dev-helm",
            "dev-vcluster",
        ) else {
            return;
        };
        let backend = &routes[2]["spec"]["rules"][0]["backendRefs"][0];
        let svc = find(&docs, "Service")
            .into_iter()
            .find(|s| s["metadata"]["name"] == backend["name"])
            .unwrap_or_else(|| panic!("{chart}: no Service {}", backend["name"]));
        assert!(
            svc["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["port"] == backend["port"] && p["targetPort"] == 8443),
            "{chart}: {svc}"
        );
        assert!(
            find(&docs, "TLSRoute").is_empty(),
            "{chart}: the chart's own TLSRoute stays off; bootstrap renders the route"
        );
    }
}

#[test]
fn node_double_routes_each_hostname_to_its_vcluster_and_the_rest_to_traefiks_default() {
    use testkit::gateway::{route_tls, Answer, Backend, TRAEFIK};
    let objects = rendered_objects();
    let port = objects[1]["spec"]["listeners"][0]["port"].as_u64().unwrap() as u16;
    for (host, ns, svc) in [
        (
            "dev-vcluster.cnoe.localtest.me",
            "dev-vcluster",
            "vcluster-dev-helm",
        ),
        (
            "staging-vcluster.cnoe.localtest.me",
            "staging-vcluster",
            "vcluster-staging-helm",
        ),
    ] {
        assert_eq!(
            route_tls(&objects, &TRAEFIK, port, Some(host)),
            Answer::Backend(Backend {
                namespace: ns.into(),
                service: svc.into(),
                port: 443
            })
        );
    }
    assert_eq!(
        route_tls(&objects, &TRAEFIK, port, Some("localhost")),
        Answer::DefaultCertificate("TRAEFIK DEFAULT CERT")
    );
    // Without the Gateway (say, a switch half done), nothing routes.
    let no_gateway: Vec<Value> = objects
        .iter()
        .filter(|o| o["kind"] != "Gateway")
        .cloned()
        .collect();
    assert_eq!(
        route_tls(
            &no_gateway,
            &TRAEFIK,
            port,
            Some("dev-vcluster.cnoe.localtest.me")
        ),
        Answer::DefaultCertificate("TRAEFIK DEFAULT CERT")
    );
    // bootstrap and the double agree on the implementation's facts, and verify names its
    // default certificate.
    use bootstrap::core::router::{GatewayApi, Kind};
    assert_eq!(
        GatewayApi.default_certificate().subject_cn,
        TRAEFIK.default_cert_cn
    );
    assert_eq!(
        objects[0]["spec"]["controllerName"],
        TRAEFIK.controller_name
    );
    let facts = bootstrap::core::verify::diagnose::CertFacts {
        subject: format!("CN={}", TRAEFIK.default_cert_cn),
        issuer: format!("CN={}", TRAEFIK.default_cert_cn),
        ..Default::default()
    };
    assert!(facts.is_router_default());
}

#[test]
fn on_an_existing_cluster_both_routers_render_a_load_balancer_and_no_host_port() {
    let Some(dir) = contracts() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for (kind, chart, release) in [
        ("ingress-nginx", "ingress-nginx-4.15.1.tgz", "ingress-nginx"),
        ("gateway-api", "traefik-41.3.0.tgz", "traefik"),
    ] {
        let file = tmp.path().join(format!("{kind}.yaml"));
        std::fs::write(
            &file,
            format!("cluster: {{provider: existing, context: prod}}\nrouter: {{kind: {kind}}}\nvclusters: [{{name: dev}}]\n"),
        )
        .unwrap();
        let values: Value = serde_json::from_str(&bootstrap(
            file.to_str().unwrap(),
            &["render", "router", "-o", "json"],
        ))
        .unwrap();
        let Some(docs) = helm_render(&dir.join("charts").join(chart), &values, release, release)
        else {
            return;
        };
        let text = serde_json::to_string(&docs).unwrap();
        assert!(
            !text.contains("\"hostPort\""),
            "{kind}: a host port on a real cluster"
        );
        assert!(!text.contains("ingress-ready"), "{kind}: kind's node label");
        let exposed = find(&docs, "Service")
            .into_iter()
            .any(|s| s["spec"]["type"] == "LoadBalancer");
        assert!(exposed, "{kind}: no LoadBalancer Service");
    }
}

/// What the router behind the node double's 443 answers for `host`, as verify's passthrough check
/// sees it: Ok(detail) when the hostname's own certificate answers, Err(diagnosis) otherwise.
fn router_answer(port: u16, host: &str) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let checks = rt.block_on(bootstrap::drivers::probe::check_passthrough(
        vec![bootstrap::drivers::probe::PassthroughExpect {
            context: "c".into(),
            hostname: host.into(),
            ca_pem: None,
            server: format!("https://127.0.0.1:{port}"),
            https_port: port,
        }],
        std::time::Duration::from_secs(5),
        None,
    ));
    let c = &checks[0];
    match c.status {
        bootstrap::core::verify::report::CheckStatus::Pass => Ok(c.detail.clone()),
        _ => Err(c.detail.clone()),
    }
}

/// The node double plays Traefik from what was really applied through its API server: the
/// Deployment the real Helm engine renders from Traefik's chart with our values, the v1.6.1 CRDs,
/// and the objects `bootstrap render routes` prints. Each fact the Gateway API route needs is
/// shown to bite: the API refuses the Gateway objects until the CRDs are applied, and Traefik's
/// default certificate answers (named by verify's diagnosis) while the Gateway is missing, when
/// the listener terminates TLS, and when the route names another listener.
#[test]
fn node_double_plays_traefik_from_the_applied_chart_and_gateway_objects() {
    let Some(dir) = contracts() else { return };
    let Ok(kubectl) = which::which("kubectl") else {
        assert!(std::env::var_os("CI").is_none(), "CI must have kubectl");
        eprintln!("skipped: no kubectl on PATH (scripts/test.sh installs it)");
        return;
    };
    let values: Value = serde_json::from_str(&bootstrap(
        "envs/gateway.yaml",
        &["render", "router", "-o", "json"],
    ))
    .unwrap();
    let Some(chart) = helm_render(
        &dir.join("charts/traefik-41.3.0.tgz"),
        &values,
        "traefik",
        "traefik",
    ) else {
        return;
    };
    // The node double, on free local ports.
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (api_port, router_port) = (free(), free());
    let node = testkit::node::Node::new("gw-control-plane");
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = tmp.path().join("config");
    std::fs::write(
        &kubeconfig,
        node.kubeconfig("gw", &format!("https://127.0.0.1:{api_port}")),
    )
    .unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(testkit::node::serve(
            node,
            format!("127.0.0.1:{api_port}").parse().unwrap(),
            format!("127.0.0.1:{router_port}").parse().unwrap(),
        ))
    });
    let k = |args: &[&str], file: Option<&Path>| {
        let mut cmd = Command::new(&kubectl);
        cmd.args(args).env("KUBECONFIG", &kubeconfig);
        if let Some(f) = file {
            cmd.args(["-f", f.to_str().unwrap()]);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !k(&["get", "--raw", "/version"], None).0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the node double did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let write = |name: &str, docs: &[Value]| {
        let p = tmp.path().join(name);
        // JSON documents in one YAML stream, as `bootstrap render` and helm write them.
        let stream: String = docs.iter().map(|d| format!("---\n{d}\n")).collect();
        std::fs::write(&p, stream).unwrap();
        p
    };
    for ns in ["traefik", "dev-vcluster", "staging-vcluster"] {
        let (ok, out) = k(&["create", "namespace", ns], None);
        assert!(ok, "{out}");
    }
    let apply = [
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager",
        "test",
    ];
    let gateway_objects = write("gateway.json", &rendered_objects());
    // Without the CRDs the server serves no such kinds: kubectl's own schema check fails first,
    // and past it (--validate=false) discovery has no mapping for them.
    let (ok, out) = k(&apply, Some(&gateway_objects));
    assert!(
        !ok,
        "without the Gateway API CRDs the API must refuse our objects: {out}"
    );
    let mut unvalidated = apply.to_vec();
    unvalidated.push("--validate=false");
    let (ok, out) = k(&unvalidated, Some(&gateway_objects));
    assert!(
        !ok && out.contains("no matches for kind") && out.contains("gateway.networking.k8s.io/v1"),
        "without the Gateway API CRDs the API must refuse our objects: {out}"
    );
    let (ok, out) = k(
        &apply,
        Some(&dir.join("crds/gateway-api-v1.6.1-standard-install.yaml")),
    );
    assert!(ok, "{out}");
    // What the node plays Traefik from: the chart's Deployment (its pod template: image, args,
    // ports), as the real Helm engine rendered it with our values.
    let workload: Vec<Value> = find(&chart, "Deployment").into_iter().cloned().collect();
    assert_eq!(workload.len(), 1);
    let (ok, out) = k(&apply, Some(&write("traefik.json", &workload)));
    assert!(ok, "{out}");

    let dev = "dev-vcluster.cnoe.localtest.me";
    let defaulted = |what: &str| {
        let got = router_answer(router_port, dev);
        let diagnosis = got.expect_err(what);
        assert!(
            diagnosis.contains("TRAEFIK DEFAULT CERT")
                && diagnosis.contains("passthrough is not working"),
            "{what}: {diagnosis}"
        );
    };
    defaulted("Traefik runs, but no Gateway routes the hostname yet");

    let (ok, out) = k(&apply, Some(&gateway_objects));
    assert!(ok, "{out}");
    // Routed: passed through to dev's Service, which has no vcluster behind it here, so the
    // connection closes without any certificate: the default one is no longer what answers.
    let passed_through = |what: &str| {
        let routed = router_answer(router_port, dev).unwrap_err();
        assert!(
            routed.contains("accepted the connection and closed it during the TLS handshake"),
            "{what}: {routed}"
        );
    };
    passed_through("our Gateway and TLSRoute applied");
    defaulted_for_other(router_port);

    // The listener terminates TLS (valid for the CRD with a certificate named): not passed
    // through.
    let (ok, out) = k(
        &[
            "-n",
            "traefik",
            "patch",
            "gateway",
            "bootstrap",
            "--type=json",
            "-p",
            r#"[{"op": "replace", "path": "/spec/listeners/0/tls", "value": {"mode": "Terminate", "certificateRefs": [{"name": "some-cert"}]}}]"#,
        ],
        None,
    );
    assert!(ok, "{out}");
    defaulted("listener tls.mode Terminate");
    let (ok, out) = k(&apply, Some(&gateway_objects));
    assert!(ok, "{out}");
    passed_through("the listener back to Passthrough");

    // The route names a section our Gateway does not have.
    let (ok, out) = k(
        &[
            "-n",
            "dev-vcluster",
            "patch",
            "tlsroute",
            "vcluster-dev-helm-api",
            "--type=json",
            "-p",
            r#"[{"op": "replace", "path": "/spec/parentRefs/0/sectionName", "value": "web"}]"#,
        ],
        None,
    );
    assert!(ok, "{out}");
    defaulted("parentRef sectionName of another listener");
}

fn defaulted_for_other(port: u16) {
    let other = router_answer(port, "nobody.cnoe.localtest.me").unwrap_err();
    assert!(other.contains("TRAEFIK DEFAULT CERT"), "{other}");
}
