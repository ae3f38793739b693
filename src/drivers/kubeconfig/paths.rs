//! Which kubeconfig files to read and which one to write.
//!
//! Reading follows kubectl: `--kubeconfig` alone when given, else every file of the KUBECONFIG
//! list (missing ones skipped), else `~/.kube/config`. Writing follows kind: the first file of
//! the list that exists, else the first entry. (client-go would pick the *last* entry when none
//! exists; we side with kind, whose clusters these are.)

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Files in precedence order: the first to define a name wins on reads.
    pub files: Vec<PathBuf>,
    /// True when a single file was named explicitly (flag or environment file): it alone is read,
    /// and, as kubectl does, a missing one is an error on reads.
    pub explicit: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathsError {
    #[error(
        "no kubeconfig location: KUBECONFIG is unset and HOME is unknown (pass --kubeconfig FILE)"
    )]
    NoHome,
}

/// Resolve from explicit inputs; pure. `explicit` is `--kubeconfig` (or the environment file's
/// `kubeconfig.path`), `env` the raw KUBECONFIG value, `home` the home directory.
pub fn resolve(
    explicit: Option<&str>,
    env: Option<&OsStr>,
    home: Option<&Path>,
) -> Result<Paths, PathsError> {
    if let Some(p) = explicit.filter(|p| !p.is_empty()) {
        return Ok(Paths {
            files: vec![PathBuf::from(p)],
            explicit: true,
        });
    }
    if let Some(list) = env.filter(|v| !v.is_empty()) {
        let mut files: Vec<PathBuf> = Vec::new();
        // kubectl splits with the OS list separator, drops empty entries and duplicates.
        for p in std::env::split_paths(list) {
            if !p.as_os_str().is_empty() && !files.contains(&p) {
                files.push(p);
            }
        }
        if !files.is_empty() {
            return Ok(Paths {
                files,
                explicit: false,
            });
        }
    }
    let home = home
        .filter(|h| !h.as_os_str().is_empty())
        .ok_or(PathsError::NoHome)?;
    Ok(Paths {
        files: vec![home.join(".kube").join("config")],
        explicit: false,
    })
}

/// Resolve from the process environment (KUBECONFIG, HOME).
pub fn from_env(explicit: Option<&str>) -> Result<Paths, PathsError> {
    let env = std::env::var_os("KUBECONFIG");
    let home = std::env::var_os("HOME").map(PathBuf::from);
    resolve(explicit, env.as_deref(), home.as_deref())
}

impl Paths {
    /// The file bootstrap writes to, given a way to ask whether a file exists.
    pub fn write_target_with(&self, exists: impl Fn(&Path) -> bool) -> PathBuf {
        if self.files.len() > 1 {
            if let Some(p) = self.files.iter().find(|p| exists(p)) {
                return p.clone();
            }
        }
        self.files[0].clone()
    }

    /// The file bootstrap writes to, looking at the file system now.
    pub fn write_target(&self) -> PathBuf {
        self.write_target_with(|p| p.exists())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<&OsStr> {
        Some(OsStr::new(s))
    }

    #[test]
    fn explicit_flag_wins_over_everything() {
        let p = resolve(Some("/x/k"), os("/a:/b"), Some(Path::new("/home/u"))).unwrap();
        assert_eq!(p.files, vec![PathBuf::from("/x/k")]);
        assert!(p.explicit);
    }

    #[test]
    fn kubeconfig_list_is_split_deduplicated_and_skips_empty_entries() {
        let p = resolve(None, os("/a::/b:/a:"), Some(Path::new("/home/u"))).unwrap();
        assert_eq!(p.files, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert!(!p.explicit);
    }

    #[test]
    fn home_default_when_nothing_else() {
        let p = resolve(None, None, Some(Path::new("/home/u"))).unwrap();
        assert_eq!(p.files, vec![PathBuf::from("/home/u/.kube/config")]);
        let p = resolve(Some(""), os(""), Some(Path::new("/home/u"))).unwrap();
        assert_eq!(p.files, vec![PathBuf::from("/home/u/.kube/config")]);
        assert_eq!(resolve(None, os(":"), None), Err(PathsError::NoHome));
    }

    #[test]
    fn write_target_is_first_existing_else_first_entry() {
        let p = resolve(None, os("/a:/b:/c"), None).unwrap();
        assert_eq!(
            p.write_target_with(|f| f == Path::new("/b") || f == Path::new("/c")),
            PathBuf::from("/b")
        );
        assert_eq!(p.write_target_with(|_| false), PathBuf::from("/a"));
        let single = resolve(None, os("/only"), None).unwrap();
        assert_eq!(single.write_target_with(|_| false), PathBuf::from("/only"));
    }
}
