//! The pull-through caches' shell around `drivers::docker::cache`: where the upstream
//! credentials come from. They are read from a Docker config file (`auths`, as `docker login`
//! writes it): the one `cache.credentials` names, else the user's own
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`) when it exists. Never from
//! envs.yaml itself, which is committed and shared.

use crate::core::config::Cache;
use crate::core::render::cache::{credentials_from_docker_config, Credentials};
use anyhow::{anyhow, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The user's Docker config file, as the docker CLI finds it, when it exists.
pub fn default_docker_config() -> Option<PathBuf> {
    let dir = match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".docker"),
    };
    let file = dir.join("config.json");
    file.is_file().then_some(file)
}

/// Each upstream's credentials, and notes for the user (credentials kept in a helper, which
/// bootstrap does not run). `named`: the file `cache.credentials` names (it must exist).
pub fn credentials(
    cache: &Cache,
    named: Option<&Path>,
) -> Result<(BTreeMap<String, Credentials>, Vec<String>)> {
    if !cache.enabled {
        return Ok(Default::default());
    }
    let file = match named {
        Some(p) => p.to_path_buf(),
        None => match default_docker_config() {
            Some(p) => p,
            None => return Ok(Default::default()),
        },
    };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        anyhow!(
            "cache.credentials: cannot read {}: {e}\n  hint: name a Docker config file (`docker login` writes ~/.docker/config.json), or remove cache.credentials",
            file.display()
        )
    })?;
    let (found, helpers) = credentials_from_docker_config(&text, &cache.upstreams)
        .map_err(|e| anyhow!("cache.credentials: {}: {e}", file.display()))?;
    let notes = helpers
        .into_iter()
        .map(|h| {
            format!(
                "the credentials for {h} in {} are kept by a credential helper, which bootstrap does not run: its cache pulls {h} anonymously (name a file with `auths` in cache.credentials to use them)",
                file.display()
            )
        })
        .collect();
    Ok((found, notes))
}
