//! Drift in what kind sets inside the node, on a real Docker engine with the kind double running
//! the kind node double (which serves the certificate names and Node labels the rendered kind
//! config asks for, as kind would): after `cluster.nodeLabels` or `cluster.extraCertSANs`
//! changed, `plan` says so (never "Nothing to change"), `up` stops and says how to fix it, and
//! `up --recreate` converges.

mod support;

use support::*;

fn file(spec: &Spec, extra: &str) -> String {
    format!("{}{extra}", spec.yaml())
}

#[test]
fn node_labels_and_certificate_names_are_compared_with_what_runs() {
    if !docker_or_skip("node_labels_and_certificate_names_are_compared_with_what_runs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("dr"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let path = dir.path().join("envs.yaml");
    let f = path.to_str().unwrap();
    let kc = dir.path().join("kubeconfig");
    let env = [("KUBECONFIG", kc.to_str().unwrap())];
    let write = |extra: &str| std::fs::write(&path, file(&spec, extra)).unwrap();

    write("  nodeLabels: {tier: a}\n  extraCertSANs: [a.example.com]\n");
    let up = bootstrap(&["-f", f, "up", "--no-verify"], &env);
    assert_eq!(up.code, 0, "{}", up.text());
    let plan = bootstrap(&["-f", f, "plan"], &env);
    assert_eq!(plan.code, 0, "{}", plan.text());
    assert!(
        plan.stdout.contains("Nothing to change"),
        "what runs matches the file: {}",
        plan.text()
    );
    let status = bootstrap(&["-f", f, "status", "-o", "json"], &env);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&status.stdout).unwrap()["cluster"]["state"],
        "converged",
        "{}",
        status.text()
    );

    // A label changed in the file: plan shows the recreate and, since `up` would stop for it
    // (no --recreate given), exits 1.
    write("  nodeLabels: {tier: b}\n  extraCertSANs: [a.example.com]\n");
    let plan = bootstrap(&["-f", f, "plan"], &env);
    assert_eq!(plan.code, 1, "{}", plan.text());
    assert!(
        plan.stdout.contains("`up` would stop before any change"),
        "{}",
        plan.text()
    );
    assert!(
        !plan.stdout.contains("Nothing to change"),
        "{}",
        plan.text()
    );
    assert!(
        plan.stdout.contains(&format!(
            "node label tier=b: {}-control-plane has tier=a",
            spec.name
        )),
        "{}",
        plan.text()
    );
    let up = bootstrap(&["-f", f, "up", "--no-verify"], &env);
    assert_eq!(up.code, 1, "{}", up.text());
    assert!(up.stderr.contains("needs to be recreated"), "{}", up.text());
    assert!(
        up.stderr.contains(&format!(
            "kubectl --context kind-{} label node {}-control-plane --overwrite tier=b",
            spec.name, spec.name
        )),
        "{}",
        up.text()
    );

    // A certificate name added in the file.
    write("  nodeLabels: {tier: a}\n  extraCertSANs: [a.example.com, b.example.com]\n");
    let plan = bootstrap(&["-f", f, "plan", "-o", "json"], &env);
    assert_eq!(plan.code, 1, "{}", plan.text());
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let actions = doc["actions"].to_string();
    assert!(
        actions.contains("API server certificate: the file wants it to hold b.example.com"),
        "{}",
        plan.text()
    );
    assert!(
        !actions.contains("a.example.com,"),
        "a.example.com is held: {actions}"
    );

    // --recreate makes what the file says; then nothing is left to change.
    let up = bootstrap(&["-f", f, "up", "--no-verify", "--recreate"], &env);
    assert_eq!(up.code, 0, "{}", up.text());
    let plan = bootstrap(&["-f", f, "plan"], &env);
    assert!(plan.stdout.contains("Nothing to change"), "{}", plan.text());
}
