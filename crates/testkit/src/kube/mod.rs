//! A kube-apiserver double that answers real clients (kubectl, the Helm engine, kube-rs): one
//! store of objects and one table of kinds behind the REST surface, discovery and OpenAPI v3 a
//! client needs. TLS and authentication stay with the shells (`ApiServer` in the crate root,
//! the kind node double in `node`).
//!
//! Real: the REST paths, verbs, status errors, resourceVersions, selectors, watch streams,
//! server-side apply with field managers, merge/strategic/JSON patches, garbage collection by
//! ownerReferences. Simulated: the controllers (see `controllers`), which play from what was
//! applied as if every pod ran. Not served: OpenAPI v2 (protobuf), built-in schemas (objects
//! are stored as sent), subresources other than reading `status`, admission webhooks.

pub mod controllers;
pub mod discovery;
pub mod kinds;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod selector;
pub mod server;
pub mod store;
pub mod table;

pub use server::{Api, Reply, Request};
pub use store::{Key, Store, Tx};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use std::convert::Infallible;

pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> hyper::Response<Body> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()).boxed())
        .unwrap()
}

pub fn json_response(status: u16, v: &serde_json::Value) -> hyper::Response<Body> {
    full(status, "application/json", v.to_string())
}

/// Turn a reply into an HTTP response; a watch streams its events as chunks.
pub fn into_response(reply: Reply) -> hyper::Response<Body> {
    match reply {
        Reply::Json {
            status,
            content_type,
            body,
        } => full(status, content_type, body.to_string()),
        Reply::Text { status, body } => full(status, "text/plain; charset=utf-8", body),
        Reply::Stream(rx) => {
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
            });
            hyper::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(BodyExt::boxed(StreamBody::new(stream)))
                .unwrap()
        }
    }
}

/// Read an HTTP request whole and answer it from `api`, the caller being authorised as
/// `allowed` says for SelfSubjectAccessReviews.
pub async fn serve(
    api: &Api,
    req: hyper::Request<hyper::body::Incoming>,
    allowed: bool,
) -> hyper::Response<Body> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (accept, content_type, user_agent) = (
        header("accept"),
        header("content-type"),
        header("user-agent"),
    );
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    into_response(api.handle(&Request {
        method: &method,
        path: &path,
        query: &query,
        accept: &accept,
        content_type: &content_type,
        user_agent: &user_agent,
        body: &body,
        allowed,
    }))
}
