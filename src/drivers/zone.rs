//! Gathering the evidence of where we stand: files, variables, this process's hostname, and
//! Docker's /info only when it can change the verdict. The verdict itself is `core::zone`.

use crate::core::zone::{classify, needs_engine_info, Evidence, ZoneVerdict, CONTAINER_VARS};
pub use crate::drivers::process::system_hostname as hostname;

/// The shell: read the files and variables. Docker's answers are passed in by the caller, which
/// has asked Docker anyway.
pub fn gather(
    docker: Option<&bollard::models::SystemInfo>,
    docker_endpoint: Option<String>,
) -> Evidence {
    let container_marker = ["/.dockerenv", "/run/.containerenv"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(str::to_owned);
    let container_vars = CONTAINER_VARS
        .iter()
        .filter_map(|v| {
            std::env::var(v)
                .ok()
                .filter(|x| !x.is_empty())
                .map(|x| format!("{v}={x}"))
        })
        .collect();
    Evidence {
        container_marker,
        container_vars,
        kernel_release: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned()),
        docker_os: docker.and_then(|i| i.operating_system.clone()),
        docker_name: docker.and_then(|i| i.name.clone()),
        hostname: hostname(),
        docker_host: std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()),
        docker_endpoint,
    }
}

/// Gather and classify, asking Docker's /info only when it can change the verdict.
pub async fn detect(conn: &crate::drivers::docker::Conn) -> ZoneVerdict {
    let mut e = gather(None, Some(conn.endpoint.uri.clone()));
    if needs_engine_info(&e) {
        if let Ok(info) = conn.docker.info().await {
            e = gather(Some(&info), Some(conn.endpoint.uri.clone()));
        }
    }
    classify(&e)
}
