//! Loading the kubeconfig verify reads, as kubectl does: `--kubeconfig` alone when given, else
//! every existing file of `$KUBECONFIG` merged (missing ones skipped), else `~/.kube/config`.

use anyhow::{bail, Context as _};
use kube::config::Kubeconfig;
use std::path::PathBuf;

/// Read the kubeconfig the way kubectl does: `--kubeconfig` alone when given, else every
/// existing file of `$KUBECONFIG` merged (missing ones skipped), else `~/.kube/config`.
pub fn load_kubeconfig(explicit: Option<&str>) -> anyhow::Result<Kubeconfig> {
    let files = kubeconfig_files(explicit, std::env::var_os("KUBECONFIG"), home_dir());
    if files.is_empty() {
        bail!("no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config (`bootstrap up` writes it)");
    }
    let mut merged: Option<Kubeconfig> = None;
    for f in &files {
        // kube's error repeats the io error in its chain; say it once, as the user needs it.
        if let Err(e) = std::fs::metadata(f) {
            bail!("cannot read kubeconfig {}: {e}", f.display());
        }
        let kc = Kubeconfig::read_from(f)
            .with_context(|| format!("reading kubeconfig {}", f.display()))?;
        merged = Some(match merged {
            None => kc,
            Some(m) => m
                .merge(kc)
                .with_context(|| format!("merging kubeconfig {}", f.display()))?,
        });
    }
    Ok(merged.unwrap_or_default())
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Which files make up the kubeconfig. An explicit file is used even when missing, so the
/// error names it; list entries that do not exist are skipped, as kubectl does.
pub fn kubeconfig_files(
    explicit: Option<&str>,
    env: Option<std::ffi::OsString>,
    home: Option<PathBuf>,
) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![PathBuf::from(p)];
    }
    if let Some(list) = env {
        let files: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !files.is_empty() {
            return files.into_iter().filter(|p| p.exists()).collect();
        }
    }
    home.map(|h| h.join(".kube").join("config"))
        .filter(|p| p.exists())
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_file_choice() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&b, "").unwrap();
        let list = std::env::join_paths([&a, &b]).unwrap();
        assert_eq!(
            kubeconfig_files(None, Some(list.clone()), None),
            vec![b.clone()]
        );
        assert_eq!(
            kubeconfig_files(Some("/x/y"), Some(list), None),
            vec![PathBuf::from("/x/y")]
        );
        assert!(kubeconfig_files(None, None, Some(dir.path().to_path_buf())).is_empty());
    }
}
