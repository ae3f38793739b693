//! The warm-up's pulls (`drivers::warm`) against the real registry (distribution from Debian's
//! docker-registry, tests/support/registry-image.sh) as upstream and as pull-through cache: an
//! image pulled through the cache lands in it (pulled again with the upstream stopped, it is
//! served whole from the cache); a tag the upstream lacks fails in the registry's words; an
//! address nothing answers at is known at once, so `up` skips the warm-up instead of waiting.

mod support;

use bootstrap::drivers::warm;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use support::{docker, docker_or_skip, docker_status, free_port, unique, Containers};

fn ip(container: &str) -> String {
    docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        container,
    ])
    .trim()
    .to_owned()
}

#[test]
fn an_image_pulled_through_the_cache_is_kept_and_failures_are_said() {
    let test = "an_image_pulled_through_the_cache_is_kept_and_failures_are_said";
    if !docker_or_skip(test) {
        return;
    }
    if !support::registry::image_or_skip(test) {
        return;
    }
    let name = unique("warm");
    let (upstream, cache, net) = (
        format!("{name}-upstream"),
        format!("{name}-cache"),
        format!("{name}-net"),
    );
    let _c = Containers(vec![upstream.clone(), cache.clone()]);
    assert!(docker_status(&["network", "create", &net]));
    let port = free_port();
    assert!(docker_status(&[
        "run",
        "-d",
        "--name",
        &upstream,
        "--network",
        &net,
        "-p",
        &format!("127.0.0.1:{port}:5000"),
        "bootstrap-test/registry:latest",
    ]));
    assert!(docker_status(&[
        "run",
        "-d",
        "--name",
        &cache,
        "--network",
        &net,
        "-e",
        &format!("REGISTRY_PROXY_REMOTEURL=http://{upstream}:5000"),
        "bootstrap-test/registry:latest",
    ]));
    let pushed = format!("127.0.0.1:{port}/team/app:1");
    support::registry::push("bootstrap-test/busybox:latest", &pushed);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = format!("{}:5000", ip(&cache));
    rt.block_on(async {
        let mut up = false;
        for _ in 0..50 {
            if warm::reachable(&addr).await {
                up = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(up, "the cache at {addr} never answered");
        let client = warm::client();
        let flight = warm::InFlight::default();
        let image: bootstrap::drivers::warm::Reference =
            "upstream.test/team/app:1".parse().unwrap();

        let bytes = Arc::new(AtomicU64::new(0));
        warm::pull_through(&client, &addr, &image, bytes.clone(), &flight)
            .await
            .unwrap();
        let first = bytes.load(Ordering::Relaxed);
        assert!(first > 0, "nothing was read");

        // The upstream gone: the cache serves all of it from what it kept.
        assert!(docker_status(&["stop", &upstream]));
        let again = Arc::new(AtomicU64::new(0));
        warm::pull_through(&client, &addr, &image, again.clone(), &flight)
            .await
            .unwrap();
        assert_eq!(again.load(Ordering::Relaxed), first);

        // A tag nobody has: the registry's own words, not a hang.
        let missing: bootstrap::drivers::warm::Reference =
            "upstream.test/team/app:404".parse().unwrap();
        let e = warm::pull_through(&client, &addr, &missing, Arc::default(), &flight)
            .await
            .unwrap_err();
        let text = format!("{e:#}").to_lowercase();
        // As the registry says it, with the request that asked (the mirror form containerd uses).
        assert!(
            text.contains("manifest unknown")
                && text.contains("/v2/team/app/manifests/404?ns=upstream.test"),
            "{text}"
        );

        // Nothing listens: known within the 2 s the probe allows.
        let t = std::time::Instant::now();
        assert!(!warm::reachable(&format!("127.0.0.1:{}", free_port())).await);
        assert!(t.elapsed() < std::time::Duration::from_secs(3));
    });
    let _ = docker_status(&["network", "rm", &net]);
}
