//! Over TLS: the authenticated `/version` and the one authorised call, and reading what an
//! answer that is not the API says.

#[allow(unused_imports)]
use super::*;

/// An HTTP/1.1 connection (keep-alive): the requests of one context, or of every context that
/// shares it. Its driver task ends with it.
pub(super) struct Http {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Http {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Http {
    /// hyper's HTTP/1 handshake only sets the connection up: no byte is sent yet.
    pub(super) async fn over(io: Box<dyn Io>, layer: Layer) -> Result<Http, Failure> {
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .map_err(|e| Failure::Transport {
                    layer,
                    timed_out: false,
                    message: error_chain(&e),
                })?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Http { sender, driver })
    }

    /// The server closed it (or it broke): the next request needs a new connection.
    pub(super) fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

/// auth (GET /version) then api (a SelfSubjectAccessReview), on a connection of its own.
pub(super) async fn http_layers(
    t: &Target,
    io: Box<dyn Io>,
    timeout: Duration,
    layers: &mut Vec<LayerReport>,
) -> Result<(), Failure> {
    let mut http = Http::over(io, Layer::Auth).await?;
    requests(t, &mut http, timeout, layers).await
}

/// `t`'s two requests on `http`: the authenticated `/version` (auth), then whether its user may
/// list namespaces (api), each a layer with its own timeout.
pub(super) async fn requests(
    t: &Target,
    http: &mut Http,
    timeout: Duration,
    layers: &mut Vec<LayerReport>,
) -> Result<(), Failure> {
    let authority = if t.host.contains(':') {
        format!("[{}]:{}", t.host, t.port)
    } else {
        format!("{}:{}", t.host, t.port)
    };
    let transport = |layer: Layer| {
        move || Failure::Transport {
            layer,
            timed_out: true,
            message: String::new(),
        }
    };
    let version_path = format!("{}/version", t.base_path);
    let sender = &mut http.sender;
    let auth = async {
        let (status, body) = send(
            sender,
            t,
            &authority,
            "GET",
            &version_path,
            None,
            Layer::Auth,
        )
        .await?;
        if status != 200 {
            return Err(Failure::Http {
                layer: Layer::Auth,
                status,
                path: version_path.clone(),
                message: status_message(&body),
            });
        }
        let Some(version) = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["gitVersion"].as_str().map(str::to_string))
        else {
            return Err(Failure::Http {
                layer: Layer::Auth,
                status,
                path: version_path.clone(),
                message: "the answer is not a version document (no gitVersion)".into(),
            });
        };
        Ok(((), format!("{} as {}", version, who(&t.credential))))
    };
    step(layers, Layer::Auth, timeout, transport(Layer::Auth), auth).await?;
    let review_path = format!(
        "{}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        t.base_path
    );
    let body = r#"{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","spec":{"resourceAttributes":{"verb":"list","resource":"namespaces"}}}"#;
    let sender = &mut http.sender;
    let api = async {
        let (status, answer) = send(
            sender,
            t,
            &authority,
            "POST",
            &review_path,
            Some(body),
            Layer::Api,
        )
        .await?;
        if !(200..300).contains(&status) {
            return Err(Failure::Http {
                layer: Layer::Api,
                status,
                path: review_path.clone(),
                message: status_message(&answer),
            });
        }
        let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        match v["status"]["allowed"].as_bool() {
            Some(true) => Ok(((), "may list namespaces".to_string())),
            Some(false) => Err(Failure::Denied {
                reason: v["status"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            }),
            None => Err(Failure::Http {
                layer: Layer::Api,
                status,
                path: review_path.clone(),
                message: "the answer holds no status.allowed".into(),
            }),
        }
    };
    step(layers, Layer::Api, timeout, transport(Layer::Api), api).await
}

pub(super) fn who(c: &Credential) -> String {
    match c {
        Credential::None => "anonymous".into(),
        Credential::ClientCert { subject } => format!("client cert {subject}"),
        Credential::Token => "token".into(),
        Credential::Basic => "basic auth".into(),
        Credential::Plugin { what } => what.clone(),
    }
}

pub(super) async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    t: &Target,
    authority: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    layer: Layer,
) -> Result<(u16, Bytes), Failure> {
    let broke = |e: &dyn std::error::Error| Failure::Transport {
        layer,
        timed_out: false,
        message: error_chain(e),
    };
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority)
        .header("accept", "application/json")
        .header(
            "user-agent",
            concat!("bootstrap-verify/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(token) = &t.token {
        req = req.header("authorization", format!("Bearer {token}"));
    } else if let Some((u, p)) = &t.basic {
        use base64::Engine as _;
        req = req.header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            ),
        );
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_string())))
        .map_err(|e| broke(&e))?;
    sender.ready().await.map_err(|e| broke(&e))?;
    let resp = sender.send_request(req).await.map_err(|e| broke(&e))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| broke(&e))?
        .to_bytes();
    Ok((status, bytes))
}

/// kube's errors say `client error (Connect)`; the cause is further down the source chain.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

pub(super) fn status_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_default()
}
