//! Pure: a chart's archive as a Helm repository's `index.yaml` lists it (`entries.<name>[]` with
//! `version`, `urls` and `digest`, the archive's sha256: what `helm repo index` writes and
//! `helm pull --verify`-less installs trust). With `cache:` on, `up` keeps each archive by that
//! digest and installs from it, asking the repository again only for a version it has not kept.

/// Where the archive is and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub url: String,
    pub sha256: String,
}

/// A URL in the index is absolute, or relative to the repository (Helm's `ResolveReferenceURL`).
pub fn resolve(repo: &str, url: &str) -> String {
    if url.contains("://") {
        url.to_owned()
    } else {
        format!(
            "{}/{}",
            repo.trim_end_matches('/'),
            url.trim_start_matches('/')
        )
    }
}

/// Find `name` at `version` in the repository's index.
pub fn locate(repo: &str, index_yaml: &str, name: &str, version: &str) -> Result<Located, String> {
    let index: serde_json::Value = serde_saphyr::from_str(index_yaml)
        .map_err(|e| format!("{repo}/index.yaml is not a chart repository index: {e}"))?;
    let versions = index["entries"][name]
        .as_array()
        .ok_or_else(|| format!("{repo} has no chart named {name}"))?;
    let want = version.trim_start_matches('v');
    let entry = versions
        .iter()
        .find(|e| e["version"].as_str().map(|v| v.trim_start_matches('v')) == Some(want))
        .ok_or_else(|| format!("{repo} has no {name} {version}"))?;
    let url = entry["urls"][0]
        .as_str()
        .ok_or_else(|| format!("{repo}: {name} {version} lists no download URL"))?;
    let sha256 = entry["digest"]
        .as_str()
        .filter(|d| d.len() == 64 && d.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| {
            format!("{repo}: {name} {version} has no sha256 digest in the index, so it cannot be kept by digest")
        })?;
    Ok(Located {
        url: resolve(repo, url),
        sha256: sha256.to_ascii_lowercase(),
    })
}

/// The key a kept archive is recorded under: one repository's one chart version.
pub fn key(repo: &str, name: &str, version: &str) -> String {
    format!(
        "{}|{name}|{}",
        repo.trim_end_matches('/'),
        version.trim_start_matches('v')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "apiVersion: v1\nentries:\n  vcluster:\n  - name: vcluster\n    version: 0.36.1\n    digest: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789ABCDEF\n    urls:\n    - charts/vcluster-0.36.1.tgz\n  - name: vcluster\n    version: 0.26.0\n    digest: aa\n    urls:\n    - https://cdn.example.com/vcluster-0.26.0.tgz\n";

    #[test]
    fn the_archive_and_its_digest_come_from_the_index() {
        let l = locate("http://repo.local/", INDEX, "vcluster", "v0.36.1").unwrap();
        assert_eq!(l.url, "http://repo.local/charts/vcluster-0.36.1.tgz");
        assert_eq!(
            l.sha256,
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        );
        let e = locate("http://repo.local", INDEX, "vcluster", "0.26.0").unwrap_err();
        assert!(e.contains("no sha256 digest"), "{e}");
        assert!(locate("r", INDEX, "vcluster", "9.9.9")
            .unwrap_err()
            .contains("no vcluster 9.9.9"));
        assert!(locate("r", INDEX, "traefik", "1")
            .unwrap_err()
            .contains("no chart named traefik"));
        assert!(locate("r", "[", "x", "1").is_err());
        assert_eq!(key("http://r/", "x", "v1.2.3"), "http://r|x|1.2.3");
        assert_eq!(resolve("http://r", "https://o/x.tgz"), "https://o/x.tgz");
    }
}
