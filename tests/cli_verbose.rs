//! `-v` through the binary, on the whole stack (kind double running the kind node double, helm
//! double): each program run with its arguments, exit status and duration, each kube API call
//! with method, path, status and duration; `-vv` more; stderr only; nothing without `-v`.

mod support;

use support::full::*;
use support::*;

fn lines<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn verbose_shows_commands_and_api_calls_with_their_timing() {
    if !docker_or_skip("verbose_shows_commands_and_api_calls_with_their_timing") || !unshare_works()
    {
        return;
    }
    let w = world();
    let _clean = Cleanup(vec![w.cluster.clone()]);
    let f = w.env_file.to_str().unwrap();

    // -v: stdout stays the JSON document; the log is on stderr.
    let first = in_ns(&w, &bin(), &["-f", f, "-v", "up", "-o", "json"], &[]);
    assert_eq!(first.code, 0, "{}", first.text());
    let doc: serde_json::Value = serde_json::from_str(&first.stdout)
        .unwrap_or_else(|e| panic!("stdout is only the document ({e}): {}", first.text()));
    assert_eq!(doc["ok"], true);
    let err = &first.stderr;
    let kind = lines(err, "run kind create cluster --config ");
    assert_eq!(kind.len(), 1, "{err}");
    assert!(
        kind[0].contains(&format!("--name {}", w.cluster))
            && kind[0].contains("-> exit status: 0 ("),
        "argv, exit status and duration: {}",
        kind[0]
    );
    assert!(kind[0].starts_with('['), "stamped: {}", kind[0]);
    let helm = lines(err, "run helm upgrade --install vcluster-dev-helm ");
    assert_eq!(helm.len(), 1, "{err}");
    assert!(helm[0].contains("-> exit status: 0 ("), "{}", helm[0]);
    // Each Docker Engine API call too (bollard shows the request only: no timing).
    let docker = lines(err, "docker api: ");
    assert!(
        docker
            .iter()
            .any(|l| l.contains("docker api: GET /containers/json")),
        "{err}"
    );
    // Releases are read from helm's own records through the API, not by running helm.
    assert!(lines(err, "run helm list").is_empty(), "{err}");
    assert!(
        lines(err, &format!("api kind-{}: ", w.cluster))
            .iter()
            .any(|l| l.contains(
                "GET /api/v1/namespaces/dev-vcluster/secrets?&labelSelector=owner%3Dhelm"
            )),
        "{err}"
    );
    let api = lines(err, &format!("api kind-{}: ", w.cluster));
    assert!(
        api.iter().any(|l| l
            .contains("PATCH /apis/networking.k8s.io/v1/namespaces/dev-vcluster/ingresses/")
            && l.contains("-> 201 (")),
        "{err}"
    );
    assert!(
        api.iter().any(|l| l.contains("GET /api/v1/namespaces/dev-vcluster/secrets/vc-vcluster-dev-helm")),
        "{err}"
    );
    assert!(lines(err, " bytes").is_empty(), "sizes only at -vv: {err}");

    // -vv: sizes and lock waits too.
    let second = in_ns(&w, &bin(), &["-f", f, "-vv", "up"], &[]);
    assert_eq!(second.code, 0, "{}", second.text());
    assert!(
        lines(&second.stderr, "api kind-")
            .iter()
            .any(|l| l.contains("-> 200 (") && l.contains("; sent 0 bytes, received ")),
        "{}",
        second.stderr
    );
    // Converged: nothing is run, so no `run` line at any verbosity.
    assert!(
        lines(&second.stderr, "] run ").is_empty(),
        "{}",
        second.stderr
    );

    // Without -v nothing of it.
    let quiet = up(&w, &[]);
    assert_eq!(quiet.code, 0, "{}", quiet.text());
    for needle in ["run kind", "run helm", "api kind-", " bytes"] {
        assert!(
            lines(&quiet.stderr, needle).is_empty(),
            "{needle}: {}",
            quiet.stderr
        );
    }

    // A converged up writes no kubeconfig, so takes no lock; down does, and -vv says when.
    let down = in_ns(&w, &bin(), &["-f", f, "-vv", "down"], &[]);
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(
        !lines(&down.stderr, "lock taken after").is_empty(),
        "{}",
        down.stderr
    );
}
