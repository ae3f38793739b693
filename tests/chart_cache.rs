//! Charts kept by digest (`cache:` on), on the whole `up` with the doubles: the kind double and
//! node double, the helm double (the real Helm engine) installing the contract charts, and a
//! local chart repository that records every request. The first `up` downloads each chart's
//! archive once, checked against its index digest, and helm installs from the kept archive; a
//! recreated cluster (`down`, `up`) asks the repository nothing; `down`, then `up --offline`
//! rebuilds it with no request; a chart version never kept stops `up --offline` before any
//! change, naming it.

mod support;

use support::charts::charts_or_skip;
use support::full::*;
use support::*;

fn served(w: &World) -> Vec<String> {
    w.charts.served.lock().unwrap().clone()
}

#[test]
fn charts_are_kept_by_digest_and_a_recreated_cluster_asks_the_repository_nothing() {
    let test = "charts_are_kept_by_digest_and_a_recreated_cluster_asks_the_repository_nothing";
    if !docker_or_skip(test) || !unshare_works() || !charts_or_skip(test) {
        return;
    }
    let built = std::process::Command::new(repo().join("tests/support/registry-image.sh"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let w = world_with(RouterUnderTest::IngressNginx);
    pin_node_image(&w);
    let _clean = Cleanup(vec![w.cluster.clone()]);
    // A cache of its own (an upstream that is never asked: the node double pulls nothing).
    let upstream = format!("{}.test:5000", w.cluster);
    let cache = format!("bootstrap-cache-{}-test-5000", w.cluster);
    let _cache = Containers(vec![cache.clone()]);
    let mut text = std::fs::read_to_string(&w.env_file).unwrap();
    text.push_str(&format!(
        "cache:\n  image: bootstrap-test/registry:latest\n  upstreams:\n    - {{host: '{upstream}', remote: 'http://127.0.0.1:9'}}\n"
    ));
    std::fs::write(&w.env_file, text).unwrap();
    let file = w.env_file.to_str().unwrap().to_owned();

    let first = up(&w, &[]);
    assert_eq!(first.code, 0, "{}", first.text());
    let archives: Vec<String> = served(&w)
        .into_iter()
        .filter(|p| p.ends_with(".tgz"))
        .collect();
    let mut sorted = archives.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "ingress-nginx-4.14.1.tgz",
            "vcluster-0.26.0.tgz",
            "vcluster-0.36.1.tgz"
        ],
        "each archive downloaded once, by bootstrap (helm installed from the kept file)"
    );
    let kept = w.dir.path().join(".cache/bootstrap/charts/kept.json");
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&kept).unwrap()).unwrap();
    assert_eq!(record.as_object().unwrap().len(), 3, "{record}");

    // Recreated: the same releases, from the kept archives; the repository hears nothing.
    let before = served(&w).len();
    let down = in_ns(&w, &bin(), &["-f", &file, "down"], &[]);
    assert_eq!(down.code, 0, "{}", down.text());
    let again = up(&w, &[]);
    assert_eq!(again.code, 0, "{}", again.text());
    assert!(
        again
            .stdout
            .contains("helm install dev-vcluster/vcluster-dev-helm"),
        "{}",
        again.text()
    );
    assert_eq!(served(&w).len(), before, "{:?}", &served(&w)[before..]);

    // Offline after one online up: everything comes back, with no request.
    let down = in_ns(&w, &bin(), &["-f", &file, "down"], &[]);
    assert_eq!(down.code, 0, "{}", down.text());
    let offline = in_ns(&w, &bin(), &["-f", &file, "up", "--offline"], &[]);
    assert_eq!(offline.code, 0, "{}", offline.text());
    assert_eq!(served(&w).len(), before, "{:?}", &served(&w)[before..]);

    // A chart version never kept: up --offline stops before any change and names it.
    let text = std::fs::read_to_string(&w.env_file).unwrap();
    std::fs::write(
        &w.env_file,
        text.replace("version: 4.14.1", "version: 4.15.1"),
    )
    .unwrap();
    let missing = in_ns(&w, &bin(), &["-f", &file, "up", "--offline"], &[]);
    assert_ne!(missing.code, 0, "{}", missing.text());
    assert!(
        missing.text().contains("up stopped before any change")
            && missing.text().contains("chart ingress-nginx 4.15.1 from")
            && missing.text().contains("is not in bootstrap's cache"),
        "{}",
        missing.text()
    );
    assert_eq!(served(&w).len(), before);

    let down = in_ns(&w, &bin(), &["-f", &file, "down"], &[]);
    assert_eq!(down.code, 0, "{}", down.text());
    let _ = docker_status(&["volume", "rm", "-f", &cache]);
}
