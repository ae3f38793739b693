//! Kubernetes protobuf request bodies, decoded to the JSON the store keeps.
//!
//! client-go's generated clients for built-in kinds always send protobuf (client-go v0.36
//! `rest/client.go`: "all generated clients accessing built-in kube resources are forced to
//! protobuf"): helm's release Secrets and `--create-namespace`, `kubectl create secret`,
//! `kubectl auth can-i`. They accept JSON answers, so only request bodies need decoding, and
//! only for the kinds such clients write. The wire format: the magic `k8s\0`, then a
//! `runtime.Unknown` (k8s.io/apimachinery `pkg/runtime/generated.proto`) whose `raw` is the
//! object; field numbers from k8s.io/api `core/v1/generated.proto`,
//! `authorization/v1/generated.proto` and apimachinery `pkg/apis/meta/v1/generated.proto`.
//! Any other kind sent as protobuf is refused with 415, naming it.

use base64::Engine;
use serde_json::{json, Map, Value};

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bytes,
    Int,
    Bool,
    Time,
    Raw,
    Msg(&'static [F]),
    MapStr,
    MapBytes,
    RepStr,
    RepMsg(&'static [F]),
}

type F = (u32, &'static str, Ty);

const TIME: &[F] = &[(1, "seconds", Ty::Int), (2, "nanos", Ty::Int)];
const OWNER: &[F] = &[
    (1, "kind", Ty::Str),
    (3, "name", Ty::Str),
    (4, "uid", Ty::Str),
    (5, "apiVersion", Ty::Str),
    (6, "controller", Ty::Bool),
    (7, "blockOwnerDeletion", Ty::Bool),
];
const MANAGED: &[F] = &[
    (1, "manager", Ty::Str),
    (2, "operation", Ty::Str),
    (3, "apiVersion", Ty::Str),
    (4, "time", Ty::Time),
    (6, "fieldsType", Ty::Str),
    (7, "fieldsV1", Ty::Raw),
    (8, "subresource", Ty::Str),
];
const META: &[F] = &[
    (1, "name", Ty::Str),
    (2, "generateName", Ty::Str),
    (3, "namespace", Ty::Str),
    (5, "uid", Ty::Str),
    (6, "resourceVersion", Ty::Str),
    (7, "generation", Ty::Int),
    (8, "creationTimestamp", Ty::Time),
    (9, "deletionTimestamp", Ty::Time),
    (10, "deletionGracePeriodSeconds", Ty::Int),
    (11, "labels", Ty::MapStr),
    (12, "annotations", Ty::MapStr),
    (13, "ownerReferences", Ty::RepMsg(OWNER)),
    (14, "finalizers", Ty::RepStr),
    (17, "managedFields", Ty::RepMsg(MANAGED)),
];
const SECRET: &[F] = &[
    (1, "metadata", Ty::Msg(META)),
    (2, "data", Ty::MapBytes),
    (3, "type", Ty::Str),
    (4, "stringData", Ty::MapStr),
    (5, "immutable", Ty::Bool),
];
const CONFIG_MAP: &[F] = &[
    (1, "metadata", Ty::Msg(META)),
    (2, "data", Ty::MapStr),
    (3, "binaryData", Ty::MapBytes),
    (4, "immutable", Ty::Bool),
];
const NAMESPACE: &[F] = &[
    (1, "metadata", Ty::Msg(META)),
    (2, "spec", Ty::Msg(&[(1, "finalizers", Ty::RepStr)])),
    (3, "status", Ty::Msg(&[(1, "phase", Ty::Str)])),
];
const OBJECT_REF: &[F] = &[
    (1, "kind", Ty::Str),
    (2, "namespace", Ty::Str),
    (3, "name", Ty::Str),
    (4, "uid", Ty::Str),
    (5, "apiVersion", Ty::Str),
    (6, "resourceVersion", Ty::Str),
    (7, "fieldPath", Ty::Str),
];
const SERVICE_ACCOUNT: &[F] = &[
    (1, "metadata", Ty::Msg(META)),
    (2, "secrets", Ty::RepMsg(OBJECT_REF)),
    (3, "imagePullSecrets", Ty::RepMsg(&[(1, "name", Ty::Str)])),
    (4, "automountServiceAccountToken", Ty::Bool),
];
const RESOURCE_ATTRIBUTES: &[F] = &[
    (1, "namespace", Ty::Str),
    (2, "verb", Ty::Str),
    (3, "group", Ty::Str),
    (4, "version", Ty::Str),
    (5, "resource", Ty::Str),
    (6, "subresource", Ty::Str),
    (7, "name", Ty::Str),
];
const SSAR: &[F] = &[
    (1, "metadata", Ty::Msg(META)),
    (
        2,
        "spec",
        Ty::Msg(&[
            (1, "resourceAttributes", Ty::Msg(RESOURCE_ATTRIBUTES)),
            (
                2,
                "nonResourceAttributes",
                Ty::Msg(&[(1, "path", Ty::Str), (2, "verb", Ty::Str)]),
            ),
        ]),
    ),
];
const DELETE_OPTIONS: &[F] = &[
    (1, "gracePeriodSeconds", Ty::Int),
    (
        2,
        "preconditions",
        Ty::Msg(&[(1, "uid", Ty::Str), (2, "resourceVersion", Ty::Str)]),
    ),
    (3, "orphanDependents", Ty::Bool),
    (4, "propagationPolicy", Ty::Str),
    (5, "dryRun", Ty::RepStr),
];
const TYPE_META: &[F] = &[(1, "apiVersion", Ty::Str), (2, "kind", Ty::Str)];

fn schema(api_version: &str, kind: &str) -> Option<&'static [F]> {
    Some(match (api_version, kind) {
        ("v1", "Secret") => SECRET,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => SSAR,
        ("meta.k8s.io/v1" | "v1", "DeleteOptions") => DELETE_OPTIONS,
        _ => return None,
    })
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.i).ok_or("truncated varint")?;
            self.i += 1;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()? as usize;
        let out = self.b.get(self.i..self.i + n).ok_or("truncated field")?;
        self.i += n;
        Ok(out)
    }

    fn skip(&mut self, wire: u64) -> Result<(), String> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => {
                self.i += 8;
                Ok(())
            }
            2 => self.bytes().map(|_| ()),
            5 => {
                self.i += 4;
                Ok(())
            }
            w => Err(format!("unsupported wire type {w}")),
        }
    }
}

fn text(b: &[u8]) -> Value {
    json!(String::from_utf8_lossy(b))
}

fn map_entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), String> {
    let mut r = Reader { b, i: 0 };
    let (mut k, mut v) = (String::new(), json!(""));
    while r.i < b.len() {
        let tag = r.varint()?;
        match (tag >> 3, tag & 7) {
            (1, 2) => k = String::from_utf8_lossy(r.bytes()?).into_owned(),
            (2, 2) => {
                let raw = r.bytes()?;
                v = if bytes_value {
                    json!(base64::engine::general_purpose::STANDARD.encode(raw))
                } else {
                    text(raw)
                };
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok((k, v))
}

fn message(b: &[u8], fields: &[F]) -> Result<Value, String> {
    let mut out = Map::new();
    let mut r = Reader { b, i: 0 };
    while r.i < b.len() {
        let tag = r.varint()?;
        let (num, wire) = (tag >> 3, tag & 7);
        let Some((_, name, ty)) = fields.iter().find(|(n, _, _)| *n as u64 == num) else {
            r.skip(wire)?;
            continue;
        };
        let name = (*name).to_owned();
        match *ty {
            Ty::Str => {
                out.insert(name, text(r.bytes()?));
            }
            Ty::Bytes => {
                out.insert(
                    name,
                    json!(base64::engine::general_purpose::STANDARD.encode(r.bytes()?)),
                );
            }
            Ty::Int => {
                out.insert(name, json!(r.varint()? as i64));
            }
            Ty::Bool => {
                out.insert(name, json!(r.varint()? != 0));
            }
            Ty::Time => {
                let t = message(r.bytes()?, TIME)?;
                let secs = t["seconds"].as_i64().unwrap_or(0).max(0) as u64;
                out.insert(name, json!(super::store::rfc3339(secs)));
            }
            Ty::Raw => {
                let raw = message(r.bytes()?, &[(1, "raw", Ty::Str)])?;
                let v: Value = serde_json::from_str(raw["raw"].as_str().unwrap_or("{}"))
                    .map_err(|e| e.to_string())?;
                out.insert(name, v);
            }
            Ty::Msg(sub) => {
                out.insert(name, message(r.bytes()?, sub)?);
            }
            Ty::MapStr | Ty::MapBytes => {
                let (k, v) = map_entry(r.bytes()?, matches!(ty, Ty::MapBytes))?;
                out.entry(name)
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("maps are objects")
                    .insert(k, v);
            }
            Ty::RepStr => {
                let v = text(r.bytes()?);
                out.entry(name)
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .expect("repeated fields are arrays")
                    .push(v);
            }
            Ty::RepMsg(sub) => {
                let v = message(r.bytes()?, sub)?;
                out.entry(name)
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .expect("repeated fields are arrays")
                    .push(v);
            }
        }
    }
    Ok(Value::Object(out))
}

/// Decode a protobuf request body to JSON. Err names what could not be decoded.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("a protobuf body starts with the magic k8s\\0")?;
    let envelope = message(
        rest,
        &[
            (1, "typeMeta", Ty::Msg(TYPE_META)),
            (2, "raw", Ty::Bytes),
            (4, "contentType", Ty::Str),
        ],
    )?;
    let api_version = envelope["typeMeta"]["apiVersion"]
        .as_str()
        .unwrap_or_default();
    let kind = envelope["typeMeta"]["kind"].as_str().unwrap_or_default();
    let fields = schema(api_version, kind).ok_or_else(|| {
        format!("the apiserver double decodes protobuf only for Secret, ConfigMap, Namespace, ServiceAccount, SelfSubjectAccessReview and DeleteOptions, not {api_version} {kind}")
    })?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(envelope["raw"].as_str().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let mut obj = message(&raw, fields)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((num << 3) | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_helm_release_secret_decodes() {
        // Secret{metadata{name, labels{owner: helm}}, data{release: "x"}, type}, hand-encoded.
        let label = [field(1, b"owner"), field(2, b"helm")].concat();
        let meta = [field(1, b"sh.helm.release.v1.r.v1"), field(11, &label)].concat();
        let entry = [field(1, b"release"), field(2, b"x")].concat();
        let secret = [
            field(1, &meta),
            field(2, &entry),
            field(3, b"helm.sh/release.v1"),
        ]
        .concat();
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &secret)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(v["kind"], "Secret");
        assert_eq!(v["metadata"]["name"], "sh.helm.release.v1.r.v1");
        assert_eq!(v["metadata"]["labels"]["owner"], "helm");
        assert_eq!(v["data"]["release"], "eA==");
        assert_eq!(v["type"], "helm.sh/release.v1");
    }

    #[test]
    fn other_kinds_are_named_in_the_refusal() {
        let type_meta = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta)].concat();
        assert!(decode(&body)
            .unwrap_err()
            .contains("not apps/v1 Deployment"));
        assert!(decode(b"{}").is_err());
    }
}
