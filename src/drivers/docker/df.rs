//! Volume sizes from Docker's `/system/df`, asked directly: bollard's typed answer follows the
//! newest API (`VolumeUsage.Items`), and engines before API 1.52 answer with `Volumes` instead,
//! which it cannot read. Both shapes are read here; a size Docker does not report (`-1`) is none.

use super::connect::Conn;
use http_body_util::BodyExt;
use std::collections::BTreeMap;

/// Pure: name -> size in bytes, from either shape of the answer.
pub fn sizes_from_df(body: &serde_json::Value) -> BTreeMap<String, i64> {
    let items = body["Volumes"]
        .as_array()
        .or_else(|| body["VolumeUsage"]["Items"].as_array());
    items
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let size = v["UsageData"]["Size"].as_i64().filter(|s| *s >= 0)?;
            Some((v["Name"].as_str()?.to_owned(), size))
        })
        .collect()
}

/// Volume sizes, through the engine's socket; None when it could not be asked (a TCP engine, or
/// an answer we cannot read).
pub async fn volume_sizes(conn: &Conn) -> Option<BTreeMap<String, i64>> {
    let path = conn.endpoint.socket_path()?.to_owned();
    let stream = tokio::net::UnixStream::connect(&path).await.ok()?;
    let (mut send, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(connection);
    let req = http::Request::get("/system/df?type=volume")
        .header("Host", "docker")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .ok()?;
    let res = send.send_request(req).await.ok()?;
    if !res.status().is_success() {
        return None;
    }
    let body = res.into_body().collect().await.ok()?.to_bytes();
    Some(sizes_from_df(&serde_json::from_slice(&body).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_of_the_answer_are_read() {
        let old = serde_json::json!({"Volumes": [
            {"Name": "bootstrap-cache-docker-io", "UsageData": {"Size": 2048, "RefCount": 1}},
            {"Name": "other", "UsageData": {"Size": -1, "RefCount": 0}}]});
        assert_eq!(
            sizes_from_df(&old),
            BTreeMap::from([("bootstrap-cache-docker-io".to_owned(), 2048)])
        );
        let new = serde_json::json!({"VolumeUsage": {"Items": [
            {"Name": "v", "UsageData": {"Size": 7, "RefCount": 0}}]}});
        assert_eq!(sizes_from_df(&new)["v"], 7);
        assert!(sizes_from_df(&serde_json::json!({})).is_empty());
    }
}
