//! Serve the apiserver double on 127.0.0.1:<port> and write a kubeconfig for it: for trying
//! real clients against it by hand. `cargo run -p testkit --example serve -- <kubeconfig-path>`
use base64::Engine;
fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/double.kubeconfig".into());
    let pki = testkit::Pki::new("kubernetes");
    let srv = testkit::ApiServer::start(
        "127.0.0.1:0",
        &pki.server(&["127.0.0.1", "localhost"]),
        testkit::Auth {
            client_ca_pem: Some(pki.ca_pem.clone()),
            ..Default::default()
        },
    );
    let admin = pki.client("kubernetes-admin", "system:masters");
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    std::fs::write(&path, format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: d\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority-data: {}\ncontexts:\n- name: d\n  context: {{cluster: d, user: d}}\ncurrent-context: d\nusers:\n- name: d\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        srv.port(), b(&pki.ca_pem), b(&admin.cert_pem), b(&admin.key_pem))).unwrap();
    eprintln!("serving on {} ; kubeconfig {path}", srv.port());
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
