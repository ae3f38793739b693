//! What the real control plane does to an object once it is written, played as pure functions
//! of what was applied. No pod runs here, so the workload controllers are played as if every
//! pod started and became ready at once:
//!
//! - API defaulting: Secret `stringData` folded into base64 `data` and `type: Opaque`; Service
//!   `type: ClusterIP`, an allocated `clusterIP` from 10.96.0.0/12 (kept across updates, none
//!   for `clusterIP: None`), port `protocol: TCP` and `targetPort` = `port`, node ports for
//!   NodePort/LoadBalancer; Namespace `spec.finalizers: [kubernetes]`, `status.phase: Active`.
//! - `metadata.generation`: 1 on create, +1 when anything but metadata and status changes, for
//!   the kinds whose registry strategy keeps it (workloads, Ingress, CRDs, custom resources).
//! - Deployment: `replicas = updatedReplicas = readyReplicas = availableReplicas =
//!   spec.replicas`, conditions Available/MinimumReplicasAvailable and
//!   Progressing/NewReplicaSetAvailable, `observedGeneration = generation`.
//! - StatefulSet: the same counts, `currentRevision = updateRevision = <name>-<template hash>`.
//! - DaemonSet: scheduled on the one node: every count 1.
//! - Job: succeeded = completions, conditions SuccessCriteriaMet and Complete.
//! - CustomResourceDefinition: NamesAccepted and Established, `acceptedNames = spec.names`.
//!
//! Those are the fields helm's readiness check reads (fluxcd/cli-utils v1.2.1
//! `pkg/kstatus/status/core.go`: stsConditions, deploymentConditions, daemonsetConditions,
//! jobConditions, crdConditions), so `helm --wait` passes exactly when the double says the
//! workload runs.

use base64::Engine;
use serde_json::{json, Map, Value};

/// Kinds whose built-in registry strategy sets and bumps `metadata.generation`.
fn keeps_generation(group: &str, kind: &str, built_in: bool) -> bool {
    !built_in
        || matches!(
            (group, kind),
            ("apps", _)
                | ("batch", _)
                | ("networking.k8s.io", _)
                | ("policy", "PodDisruptionBudget")
                | ("apiextensions.k8s.io", "CustomResourceDefinition")
                | ("autoscaling", _)
                | ("admissionregistration.k8s.io", _)
        )
}

fn without_meta_and_status(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

/// Allocations that must not repeat within one apiserver.
#[derive(Debug, Default)]
pub struct Allocator {
    next_ip: u32,
    next_node_port: u16,
}

impl Allocator {
    fn cluster_ip(&mut self) -> String {
        // 10.96.0.1 is the `kubernetes` Service in a real cluster; start after it.
        self.next_ip += 1;
        let n = self.next_ip + 1;
        format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff)
    }

    fn node_port(&mut self) -> u16 {
        let p = 30000 + self.next_node_port;
        self.next_node_port += 1;
        p
    }
}

fn short_hash(v: &Value) -> String {
    // FNV-1a over the canonical JSON: stable within a run, changes when the template does.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in v.to_string().bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:010x}", h & 0xff_ffff_ffff)
}

/// Defaults, generation and status for `new`, written over `old` (None on create).
pub fn settle(
    group: &str,
    kind: &str,
    built_in: bool,
    old: Option<&Value>,
    new: &mut Value,
    alloc: &mut Allocator,
) {
    default(group, kind, old, new, alloc);
    if keeps_generation(group, kind, built_in) {
        let generation = match old {
            None => 1,
            Some(o) => {
                let g = o["metadata"]["generation"].as_i64().unwrap_or(1);
                if without_meta_and_status(o) != without_meta_and_status(new) {
                    g + 1
                } else {
                    g
                }
            }
        };
        new["metadata"]["generation"] = json!(generation);
    } else if let Some(m) = new["metadata"].as_object_mut() {
        m.remove("generation");
    }
    // Status is the controllers' alone: what a client sent in it on the main resource is
    // dropped, as the real registry strategies do.
    let status = status(group, kind, new).or_else(|| old.map(|o| o["status"].clone()));
    match status.filter(|s| !s.is_null()) {
        Some(s) => new["status"] = s,
        None => {
            if let Some(m) = new.as_object_mut() {
                m.remove("status");
            }
        }
    }
}

fn default(group: &str, kind: &str, old: Option<&Value>, new: &mut Value, alloc: &mut Allocator) {
    match (group, kind) {
        ("", "Secret") => {
            if let Some(Value::Object(sd)) =
                new.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                let data = new["data"].as_object().cloned().unwrap_or_default();
                let mut data: Map<String, Value> = data;
                for (k, v) in sd {
                    let text = v.as_str().unwrap_or_default();
                    data.insert(
                        k,
                        json!(base64::engine::general_purpose::STANDARD.encode(text)),
                    );
                }
                new["data"] = Value::Object(data);
            }
            if new["type"].as_str().is_none_or(str::is_empty) {
                new["type"] = json!("Opaque");
            }
        }
        ("", "Namespace") if new["spec"]["finalizers"].is_null() => {
            new["spec"]["finalizers"] = json!(["kubernetes"]);
        }
        ("", "Service") => {
            let spec = &mut new["spec"];
            if spec["type"].is_null() {
                spec["type"] = json!("ClusterIP");
            }
            let kept = old.and_then(|o| o["spec"]["clusterIP"].as_str().map(str::to_owned));
            let ip = match (spec["clusterIP"].as_str(), kept) {
                (Some("None"), _) => "None".to_owned(),
                (Some(ip), _) if !ip.is_empty() => ip.to_owned(),
                (_, Some(ip)) => ip,
                _ => alloc.cluster_ip(),
            };
            spec["clusterIP"] = json!(ip);
            spec["clusterIPs"] = json!([ip]);
            if spec["sessionAffinity"].is_null() {
                spec["sessionAffinity"] = json!("None");
            }
            let node_ports = matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer"));
            let old_ports = old
                .map(|o| o["spec"]["ports"].clone())
                .unwrap_or(Value::Null);
            if let Some(ports) = spec["ports"].as_array_mut() {
                for p in ports.iter_mut() {
                    if p["protocol"].is_null() {
                        p["protocol"] = json!("TCP");
                    }
                    if p["targetPort"].is_null() {
                        p["targetPort"] = p["port"].clone();
                    }
                    let unset = p["nodePort"].is_null() || p["nodePort"] == 0;
                    if node_ports && unset {
                        let previous = old_ports
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|o| o["port"] == p["port"])
                            .map(|o| o["nodePort"].clone())
                            .filter(|n| n.as_u64().is_some_and(|n| n > 0));
                        p["nodePort"] = previous.unwrap_or_else(|| json!(alloc.node_port()));
                    } else if !node_ports && p["nodePort"] == 0 {
                        // `nodePort: 0` means unset (the vcluster chart renders it so).
                        if let Some(m) = p.as_object_mut() {
                            m.remove("nodePort");
                        }
                    }
                }
            }
        }
        ("apps", "Deployment" | "StatefulSet") if new["spec"]["replicas"].is_null() => {
            new["spec"]["replicas"] = json!(1);
        }
        _ => {}
    }
}

/// A cloud's load balancer controller, played: a `type: LoadBalancer` Service without a
/// `loadBalancerClass` (a class names another controller, which this cluster does not run) gets
/// one ingress address: `spec.loadBalancerIP` when asked for, else one from TEST-NET-3
/// (203.0.113.0/24, RFC 5737) derived from its allocated cluster IP, so it stays across updates
/// and differs between Services. Any other Service has an empty `loadBalancer`.
fn load_balancer(obj: &Value) -> Value {
    let spec = &obj["spec"];
    if spec["type"] != "LoadBalancer" || !spec["loadBalancerClass"].is_null() {
        return json!({});
    }
    let ip = match spec["loadBalancerIP"].as_str().filter(|s| !s.is_empty()) {
        Some(asked) => asked.to_owned(),
        None => {
            let last = spec["clusterIP"]
                .as_str()
                .and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
                .map(|ip| ip.octets()[3])
                .unwrap_or(1);
            format!("203.0.113.{}", last.max(1))
        }
    };
    json!({"ingress": [{"ip": ip, "ipMode": "VIP"}]})
}

fn replicas(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

fn condition(t: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": t, "status": status, "reason": reason, "message": message})
}

/// The status the controllers would have written by now.
pub fn status(group: &str, kind: &str, obj: &Value) -> Option<Value> {
    let generation = obj["metadata"]["generation"].clone();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    Some(match (group, kind) {
        ("", "Namespace") if obj["metadata"].get("deletionTimestamp").is_some() => {
            json!({"phase": "Terminating"})
        }
        ("", "Namespace") => json!({"phase": "Active"}),
        ("", "Service") => json!({"loadBalancer": load_balancer(obj)}),
        ("apps", "Deployment") => {
            let n = replicas(obj);
            json!({"observedGeneration": generation, "replicas": n, "updatedReplicas": n,
                "readyReplicas": n, "availableReplicas": n, "conditions": [
                condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                condition("Progressing", "True", "NewReplicaSetAvailable", &format!("ReplicaSet \"{name}\" has successfully progressed.")),
            ]})
        }
        ("apps", "StatefulSet") => {
            let n = replicas(obj);
            let revision = format!("{name}-{}", short_hash(&obj["spec"]["template"]));
            json!({"observedGeneration": generation, "replicas": n, "readyReplicas": n,
                "currentReplicas": n, "updatedReplicas": n, "availableReplicas": n,
                "currentRevision": revision, "updateRevision": revision, "collisionCount": 0})
        }
        ("apps", "DaemonSet") => json!({"observedGeneration": generation,
            "desiredNumberScheduled": 1, "currentNumberScheduled": 1, "updatedNumberScheduled": 1,
            "numberReady": 1, "numberAvailable": 1, "numberMisscheduled": 0}),
        ("batch", "Job") => {
            let parallelism = obj["spec"]["parallelism"].as_i64().unwrap_or(1);
            let completions = obj["spec"]["completions"].as_i64().unwrap_or(parallelism);
            json!({"succeeded": completions, "active": 0, "ready": 0, "terminating": 0,
            "startTime": obj["metadata"]["creationTimestamp"],
            "completionTime": obj["metadata"]["creationTimestamp"],
            "conditions": [
                condition("SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods"),
                condition("Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods"),
            ]})
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let stored: Vec<Value> = obj["spec"]["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| v["storage"] == true)
                .map(|v| v["name"].clone())
                .collect();
            json!({"acceptedNames": obj["spec"]["names"], "storedVersions": stored, "conditions": [
                condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
                condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
            ]})
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(group: &str, kind: &str, old: Option<&Value>, mut new: Value) -> Value {
        settle(group, kind, true, old, &mut new, &mut Allocator::default());
        new
    }

    #[test]
    fn a_deployment_is_ready_for_the_generation_applied() {
        let d = json!({"metadata": {"name": "c"}, "spec": {"replicas": 2, "template": {}}});
        let first = settled("apps", "Deployment", None, d.clone());
        assert_eq!(first["metadata"]["generation"], 1);
        assert_eq!(first["status"]["readyReplicas"], 2);
        assert_eq!(first["status"]["observedGeneration"], 1);
        let mut changed = first.clone();
        changed["spec"]["replicas"] = json!(3);
        let second = settled("apps", "Deployment", Some(&first), changed);
        assert_eq!(second["metadata"]["generation"], 2);
        assert_eq!(second["status"]["observedGeneration"], 2);
        assert_eq!(second["status"]["availableReplicas"], 3);
        let same = settled("apps", "Deployment", Some(&second), second.clone());
        assert_eq!(same["metadata"]["generation"], 2, "no spec change, no bump");
    }

    #[test]
    fn a_statefulset_revision_follows_its_template() {
        let s = json!({"metadata": {"name": "v"}, "spec": {"template": {"metadata": {"annotations": {"h": "1"}}}}});
        let a = settled("apps", "StatefulSet", None, s.clone());
        let mut t = a.clone();
        t["spec"]["template"]["metadata"]["annotations"]["h"] = json!("2");
        let b = settled("apps", "StatefulSet", Some(&a), t);
        assert_ne!(a["status"]["updateRevision"], b["status"]["updateRevision"]);
        assert_eq!(
            b["status"]["currentRevision"],
            b["status"]["updateRevision"]
        );
        assert_eq!(
            b["status"]["readyReplicas"], 1,
            "spec.replicas defaults to 1"
        );
    }

    #[test]
    fn services_get_a_cluster_ip_once_and_secrets_fold_string_data() {
        let mut alloc = Allocator::default();
        let mut svc = json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 443, "targetPort": 8443, "nodePort": 0}]}});
        settle("", "Service", true, None, &mut svc, &mut alloc);
        let ip = svc["spec"]["clusterIP"].clone();
        assert_eq!(ip, "10.96.0.2");
        assert!(svc["spec"]["ports"][0].get("nodePort").is_none());
        let mut again = json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 443}]}});
        settle("", "Service", true, Some(&svc), &mut again, &mut alloc);
        assert_eq!(again["spec"]["clusterIP"], ip, "kept across updates");
        assert_eq!(again["spec"]["ports"][0]["targetPort"], 443);
        assert!(svc["metadata"].get("generation").is_none());
        let mut headless = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}});
        settle("", "Service", true, None, &mut headless, &mut alloc);
        assert_eq!(headless["spec"]["clusterIP"], "None");
        let mut s = json!({"metadata": {"name": "x"}, "stringData": {"a": "b"}});
        settle("", "Secret", true, None, &mut s, &mut alloc);
        assert_eq!(s["data"]["a"], "Yg==");
        assert_eq!(s["type"], "Opaque");
        assert!(s.get("stringData").is_none());
    }

    #[test]
    fn only_load_balancer_services_get_an_address() {
        let lb = settled(
            "",
            "Service",
            None,
            json!({"metadata": {"name": "r"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}}),
        );
        let ip = lb["status"]["loadBalancer"]["ingress"][0]["ip"]
            .as_str()
            .unwrap();
        assert!(ip.starts_with("203.0.113."), "{lb}");
        let again = settled("", "Service", Some(&lb), lb.clone());
        assert_eq!(
            again["status"]["loadBalancer"]["ingress"][0]["ip"], ip,
            "kept across updates"
        );
        let asked = settled(
            "",
            "Service",
            None,
            json!({"metadata": {"name": "r"}, "spec": {"type": "LoadBalancer", "loadBalancerIP": "198.51.100.7"}}),
        );
        assert_eq!(
            asked["status"]["loadBalancer"]["ingress"][0]["ip"],
            "198.51.100.7"
        );
        for spec in [
            json!({"type": "NodePort"}),
            json!({"type": "ClusterIP"}),
            json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/other"}),
        ] {
            let s = settled(
                "",
                "Service",
                None,
                json!({"metadata": {"name": "r"}, "spec": spec}),
            );
            assert_eq!(s["status"]["loadBalancer"], json!({}), "{s}");
        }
    }

    #[test]
    fn jobs_complete_and_crds_are_established() {
        let job = settled(
            "batch",
            "Job",
            None,
            json!({"metadata": {"name": "j", "creationTimestamp": "t"}, "spec": {}}),
        );
        assert_eq!(job["status"]["conditions"][1]["type"], "Complete");
        let crd = settled(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            None,
            json!({"metadata": {"name": "x"}, "spec": {"names": {"kind": "X"}, "versions": [{"name": "v1", "storage": true}]}}),
        );
        assert_eq!(crd["status"]["conditions"][1]["type"], "Established");
        assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
    }
}
