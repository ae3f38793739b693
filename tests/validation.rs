//! Every validation rule, through the real binary: the message, the line and the exit code.

use std::process::Command;

struct Case {
    name: &'static str,
    yaml: &'static str,
    env: &'static [(&'static str, &'static str)],
    code: i32,
    /// Substrings the output must hold, such as "envs.yaml:3:5" and the message.
    expect: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case { name: "unknown top-level key with suggestion", yaml: "clustr:\n  name: a\n", env: &[], code: 2,
        expect: &[":1:1: clustr: unknown key `clustr`", "did you mean `cluster`?"] },
    Case { name: "unknown nested key", yaml: "cluster:\n  portMappings:\n    - containerPort: 443\n      hostPrt: 8443\n", env: &[], code: 2,
        expect: &[":4:7: cluster.portMappings[0].hostPrt: unknown key `hostPrt`", "did you mean `hostPort`?"] },
    Case { name: "type error", yaml: "cluster:\n  name: [a]\n", env: &[], code: 2,
        expect: &[":2:9: cluster.name: expected a string, found a list"] },
    Case { name: "port is not a number", yaml: "router:\n  httpsPort: lots\n", env: &[], code: 2,
        expect: &[":2:14: router.httpsPort: expected a port number (1-65535), found a string"] },
    Case { name: "port out of range", yaml: "cluster:\n  apiServer:\n    port: 70000\n", env: &[], code: 2,
        expect: &[":3:11: cluster.apiServer.port: port 70000 is out of range", "from 1 to 65535"] },
    Case { name: "port zero", yaml: "cluster:\n  portMappings:\n    - containerPort: 443\n      hostPort: 0\n", env: &[], code: 2,
        expect: &[":4:17: cluster.portMappings[0].hostPort: port 0 is out of range"] },
    Case { name: "workers out of range", yaml: "cluster:\n  workers: 40\n", env: &[], code: 2,
        expect: &[":2:12: cluster.workers: 40 is out of range", "from 0 to 16: 0 lets the control plane run everything"] },
    Case { name: "workers is a number", yaml: "cluster:\n  workers: two\n", env: &[], code: 2,
        expect: &[":2:12: cluster.workers: expected a whole number from 0 to 16, found a string"] },
    Case { name: "no control plane is out of range", yaml: "cluster:\n  controlPlanes: 0\n", env: &[], code: 2,
        expect: &[":2:18: cluster.controlPlanes: 0 is out of range", "from 1 to 5: 1 is kind's default"] },
    Case { name: "an even number of control planes warns", yaml: "cluster:\n  controlPlanes: 2\n", env: &[], code: 0,
        expect: &["cluster.controlPlanes: 2 control planes run 2 etcd members, which tolerate no more failures than 1", "use an odd number"] },
    Case { name: "strict booleans", yaml: "router:\n  passthrough: yes\n", env: &[], code: 2,
        expect: &[":2:16: router.passthrough: expected true or false, found the string `yes`", "not yes/no/on/off"] },
    Case { name: "enum with suggestion", yaml: "cluster:\n  provider: kindd\n", env: &[], code: 2,
        expect: &[":2:13: cluster.provider: `kindd` is not a valid value", "did you mean `kind`?", "valid values: kind, existing"] },
    Case { name: "missing vcluster name", yaml: "vclusters:\n  - namespace: x\n", env: &[], code: 2,
        expect: &[":2:5: vclusters[0].name: `name` is required"] },
    Case { name: "duplicate vcluster names", yaml: "vclusters:\n  - name: dev\n  - name: dev\n    context: other\n    hostname: other.localtest.me\n    namespace: other\n", env: &[], code: 2,
        expect: &[":3:11: vclusters[1].name: duplicate vcluster name `dev`, already used by vclusters[0].name (line 2)"] },
    Case { name: "duplicate contexts", yaml: "cluster:\n  name: dev\n  context: shared\nvclusters:\n  - name: a\n    context: shared\n", env: &[], code: 2,
        expect: &[":6:14: vclusters[0].context: duplicate context `shared`, already used by cluster.context (line 3)"] },
    Case { name: "duplicate hostnames", yaml: "vclusters:\n  - name: a\n    hostname: x.localtest.me\n  - name: b\n    hostname: x.localtest.me\n", env: &[], code: 2,
        expect: &[":5:15: vclusters[1].hostname: duplicate hostname `x.localtest.me`, already used by vclusters[0].hostname (line 3)"] },
    Case { name: "duplicate host ports", yaml: "cluster:\n  apiServer:\n    port: 8443\n  portMappings:\n    - containerPort: 443\n      hostPort: 8443\n", env: &[], code: 2,
        expect: &[":6:17: cluster.portMappings[0].hostPort: duplicate host port `8443/TCP`, already used by cluster.apiServer.port (line 3)"] },
    Case { name: "duplicate mapped ports", yaml: "cluster:\n  portMappings:\n    - containerPort: 443\n      hostPort: 8443\n    - containerPort: 80\n      hostPort: 8443\n", env: &[], code: 2,
        expect: &[":6:17: cluster.portMappings[1].hostPort: duplicate host port `8443/TCP`, already used by cluster.portMappings[0].hostPort (line 4)"] },
    Case { name: "a mapping on the router's https port (found by fuzzing)", yaml: "cluster:\n  portMappings:\n    - containerPort: 442\n      hostPort: 8443\nrouter:\n  httpsPort: 8443\n", env: &[], code: 2,
        expect: &[":6:14: router.httpsPort: duplicate host port `8443/TCP`, already used by cluster.portMappings[0].hostPort (line 4)", "node 443 is published on it"] },
    Case { name: "a mapping on the default https port", yaml: "cluster:\n  portMappings:\n    - containerPort: 80\n      hostPort: 8443\n", env: &[], code: 2,
        expect: &[":4:17: cluster.portMappings[0].hostPort: duplicate host port `8443/TCP`, already used by router.httpsPort"] },
    Case { name: "an empty key names its field (found by fuzzing)", yaml: "cluster:\n  \"\": 1\n", env: &[], code: 2,
        expect: &[":2:3: cluster.\"\": an empty key is not valid here"] },
    Case { name: "not an RFC 1123 label", yaml: "cluster:\n  name: Local_Dev\n", env: &[], code: 2,
        expect: &[":2:9: cluster.name: `Local_Dev` is not a valid kind cluster name", "for example `local-dev`"] },
    Case { name: "hostname outside the router's domain", yaml: "router:\n  domain: cnoe.localtest.me\nvclusters:\n  - name: dev\n    hostname: dev.example.com\n", env: &[], code: 2,
        expect: &[":5:15: vclusters[0].hostname: `dev.example.com` is outside the router's domain `cnoe.localtest.me`"] },
    Case { name: "privileged host port is a warning only", yaml: "cluster:\n  portMappings:\n    - containerPort: 80\n      hostPort: 80\n", env: &[], code: 0,
        expect: &["warning:", ":4:17: cluster.portMappings[0].hostPort: host port 80 is privileged (below 1024)"] },
    Case { name: "port-forward access is removed, with why and what instead", yaml: "vclusters:\n  - name: a\n    access: port-forward\n    localPort: 9443\n", env: &[], code: 2,
        expect: &[":3:13: vclusters[0].access: `access: port-forward` is no longer supported: nothing supervises a port-forward: it dies with the terminal that started it and with the laptop's sleep",
                  "hint: delete this line (the default is `ingress`): the vcluster is reached through the passthrough router at https://a-vcluster.localtest.me:8443",
                  "with its certificate verified",
                  ":4:16: vclusters[0].localPort: `localPort` is no longer supported",
                  "2 errors"] },
    Case { name: "a stray localPort is explained, not called unknown", yaml: "vclusters:\n  - name: a\n    localPort: 9443\n", env: &[], code: 2,
        expect: &[":3:16: vclusters[0].localPort: `localPort` is no longer supported", "1 error;"] },
    Case { name: "access takes only ingress", yaml: "vclusters:\n  - name: a\n    access: ingres\n", env: &[], code: 2,
        expect: &[":3:13: vclusters[0].access: `ingres` is not a valid value", "valid values: ingress"] },
    Case { name: "gateway-api is accepted", yaml: "router:\n  kind: gateway-api\n", env: &[], code: 0,
        expect: &["create-cluster"] },
    Case { name: "ingress-nginx on a node image newer than it was tested on is a warning", yaml: "cluster:\n  nodeImage: kindest/node:v1.36.1\nrouter:\n  kind: ingress-nginx\n", env: &[], code: 0,
        expect: &["warning:", ":2:14: cluster.nodeImage: ingress-nginx chart 4.15.1 is tested up to Kubernetes 1.35, but the node image `kindest/node:v1.36.1` runs Kubernetes 1.36", "use `router.kind: gateway-api`"] },
    Case { name: "ingress-nginx with kind's default node image is the same warning", yaml: "router:\n  kind: ingress-nginx\n", env: &[], code: 0,
        expect: &["warning:", ":2:9: router.kind: ingress-nginx chart 4.15.1 is tested up to Kubernetes 1.35, but the node image `kindest/node:v1.36.1@sha256:", "runs Kubernetes 1.36 (kind v0.32.0's default; `cluster.nodeImage` is not set)"] },
    Case { name: "ingress-nginx on a supported node image says nothing", yaml: "cluster:\n  nodeImage: kindest/node:v1.35.0\n", env: &[], code: 0,
        expect: &["create-cluster"] },
    Case { name: "the chart's own TLSRoute needs vcluster 0.34", yaml: "vclusters:\n  - name: dev\n    chart: {version: 0.26.0}\n    values:\n      controlPlane:\n        tlsRoute: {enabled: true}\n", env: &[], code: 2,
        expect: &[":5:7: vclusters[0].values.controlPlane.tlsRoute: `controlPlane.tlsRoute` needs vcluster chart 0.34 or newer; this vcluster uses 0.26"] },
    Case { name: "the chart's own TLSRoute would be a second route", yaml: "router: {kind: gateway-api}\nvclusters:\n  - name: dev\n    values:\n      controlPlane:\n        tlsRoute: {enabled: true}\n", env: &[], code: 2,
        expect: &["vclusters[0].values.controlPlane.tlsRoute: bootstrap renders this vcluster's route itself"] },
    Case { name: "https port must match the 443 mapping", yaml: "router:\n  httpsPort: 9443\ncluster:\n  portMappings:\n    - containerPort: 443\n      hostPort: 8443\n", env: &[], code: 2,
        expect: &[":6:17: cluster.portMappings[0].hostPort: node port 443 is mapped to host port 8443, but router.httpsPort is 9443"] },
    Case { name: "YAML syntax error", yaml: "cluster:\n  name: [a\nrouter: {}\n", env: &[], code: 2,
        expect: &["(syntax)", "this is not valid YAML"] },
    Case { name: "duplicate key", yaml: "cluster:\n  name: a\n  name: b\n", env: &[], code: 2,
        expect: &[":3:3: cluster.name: `name` is written twice in this mapping (first at line 2)", "write each key once"] },
    Case { name: "unknown current context", yaml: "kubeconfig:\n  currentContext: nope\n", env: &[], code: 2,
        expect: &[":2:19: kubeconfig.currentContext: `nope` is not one of the contexts this file defines"] },
    Case { name: "variable with a bad value is named", yaml: "cluster:\n  name: a\n", env: &[("BOOTSTRAP_API_PORT", "lots")], code: 2,
        expect: &["BOOTSTRAP_API_PORT: cluster.apiServer.port: expected a port number"] },
    Case { name: "an empty file is not every default", yaml: "# the file was truncated\n", env: &[], code: 2,
        expect: &[":1:1: (file): the file is empty or holds only comments", "`{}` asks for every default"] },
    Case { name: "a second document is named in our words", yaml: "cluster:\n  name: a\n---\nx: 1\n", env: &[], code: 2,
        expect: &[":4:1: (syntax): a second YAML document (`---`) starts here"] },
    Case { name: "flag beats variable", yaml: "{}\n", env: &[("BOOTSTRAP_ACCESS", "nowhere")], code: 0,
        expect: &[] },
    Case { name: "router service is LoadBalancer or NodePort", yaml: "cluster: {provider: existing, context: prod}\nrouter:\n  service: ClusterIP\n", env: &[], code: 2,
        expect: &[":3:12: router.service: `ClusterIP` is not a valid value", "valid values: LoadBalancer, NodePort"] },
    Case { name: "a NodePort router's https port is a node port", yaml: "cluster: {provider: existing, context: prod}\nrouter:\n  service: NodePort\n  httpsPort: 8443\n  domain: dev.example.com\n", env: &[], code: 2,
        expect: &[":4:14: router.httpsPort: with `router.service: NodePort` the https port is the Service's node port, and 8443 is outside 30000-32767", "for example `httpsPort: 30443`"] },
    Case { name: "a NodePort router on an existing cluster", yaml: "cluster: {provider: existing, context: prod}\nrouter:\n  service: NodePort\n  httpsPort: 30443\n  domain: dev.example.com\n", env: &[], code: 0,
        expect: &[] },
    Case { name: "router service is ignored on kind", yaml: "router:\n  service: NodePort\n", env: &[], code: 0,
        expect: &["warning:", ":2:12: router.service: ignored with `provider: kind`"] },
    Case { name: "domain from address: sslip.io or nip.io", yaml: "cluster: {provider: existing, context: prod}\nrouter:\n  domainFromAddress: nip.ioo\n", env: &[], code: 2,
        expect: &[":3:22: router.domainFromAddress: `nip.ioo` is not a valid value", "did you mean `nip.io`?", "valid values: sslip.io, nip.io"] },
    Case { name: "domain from address needs an existing cluster", yaml: "router:\n  domainFromAddress: sslip.io\n", env: &[], code: 2,
        expect: &[":2:22: router.domainFromAddress: needs `cluster.provider: existing`"] },
    Case { name: "domain from address needs a load balancer", yaml: "cluster: {provider: existing, context: prod}\nrouter:\n  service: NodePort\n  httpsPort: 30443\n  domainFromAddress: sslip.io\n", env: &[], code: 2,
        expect: &[":5:22: router.domainFromAddress: derives the domain from the load balancer's address, but `router.service: NodePort` makes no load balancer"] },
    Case { name: "domain and domain from address conflict", yaml: "cluster: {provider: existing, context: prod}\nrouter:\n  domain: dev.example.com\n  domainFromAddress: sslip.io\n", env: &[], code: 2,
        expect: &[":3:11: router.domain: `router.domain` and `router.domainFromAddress: sslip.io` both name the domain"] },
    Case { name: "hostnames are derived from the address", yaml: "cluster: {provider: existing, context: prod}\nrouter:\n  domainFromAddress: sslip.io\nvclusters:\n  - name: dev\n    hostname: dev.example.com\n", env: &[], code: 2,
        expect: &[":6:15: vclusters[0].hostname: with `router.domainFromAddress` each hostname is derived (`dev-vcluster.<address>.sslip.io`)"] },
    Case { name: "insecure is flagged", yaml: "access:\n  insecureSkipTLSVerify: true\n", env: &[], code: 0,
        expect: &["warning:", ":2:26: access.insecureSkipTLSVerify: certificates will NOT be verified"] },
    // Issue 18: accepted, then certain to fail later.
    Case { name: "a node label key Kubernetes refuses", yaml: "cluster:\n  nodeLabels:\n    Example.com/tier: x\n", env: &[], code: 2,
        expect: &[":3:23: cluster.nodeLabels.\"Example.com/tier\": `Example.com/tier` is not a Kubernetes label key: the prefix `Example.com` is not a DNS subdomain"] },
    Case { name: "a node label value Kubernetes refuses", yaml: "cluster:\n  nodeLabels:\n    tier: -front\n", env: &[], code: 2,
        expect: &[":3:11: cluster.nodeLabels.tier: `-front` is not a Kubernetes label value: a label value is empty or letters, digits"] },
    Case { name: "an Argo CD label value Kubernetes refuses", yaml: "argocd:\n  register: true\n  labels:\n    team: \"a b\"\n", env: &[], code: 2,
        expect: &[":4:11: argocd.labels.team: `a b` is not a Kubernetes label value"] },
    Case { name: "valid labels with a prefix and an empty value pass", yaml: "cluster:\n  nodeLabels:\n    example.com/Tier_1: \"\"\n    zone: a.b-c_d\n", env: &[], code: 0,
        expect: &["create-cluster"] },
    Case { name: "ingress-ready false keeps ingress-nginx off its node", yaml: "router:\n  kind: ingress-nginx\ncluster:\n  nodeLabels:\n    ingress-ready: \"false\"\n", env: &[], code: 2,
        expect: &[":5:20: cluster.nodeLabels.ingress-ready: `ingress-ready: \"false\"` keeps the router off the node: ingress-nginx runs only on a node labelled `ingress-ready: \"true\"`", "hint: remove `ingress-ready` from nodeLabels"] },
    Case { name: "ingress-ready true is what the router wants", yaml: "router:\n  kind: ingress-nginx\ncluster:\n  nodeImage: kindest/node:v1.35.0\n  nodeLabels:\n    ingress-ready: \"true\"\n", env: &[], code: 0,
        expect: &["create-cluster"] },
    Case { name: "a domain that is an IPv4 address", yaml: "router:\n  domain: 127.0.0.1\n", env: &[], code: 2,
        expect: &[":2:11: router.domain: `127.0.0.1` is an IP address, but each vcluster is reached by the name `<name>.<domain>`", "`127-0-0-1.sslip.io`"] },
    Case { name: "a domain that is an IPv6 address", yaml: "router:\n  domain: \"::1\"\n", env: &[], code: 2,
        expect: &["router.domain: `::1` is an IP address", "`--1.sslip.io`"] },
    Case { name: "one host port on two addresses is not a duplicate", yaml: "cluster:\n  apiServer: {address: 127.0.0.1, port: 8443}\n  portMappings:\n    - {containerPort: 443, hostPort: 8443, listenAddress: 192.168.1.5}\nrouter: {httpsPort: 8443}\n", env: &[], code: 0,
        expect: &["create-cluster"] },
    Case { name: "one host port on one address twice is", yaml: "cluster:\n  portMappings:\n    - {containerPort: 80, hostPort: 9000, listenAddress: 127.0.0.1}\n    - {containerPort: 81, hostPort: 9000, listenAddress: 127.0.0.1}\n", env: &[], code: 2,
        expect: &[":4:37: cluster.portMappings[1].hostPort: duplicate host port `9000/TCP`, already used by cluster.portMappings[0].hostPort (line 3)", "both on 127.0.0.1"] },
    Case { name: "0.0.0.0 takes the port on every address", yaml: "cluster:\n  portMappings:\n    - {containerPort: 80, hostPort: 9000}\n    - {containerPort: 81, hostPort: 9000, listenAddress: 192.168.1.5}\n", env: &[], code: 2,
        expect: &["cluster.portMappings[1].hostPort: duplicate host port `9000/TCP`, already used by cluster.portMappings[0].hostPort (line 3)", "on 192.168.1.5 and 0.0.0.0, which overlap"] },
    Case { name: "a release name over 53: message and hint say 53 and why", yaml: "router:\n  release: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", env: &[], code: 2,
        expect: &["router.release: `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa` is not a valid Helm release name (an RFC 1123 label of at most 53 characters; this one has 54)",
                  "hint: use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 53 characters (Helm's limit for release names: it keeps 10 of DNS's 63 for the chart's suffixes)"] },
    Case { name: "a vcluster name too long for its default release", yaml: "vclusters:\n  - name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", env: &[], code: 2,
        expect: &[":2:11: vclusters[0].name: `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa` is not a valid vcluster name (an RFC 1123 label of at most 44 characters; this one has 45)", "must fit Helm's 53", "1 error;"] },
    Case { name: "the same name with its release written is fine", yaml: "vclusters:\n  - name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n    release: short\n", env: &[], code: 0,
        expect: &["create-cluster"] },
];

fn run(case: &Case) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("envs.yaml");
    std::fs::write(&file, case.yaml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    cmd.args(["plan", "--offline"]).arg("-f").arg(&file);
    if case.name == "flag beats variable" {
        cmd.args(["--access", "host"]);
    }
    for (k, v) in case.env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn every_rule_reports_field_line_and_exit_code() {
    let mut failures = Vec::new();
    for case in CASES {
        let (code, text) = run(case);
        if code != case.code {
            failures.push(format!(
                "{}: exit {code}, expected {}\n{text}",
                case.name, case.code
            ));
            continue;
        }
        for e in case.expect {
            if !text.contains(e) {
                failures.push(format!("{}: output lacks {e:?}\n{text}", case.name));
            }
        }
        if case.code == 2 && !text.contains("nothing was changed") {
            failures.push(format!("{}: no summary line\n{text}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

#[test]
fn all_errors_are_reported_at_once() {
    let case = Case {
        name: "many",
        yaml: "clustr: {}\nrouter:\n  httpsPort: 0\n  passthrough: on\nvclusters:\n  - name: a\n    acess: x\n",
        env: &[],
        code: 2,
        expect: &[],
    };
    let (code, text) = run(&case);
    assert_eq!(code, 2);
    for e in [
        ":1:1: clustr:",
        ":3:14: router.httpsPort",
        ":4:16: router.passthrough",
        ":7:5: vclusters[0].acess",
        "4 errors",
    ] {
        assert!(text.contains(e), "lacks {e:?}:\n{text}");
    }
}

/// Decoding errors (keys, types, ranges) and rule errors (duplicates, names, domains) come out of
/// one run together, each at its own line and field.
const TOGETHER: &[Case] = &[
    Case { name: "an unknown key and a duplicate vcluster", yaml: "vclusters:\n  - name: dev\n    acess: x\n  - name: dev\n    context: other\n    hostname: other.localtest.me\n    namespace: other\n", env: &[], code: 2,
        expect: &[":3:5: vclusters[0].acess: unknown key `acess`", ":4:11: vclusters[1].name: duplicate vcluster name `dev`, already used by vclusters[0].name (line 2)", "2 errors"] },
    Case { name: "a type error and a bad name", yaml: "cluster:\n  name: Bad_Name\nrouter:\n  httpsPort: lots\n", env: &[], code: 2,
        expect: &[":2:9: cluster.name: `Bad_Name` is not a valid kind cluster name", ":4:14: router.httpsPort: expected a port number", "2 errors"] },
    Case { name: "a key written twice and a bad domain", yaml: "cluster:\n  name: a\n  name: b\nrouter:\n  domain: bad_domain\n", env: &[], code: 2,
        expect: &[":3:3: cluster.name: `name` is written twice", ":5:11: router.domain: `bad_domain` is not a DNS name", "2 errors"] },
    Case { name: "a duplicate key inside chart values", yaml: "vclusters:\n  - name: dev\n    values:\n      sync: {a: 1}\n      sync: {a: 2}\n", env: &[], code: 2,
        expect: &[":5:7: vclusters[0].values.sync: `sync` is written twice in this mapping (first at line 4)", "1 error;"] },
    Case { name: "a rejected port's default is not a duplicate of its own", yaml: "cluster:\n  apiServer:\n    port: lots\n  portMappings:\n    - containerPort: 80\n      hostPort: 6443\n", env: &[], code: 2,
        expect: &[":3:11: cluster.apiServer.port: expected a port number", "1 error;"] },
    Case { name: "a rejected provider runs neither provider's rules", yaml: "cluster:\n  provider: existin\n  name: Not_A_Label\n", env: &[], code: 2,
        expect: &[":2:13: cluster.provider: `existin` is not a valid value", "1 error;"] },
    Case { name: "a vcluster left out does not renumber the next", yaml: "vclusters:\n  - namespace: x\n  - name: Bad_Name\n", env: &[], code: 2,
        expect: &[":2:5: vclusters[0].name: `name` is required", ":3:11: vclusters[1].name: `Bad_Name` is not a valid vcluster name", "2 errors"] },
    Case { name: "a mapping left out does not renumber the next", yaml: "cluster:\n  portMappings:\n    - containerPort: 80\n    - containerPort: 81\n      hostPort: 8081\n      listenAddress: nowhere\n", env: &[], code: 2,
        expect: &[":3:7: cluster.portMappings[0].hostPort: `hostPort` is required", ":6:22: cluster.portMappings[1].listenAddress: `nowhere` is not an IP address", "2 errors"] },
    Case { name: "currentContext is not judged against a list missing a vcluster", yaml: "vclusters:\n  - context: mine\nkubeconfig:\n  currentContext: mine\n", env: &[], code: 2,
        expect: &[":2:5: vclusters[0].name: `name` is required", "1 error;"] },
    Case { name: "a hostname derived from a rejected domain is not judged", yaml: "router:\n  domain: [x]\nvclusters:\n  - name: dev\n", env: &[], code: 2,
        expect: &[":2:11: router.domain: expected a string, found a list", "1 error;"] },
];

#[test]
fn decoding_and_rule_errors_come_out_together() {
    let mut failures = Vec::new();
    for case in TOGETHER {
        let (code, text) = run(case);
        if code != case.code {
            failures.push(format!(
                "{}: exit {code}, expected {}\n{text}",
                case.name, case.code
            ));
            continue;
        }
        for e in case.expect {
            if !text.contains(e) {
                failures.push(format!("{}: output lacks {e:?}\n{text}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

#[test]
fn json_errors_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("envs.yaml");
    std::fs::write(&file, "cluster:\n  name: Bad_Name\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(["plan", "--offline", "-o", "json", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["diagnostics"][0]["line"], 2);
    assert_eq!(v["diagnostics"][0]["field"], "cluster.name");
}

#[test]
fn missing_file_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(["plan", "-f", "/nonexistent/envs.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("file not found"));
}
