//! Entry point of the kind node double (see `testkit::node`), run inside a container by the kind
//! double: `kind-node-double <cluster> <node-name> <host-api-port> <out-dir>`. It serves the API
//! on :6443 and the passthrough router on :443, and writes `<out-dir>/kubeconfig` for the host
//! and, as a kind node holds it, the admin kubeconfig at /etc/kubernetes/admin.conf (its server
//! the node's own name, as kubeadm writes it; bootstrap reads it through Docker's archive API).
//! KIND_NODE_LABELS (`k=v,...`) and KIND_CERT_SANS (`a,b`) carry the config's node labels and
//! API certificate names; KIND_WORKERS (`a,b`) the worker nodes' names, whose Nodes it
//! registers as their kubelets would, and KIND_CONTROL_PLANES the other control planes'.
//! KIND_LOAD_BALANCER names kind's load balancer in front of several control planes.
//! `kind-node-double --worker` runs as a node that serves nothing (a worker, or a control plane
//! after the first); `kind-node-double --proxy <host:port>` as kind's load balancer.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `kind-node-double --worker`: a worker node. Its kubelet's part (registering the Node) is
    // played by the control plane (KIND_WORKERS); the container only has to exist and run, as
    // the files bootstrap writes into every node (containerd's hosts.toml) land in it.
    if args.get(1).map(String::as_str) == Some("--worker") {
        loop {
            std::thread::park();
        }
    }
    // `kind-node-double --proxy <host:port>`: kind's load balancer in front of several control
    // planes (haproxy there), forwarding the API port to the first control plane.
    if let [_, flag, target] = args.as_slice() {
        if flag == "--proxy" {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(testkit::node::forward("0.0.0.0:6443", target))
                .expect("forward");
            return;
        }
    }
    let [_, cluster, node_name, host_api_port, out] = args.as_slice() else {
        eprintln!("usage: kind-node-double <cluster> <node-name> <host-api-port> <out-dir>");
        std::process::exit(2);
    };
    // What the kind double read from the rendered config, as kind would apply it.
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let labels: std::collections::BTreeMap<String, String> = var("KIND_NODE_LABELS")
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let list = |k: &str| -> Vec<String> {
        var(k)
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut sans = list("KIND_CERT_SANS");
    // With several control planes kubeadm's controlPlaneEndpoint is the load balancer, and
    // kubeadm puts its name in the API certificate and in admin.conf.
    let lb = var("KIND_LOAD_BALANCER");
    if !lb.is_empty() {
        sans.push(lb.clone());
    }
    let node = testkit::node::Node::with_config(node_name, &sans, &labels);
    node.add_nodes(&list("KIND_CONTROL_PLANES"), &list("KIND_WORKERS"));
    let kubeconfig = node.kubeconfig(cluster, &format!("https://127.0.0.1:{host_api_port}"));
    let tmp = format!("{out}/kubeconfig.tmp");
    std::fs::write(&tmp, kubeconfig).expect("write kubeconfig");
    std::fs::rename(&tmp, format!("{out}/kubeconfig")).expect("publish kubeconfig");
    std::fs::create_dir_all("/etc/kubernetes").expect("create /etc/kubernetes");
    std::fs::write(
        "/etc/kubernetes/admin.conf",
        node.kubeconfig(
            cluster,
            &format!(
                "https://{}:6443",
                if lb.is_empty() { node_name } else { &lb }
            ),
        ),
    )
    .expect("write admin.conf");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(testkit::node::serve(
        node,
        "0.0.0.0:6443".parse().unwrap(),
        "0.0.0.0:443".parse().unwrap(),
    ))
    .expect("serve");
}
