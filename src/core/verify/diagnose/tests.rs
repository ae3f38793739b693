use super::*;

fn sit(host: &str, port: u16) -> Situation {
    Situation {
        context: "ctx".into(),
        cluster: "cl".into(),
        host: host.into(),
        port,
        timeout_ms: 2000,
        ..Default::default()
    }
}

fn passthrough(mut s: Situation, hostname: &str) -> Situation {
    s.via = Via::Passthrough {
        hostname: hostname.into(),
        https_port: 8443,
    };
    s
}

fn cert(subject: &str, issuer: &str, names: &[&str]) -> CertFacts {
    CertFacts {
        subject: subject.into(),
        issuer: issuer.into(),
        names: names.iter().map(|n| n.to_string()).collect(),
        not_after: "2030-01-01".into(),
    }
}

fn refused(addr: &str, loopback: bool) -> Failure {
    Failure::Tcp {
        kind: ConnectError::Refused,
        addr: addr.into(),
        loopback,
        message: "Connection refused".into(),
    }
}

fn tls_fail(problem: TlsProblem, c: Option<CertFacts>, ca: Option<&str>) -> Failure {
    Failure::Tls {
        problem,
        cert: c.map(Box::new),
        expected_ca: ca.map(Into::into),
    }
}

struct Case {
    name: &'static str,
    situation: Situation,
    failure: Failure,
    layer: Layer,
    diagnosis: &'static [&'static str],
    hint: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    let in_container = Situation {
        in_container: true,
        ..sit("127.0.0.1", 6443)
    };
    let token = Situation {
        credential: Credential::Token,
        ..sit("127.0.0.1", 6443)
    };
    let client = Situation {
        credential: Credential::ClientCert {
            subject: "kubernetes-admin".into(),
        },
        ..sit("127.0.0.1", 6443)
    };
    vec![
        Case {
            name: "localhost trap, api route",
            situation: Situation {
                via: Via::Api,
                ..in_container.clone()
            },
            failure: refused("127.0.0.1:6443", true),
            layer: Layer::Tcp,
            diagnosis: &[
                "127.0.0.1:6443 refused",
                "inside a container",
                "localhost trap",
            ],
            hint: &[
                "host.docker.internal:6443",
                "tls-server-name: localhost",
                "kind` network",
            ],
        },
        Case {
            name: "localhost trap, passthrough route keeps the hostname as tls-server-name",
            situation: Situation {
                in_container: true,
                ..passthrough(
                    sit("dev-vcluster.cnoe.localtest.me", 8443),
                    "dev-vcluster.cnoe.localtest.me",
                )
            },
            failure: refused("127.0.0.1:8443", true),
            layer: Layer::Tcp,
            diagnosis: &["localhost trap"],
            hint: &[
                "https://host.docker.internal:8443",
                "tls-server-name: dev-vcluster.cnoe.localtest.me",
            ],
        },
        Case {
            name: "refused on the host is no trap",
            situation: Situation {
                via: Via::Api,
                ..sit("127.0.0.1", 6443)
            },
            failure: refused("127.0.0.1:6443", true),
            layer: Layer::Tcp,
            diagnosis: &["connection to 127.0.0.1:6443 refused: nothing listens"],
            hint: &["is the cluster up?"],
        },
        Case {
            name: "timed out is told apart from refused",
            situation: sit("10.9.9.9", 6443),
            failure: Failure::Tcp {
                kind: ConnectError::TimedOut,
                addr: "10.9.9.9:6443".into(),
                loopback: false,
                message: String::new(),
            },
            layer: Layer::Tcp,
            diagnosis: &["timed out after 2000 ms", "not even a refusal"],
            hint: &["unreachable"],
        },
        Case {
            name: "dns failure of the passthrough domain",
            situation: sit("dev-vcluster.cnoe.localtest.me", 8443),
            failure: Failure::Dns {
                timed_out: false,
                message: "failed to lookup address".into(),
            },
            layer: Layer::Dns,
            diagnosis: &[
                "dev-vcluster.cnoe.localtest.me does not resolve",
                "*.localtest.me",
                "rebinding",
            ],
            hint: &[
                "127.0.0.1 dev-vcluster.cnoe.localtest.me` to /etc/hosts",
                "rebind-domain-ok=/localtest.me/",
            ],
        },
        Case {
            name: "dns failure of a declared passthrough domain that is no public wildcard",
            situation: passthrough(sit("dev.corp.test", 8443), "dev.corp.test"),
            failure: Failure::Dns {
                timed_out: false,
                message: "no such host".into(),
            },
            layer: Layer::Dns,
            diagnosis: &["*.corp.test"],
            hint: &["/etc/hosts", "rebinding for corp.test"],
        },
        Case {
            name: "dns failure elsewhere",
            situation: sit("api.example.invalid", 6443),
            failure: Failure::Dns {
                timed_out: false,
                message: "no such host".into(),
            },
            layer: Layer::Dns,
            diagnosis: &["api.example.invalid does not resolve"],
            hint: &["cluster `cl`"],
        },
        Case {
            name: "name mismatch suggests a name the certificate holds",
            situation: sit("host.docker.internal", 6443),
            failure: tls_fail(
                TlsProblem::NameMismatch,
                Some(cert(
                    "kube-apiserver",
                    "kubernetes",
                    &["localdev-control-plane", "localhost", "127.0.0.1"],
                )),
                Some("kubernetes"),
            ),
            layer: Layer::Tls,
            diagnosis: &[
                "name mismatch",
                "not valid for host.docker.internal",
                "[localdev-control-plane, localhost, 127.0.0.1]",
            ],
            hint: &["tls-server-name: localhost", "clusters.cl.tls-server-name"],
        },
        Case {
            name: "name mismatch through passthrough asks for an extra SAN",
            situation: passthrough(
                sit("dev-vcluster.cnoe.localtest.me", 8443),
                "dev-vcluster.cnoe.localtest.me",
            ),
            failure: tls_fail(
                TlsProblem::NameMismatch,
                Some(cert("vcluster", "vcluster-ca", &["localhost", "127.0.0.1"])),
                Some("vcluster-ca"),
            ),
            layer: Layer::Tls,
            diagnosis: &["not valid for dev-vcluster.cnoe.localtest.me"],
            hint: &["controlPlane.proxy.extraSANs"],
        },
        Case {
            name: "unknown authority names issuer seen and CA expected",
            situation: sit("127.0.0.1", 6443),
            failure: tls_fail(
                TlsProblem::UnknownAuthority,
                Some(cert("kube-apiserver", "other-ca", &["localhost"])),
                Some("kubernetes-ca"),
            ),
            layer: Layer::Tls,
            diagnosis: &[
                "unknown authority",
                "issued by `other-ca`",
                "trusts only `kubernetes-ca`",
            ],
            hint: &["old CA", "bootstrap up"],
        },
        Case {
            name: "router default certificate means passthrough is off",
            situation: sit("dev-vcluster.cnoe.localtest.me", 8443),
            failure: tls_fail(
                TlsProblem::UnknownAuthority,
                Some(cert(
                    "Kubernetes Ingress Controller Fake Certificate",
                    "Kubernetes Ingress Controller Fake Certificate",
                    &["ingress.local"],
                )),
                Some("vcluster-ca"),
            ),
            layer: Layer::Tls,
            diagnosis: &[
                "passthrough is not working",
                "its own certificate",
                "Fake Certificate",
            ],
            hint: &[
                "--enable-ssl-passthrough",
                "ssl-passthrough: \"true\"",
                "TLSRoute",
            ],
        },
        Case {
            name: "a foreign certificate on a passthrough route is the router's",
            situation: passthrough(
                sit("dev-vcluster.cnoe.localtest.me", 8443),
                "dev-vcluster.cnoe.localtest.me",
            ),
            failure: tls_fail(
                TlsProblem::UnknownAuthority,
                Some(cert("ingress.local", "router-ca", &["ingress.local"])),
                Some("vcluster-ca"),
            ),
            layer: Layer::Tls,
            diagnosis: &["passthrough is not working"],
            hint: &["--enable-ssl-passthrough"],
        },
        Case {
            name: "plain http behind the port",
            situation: sit("127.0.0.1", 6443),
            failure: tls_fail(
                TlsProblem::NotTls {
                    answer: Some("HTTP/1.1 400 Bad Request".into()),
                },
                None,
                None,
            ),
            layer: Layer::Tls,
            diagnosis: &["speaks plain HTTP, not TLS", "HTTP/1.1 400 Bad Request"],
            hint: &["sport = :6443"],
        },
        Case {
            name: "another protocol behind the port",
            situation: sit("127.0.0.1", 6443),
            failure: tls_fail(
                TlsProblem::NotTls {
                    answer: Some("SSH-2.0-OpenSSH_9.2".into()),
                },
                None,
                None,
            ),
            layer: Layer::Tls,
            diagnosis: &["another service is behind 127.0.0.1:6443", "SSH-2.0"],
            hint: &["wrong port"],
        },
        Case {
            name: "401 with a token",
            situation: token,
            failure: Failure::Http {
                layer: Layer::Auth,
                status: 401,
                path: "/version".into(),
                message: "Unauthorized".into(),
            },
            layer: Layer::Auth,
            diagnosis: &["credentials rejected (401 Unauthorized)", "bearer token"],
            hint: &["expired or was revoked"],
        },
        Case {
            name: "401 with a client certificate",
            situation: client.clone(),
            failure: Failure::Http {
                layer: Layer::Auth,
                status: 401,
                path: "/version".into(),
                message: String::new(),
            },
            layer: Layer::Auth,
            diagnosis: &["401 Unauthorized", "client certificate (kubernetes-admin)"],
            hint: &["old CA"],
        },
        Case {
            name: "403 is not 401",
            situation: client.clone(),
            failure: Failure::Http {
                layer: Layer::Api,
                status: 403,
                path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews".into(),
                message: "forbidden".into(),
            },
            layer: Layer::Api,
            diagnosis: &["credentials accepted but forbidden (403 Forbidden)"],
            hint: &["RBAC"],
        },
        Case {
            name: "access review says no",
            situation: client.clone(),
            failure: Failure::Denied {
                reason: String::new(),
            },
            layer: Layer::Api,
            diagnosis: &["not allowed to list namespaces", "allowed=false"],
            hint: &["clusterrolebinding"],
        },
        Case {
            name: "client certificate refused by alert after the handshake",
            situation: client,
            failure: Failure::Transport {
                layer: Layer::Auth,
                timed_out: false,
                message: "received fatal alert: CertificateRequired".into(),
            },
            layer: Layer::Auth,
            diagnosis: &["credentials rejected during the TLS handshake"],
            hint: &["bootstrap up"],
        },
        Case {
            name: "client certificate refused, the alert lost to a reset",
            situation: Situation {
                credential: Credential::ClientCert {
                    subject: "mallory".into(),
                },
                ..sit("127.0.0.1", 6443)
            },
            failure: Failure::Transport {
                layer: Layer::Auth,
                timed_out: false,
                message: "connection reset by peer".into(),
            },
            layer: Layer::Auth,
            diagnosis: &["credentials rejected", "client certificate (mallory)"],
            hint: &["not signed by a CA this server trusts"],
        },
        Case {
            name: "a token context whose connection breaks is no credential problem",
            situation: Situation {
                credential: Credential::Token,
                ..sit("127.0.0.1", 6443)
            },
            failure: Failure::Transport {
                layer: Layer::Auth,
                timed_out: false,
                message: "connection closed before message completed".into(),
            },
            layer: Layer::Auth,
            diagnosis: &["the connection broke during the auth request"],
            hint: &["API server's logs"],
        },
        Case {
            name: "closed during handshake behind passthrough",
            situation: passthrough(
                sit("staging.cnoe.localtest.me", 8443),
                "staging.cnoe.localtest.me",
            ),
            failure: tls_fail(TlsProblem::Closed, None, None),
            layer: Layer::Tls,
            diagnosis: &["closed it during the TLS handshake"],
            hint: &["passthrough route"],
        },
        Case {
            name: "tls timeout",
            situation: sit("127.0.0.1", 6443),
            failure: tls_fail(TlsProblem::TimedOut, None, None),
            layer: Layer::Tls,
            diagnosis: &["timed out after 2000 ms"],
            hint: &["different protocol"],
        },
        Case {
            name: "missing context",
            situation: sit("", 0),
            failure: Failure::Config {
                message: "no context `x` in the kubeconfig".into(),
            },
            layer: Layer::Config,
            diagnosis: &["context `ctx` cannot be used", "no context `x`"],
            hint: &["get-contexts"],
        },
    ]
}

#[test]
fn every_rule() {
    for c in cases() {
        let got = diagnose(&c.situation, &c.failure);
        assert_eq!(got.layer, c.layer, "{}: layer", c.name);
        for want in c.diagnosis {
            assert!(
                got.diagnosis.contains(want),
                "{}: diagnosis lacks `{want}`:\n{}",
                c.name,
                got.diagnosis
            );
        }
        for want in c.hint {
            assert!(
                got.hint.contains(want),
                "{}: hint lacks `{want}`:\n{}",
                c.name,
                got.hint
            );
        }
    }
}

#[test]
fn wildcard_names() {
    assert!(name_matches("*.cnoe.localtest.me", "dev.cnoe.localtest.me"));
    assert!(!name_matches(
        "*.cnoe.localtest.me",
        "a.b.cnoe.localtest.me"
    ));
    assert!(!name_matches("*.cnoe.localtest.me", "cnoe.localtest.me"));
    assert!(name_matches("LOCALHOST", "localhost"));
}

#[test]
fn suggestion_prefers_localhost_then_dns_names() {
    let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        suggest_name(&v(&["10.0.0.1", "node", "localhost"])).as_deref(),
        Some("localhost")
    );
    assert_eq!(
        suggest_name(&v(&["10.0.0.1", "*.x.io", "node"])).as_deref(),
        Some("node")
    );
    assert_eq!(suggest_name(&v(&["10.0.0.1"])).as_deref(), Some("10.0.0.1"));
    assert_eq!(suggest_name(&[]), None);
}
