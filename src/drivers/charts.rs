//! Chart archives kept by digest (with `cache:` on): each one `up` installs is downloaded once,
//! checked against the sha256 its repository's index gives, kept in bootstrap's cache folder
//! (`charts/kept.json` records where each repository's chart version is), and installed from
//! there. The repository is asked again only for a chart version not kept yet, so a recreated
//! cluster installs with no request, and `up --offline` installs from what is kept or stops,
//! before any change, naming what is missing.

use crate::core::charts::{key, locate};
use crate::drivers::fetch::Fetcher;
use anyhow::{anyhow, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Kept {
    url: String,
    sha256: String,
}

fn record_path(cache: &Path) -> PathBuf {
    cache.join("charts").join("kept.json")
}

fn read_record(cache: &Path) -> BTreeMap<String, Kept> {
    std::fs::read(record_path(cache))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Written whole or not at all: a temporary file beside it, then renamed over it.
fn write_record(cache: &Path, record: &BTreeMap<String, Kept>) -> Result<()> {
    let path = record_path(cache);
    let dir = path.parent().unwrap_or(cache);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, &serde_json::to_vec_pretty(record)?)?;
    tmp.persist(&path)
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// The kept archive of `name` `version` from `repo`, fetched and kept first when it is not (and
/// `offline` is false). `fetcher` carries the cache folder and how progress is shown.
pub fn ensure(
    fetcher: &Fetcher,
    offline: bool,
    repo: &str,
    name: &str,
    version: &str,
) -> Result<PathBuf> {
    let cache = fetcher
        .cache
        .clone()
        .ok_or_else(|| anyhow!("no cache folder (HOME and XDG_CACHE_HOME are unset): chart {name} {version} cannot be kept"))?;
    let k = key(repo, name, version);
    let mut record = read_record(&cache);
    if let Some(kept) = record.get(&k) {
        let mut only_cache = fetcher.clone();
        only_cache.offline = true;
        if let Ok(p) = only_cache.fetch(&kept.url, &kept.sha256) {
            return Ok(p);
        }
    }
    if offline {
        return Err(anyhow!(
            "chart {name} {version} from {repo} is not in bootstrap's cache (offline)\n  hint: run `bootstrap up` once with network access: each chart it installs is kept by digest"
        ));
    }
    let index_url = format!("{}/index.yaml", repo.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let index = agent
        .get(&index_url)
        .call()
        .map_err(|e| anyhow!("reading {index_url}: {e}"))?
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| anyhow!("reading {index_url}: {e}"))?;
    let located = locate(repo, &index, name, version).map_err(|e| anyhow!(e))?;
    let mut online = fetcher.clone();
    online.offline = false;
    let path = online
        .fetch(&located.url, &located.sha256)
        .map_err(|e| anyhow!("fetching chart {name} {version}: {e}"))?;
    record.insert(
        k,
        Kept {
            url: located.url,
            sha256: located.sha256,
        },
    );
    write_record(&cache, &record)?;
    Ok(path)
}
