//! A vcluster's chart values.

use crate::core::config::{Env, Vcluster};
use serde_json::{json, Value};

/// The file's values, plus what access needs: the route's hostname and the in-cluster service
/// names in the proxy certificate (TLSRoute/Ingress hosts are not added automatically), and the
/// exported kubeconfig pointing at the service, which is what in-cluster consumers such as
/// ArgoCD dial.
pub fn vcluster_values(_env: &Env, v: &Vcluster) -> Value {
    let mut values = v.values.clone();
    if !values.is_object() {
        values = json!({});
    }
    let svc = format!("{}.{}.svc", v.release, v.namespace);
    let mut sans: Vec<Value> = vec![json!(svc), json!(v.hostname)];
    if let Some(existing) = values
        .pointer("/controlPlane/proxy/extraSANs")
        .and_then(Value::as_array)
    {
        for s in existing {
            if !sans.contains(s) {
                sans.push(s.clone());
            }
        }
    }
    super::merge(
        &mut values,
        &json!({ "controlPlane": { "proxy": { "extraSANs": sans } } }),
    );
    if values.pointer("/exportKubeConfig/server").is_none() {
        super::merge(
            &mut values,
            &json!({ "exportKubeConfig": { "server": format!("https://{svc}:443") } }),
        );
    }
    values
}
