//! Recreation without the internet (`cache:` on), on the whole `up` with the doubles: the kind
//! double and node double, the helm double (the real Helm engine) installing the contract charts,
//! a local chart repository that records every request, and a real registry as the images'
//! "upstream" (every image the charts run, as `bootstrap render images` lists them, pushed there
//! by the real docker CLI) behind a real pull-through cache.
//! - The first `up` downloads each chart's archive once, checked against its index digest, helm
//!   installs from the kept archive, and every image the charts run is pulled into the cache
//!   while the cluster is made.
//! - A recreated cluster (`down`, `up`) asks the chart repository nothing and fetches no layer
//!   from the upstream again.
//! - `down`, the upstream stopped, then `up --offline` rebuilds it all and verifies, with no
//!   request to the chart repository or the upstream.
//! - A chart version never kept, or an image never cached, stops `up --offline` before any
//!   change, naming it.

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
    if !docker_or_skip(test)
        || !unshare_works()
        || !charts_or_skip(test)
        || !support::registry::image_or_skip(test)
    {
        return;
    }
    let w = world_with(RouterUnderTest::IngressNginx);
    pin_node_image(&w);
    let _clean = Cleanup(vec![w.cluster.clone()]);
    // The images' registry: a name of the test's own (so no cache of the machine's is touched),
    // served by a real registry on kind's network, its requests logged.
    let registry = format!("{}.test:5000", w.cluster);
    let upstream = format!("{}-upstream", w.cluster);
    let upstream_port = free_port();
    let cache = format!("bootstrap-cache-{}-test-5000", w.cluster);
    let _containers = Containers(vec![cache.clone(), upstream.clone()]);
    let _ = docker_status(&["network", "create", "kind"]);
    assert!(docker_status(&[
        "run",
        "-d",
        "--name",
        &upstream,
        "--network",
        "kind",
        "-p",
        &format!("127.0.0.1:{upstream_port}:5000"),
        "-e",
        "REGISTRY_LOG_LEVEL=info",
        "bootstrap-test/registry:latest",
    ]));
    // The charts' images come from that registry (each chart's own values say where), the
    // cache in front of it.
    let ingress = format!("{{controller: {{image: {{registry: '{registry}', digest: ''}}, admissionWebhooks: {{patch: {{image: {{registry: '{registry}', digest: ''}}}}}}}}}}");
    let vcluster = format!("{{controlPlane: {{statefulSet: {{image: {{registry: '{registry}'}}}}, distro: {{k8s: {{image: {{registry: '{registry}'}}}}}}}}}}");
    let mut text = std::fs::read_to_string(&w.env_file).unwrap();
    text = text.replace("router:\n", &format!("router:\n  values: {ingress}\n"));
    for version in ["0.26.0", "0.36.1"] {
        text = text.replace(
            &format!("version: {version}}}}}"),
            &format!("version: {version}}}, values: {vcluster}}}"),
        );
    }
    text.push_str(&format!(
        "cache:\n  image: bootstrap-test/registry:latest\n  upstreams:\n    - {{host: '{registry}', remote: 'http://{upstream}:5000'}}\n"
    ));
    std::fs::write(&w.env_file, text).unwrap();
    let file = w.env_file.to_str().unwrap().to_owned();

    // What the charts run, as the user would ask: pushed to the upstream under those names.
    let listed = in_ns(
        &w,
        &bin(),
        &["-f", &file, "render", "images", "-o", "json"],
        &[],
    );
    assert_eq!(listed.code, 0, "{}", listed.text());
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let images: Vec<String> = listed["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        images.len(),
        5,
        "controller, and each vcluster's two: {listed}"
    );
    for i in &images {
        assert!(i.starts_with(&format!("{registry}/")), "{i}");
        let pushed = i.replacen(&registry, &format!("127.0.0.1:{upstream_port}"), 1);
        support::registry::push("bootstrap-test/busybox:latest", &pushed);
    }
    let pushed = support::registry::requests(&upstream);

    let first = up(&w, &[]);
    assert_eq!(first.code, 0, "{}", first.text());
    // Every image went through the cache while the cluster was made.
    assert!(
        first
            .text()
            .contains(&format!("warmed {n} of {n} image(s)", n = images.len())),
        "{}",
        first.text()
    );
    let cold = support::registry::requests(&upstream);
    let blobs = |log: &[String]| log.iter().filter(|l| l.contains("/blobs/")).count();
    assert!(
        blobs(&cold) > blobs(&pushed),
        "the warm-up fetched no layer"
    );
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
    // The warm recreation fetched no layer from the upstream (tags may be checked again).
    let warm = support::registry::requests(&upstream);
    assert_eq!(blobs(&warm), blobs(&cold), "{:?}", &warm[cold.len()..]);
    eprintln!(
        "upstream requests: {} after the pushes, {} after the cold up ({} blob reads), {} after the warm recreation ({} blob reads)",
        pushed.len(),
        cold.len(),
        blobs(&cold) - blobs(&pushed),
        warm.len(),
        blobs(&warm) - blobs(&cold)
    );

    // Offline after one online up, the upstream gone: everything comes back, with no request.
    let down = in_ns(&w, &bin(), &["-f", &file, "down"], &[]);
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(docker_status(&["stop", &upstream]));
    let offline = in_ns(&w, &bin(), &["-f", &file, "up", "--offline"], &[]);
    assert_eq!(offline.code, 0, "{}", offline.text());
    assert!(offline.text().contains("verify"), "{}", offline.text());
    assert_eq!(served(&w).len(), before, "{:?}", &served(&w)[before..]);

    // An image never cached: up --offline stops before any change and names it.
    let down = in_ns(&w, &bin(), &["-f", &file, "down"], &[]);
    assert_eq!(down.code, 0, "{}", down.text());
    let text = std::fs::read_to_string(&w.env_file).unwrap();
    std::fs::write(
        &w.env_file,
        text.replacen(
            &format!("statefulSet: {{image: {{registry: '{registry}'}}}}"),
            &format!("statefulSet: {{image: {{registry: '{registry}', tag: '9.9.9'}}}}"),
            1,
        ),
    )
    .unwrap();
    let missing = in_ns(&w, &bin(), &["-f", &file, "up", "--offline"], &[]);
    assert_ne!(missing.code, 0, "{}", missing.text());
    assert!(
        missing.text().contains("up stopped before any change")
            && missing.text().contains(&format!(
                "image {registry}/loft-sh/vcluster-pro:9.9.9 is not in the pull-through cache for {registry}"
            )),
        "{}",
        missing.text()
    );
    assert!(nodes(&w.cluster).is_empty(), "a change was made");
    std::fs::write(&w.env_file, text).unwrap();

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

    let _ = docker_status(&["volume", "rm", "-f", &cache]);
}
