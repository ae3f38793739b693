//! Which kubeconfig files to read and which one to write, as kubectl decides it.
//!
//! client-go's loading rules are the reference (`tools/clientcmd/loader.go`,
//! `ClientConfigLoadingRules.Load`, and `config.go`, `PathOptions.GetDefaultFilename`):
//! - Reading: `--kubeconfig` alone when given (a missing one is an error), else every file of
//!   the KUBECONFIG list merged, missing ones skipped, the first to define a name winning, else
//!   `~/.kube/config`.
//! - Writing something new: the explicit file; else a one-file KUBECONFIG's file; else the
//!   first file of the list that exists, else the *last* one; else `~/.kube/config`. An entry
//!   that already exists is changed in the file that holds it (client-go's `LocationOfOrigin`).
//!
//! Two things kubectl leaves to the shell are done here, because users write these paths in
//! envs.yaml where no shell expands them: a leading `~` or `$HOME` (`${HOME}`) is the home
//! folder, and a relative `kubeconfig.path` is relative to the envs.yaml's own folder (the file
//! is read from wherever the user stands; `--kubeconfig` stays relative to where they stand).

use std::ffi::{OsStr, OsString};
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
    #[error("{what} `{}` starts with `~` or `$HOME`, but HOME is not set: write the full path", .path.to_string_lossy())]
    NoHomeToExpand { what: &'static str, path: OsString },
}

/// Where a kubeconfig path was named: it decides what a relative path is relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named<'a> {
    /// `--kubeconfig` (or BOOTSTRAP_KUBECONFIG): relative to where the user stands, as kubectl.
    Flag,
    /// `kubeconfig.path` in the envs.yaml at this path: relative to that file's folder.
    Setting { envs_file: &'a Path },
}

/// Pure: `~`, `~/x`, `$HOME`, `$HOME/x`, `${HOME}/x` made absolute with `home`; a relative path
/// from `kubeconfig.path` joined to the envs.yaml's folder. `~user` forms are left as written
/// (kubectl does not expand them either; only a shell does).
pub fn expand(raw: &OsStr, named: Named<'_>, home: Option<&Path>) -> Result<PathBuf, PathsError> {
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(raw);
    let rest = ["~", "${HOME}", "$HOME"].iter().find_map(|p| {
        let r = bytes.strip_prefix(p.as_bytes())?;
        (r.is_empty() || r[0] == b'/').then_some(r)
    });
    let path = match rest {
        Some(rest) => {
            let home = home.filter(|h| !h.as_os_str().is_empty()).ok_or_else(|| {
                PathsError::NoHomeToExpand {
                    what: match named {
                        Named::Flag => "--kubeconfig",
                        Named::Setting { .. } => "kubeconfig.path",
                    },
                    path: raw.to_owned(),
                }
            })?;
            let rest: &OsStr = std::os::unix::ffi::OsStrExt::from_bytes(&rest[rest.len().min(1)..]);
            if rest.is_empty() {
                home.to_path_buf()
            } else {
                home.join(rest)
            }
        }
        None => PathBuf::from(raw),
    };
    Ok(match named {
        Named::Setting { envs_file } if path.is_relative() => {
            let dir = envs_file.parent().unwrap_or(Path::new(""));
            if dir.as_os_str().is_empty() {
                path
            } else {
                dir.join(path)
            }
        }
        _ => path,
    })
}

/// Resolve from explicit inputs; pure. `explicit` is `--kubeconfig` (or the environment file's
/// `kubeconfig.path`), already expanded; `env` the raw KUBECONFIG value, `home` the home folder.
pub fn resolve(
    explicit: Option<&Path>,
    env: Option<&OsStr>,
    home: Option<&Path>,
) -> Result<Paths, PathsError> {
    if let Some(p) = explicit.filter(|p| !p.as_os_str().is_empty()) {
        return Ok(Paths {
            files: vec![p.to_path_buf()],
            explicit: true,
        });
    }
    if let Some(list) = env.filter(|v| !v.is_empty()) {
        let mut files: Vec<PathBuf> = Vec::new();
        // client-go's `filepath.SplitList`, then `deduplicate`: empty entries dropped, the first
        // of a repeated path kept.
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

/// The files for a command: the flag first, else the envs.yaml's `kubeconfig.path` (relative to
/// that file), else KUBECONFIG, else `~/.kube/config`, with HOME from the process environment.
pub fn for_command(
    flag: Option<&OsStr>,
    setting: Option<(&str, &Path)>,
) -> Result<Paths, PathsError> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let explicit = match (flag.filter(|f| !f.is_empty()), setting) {
        (Some(f), _) => Some(expand(f, Named::Flag, home.as_deref())?),
        (None, Some((s, envs_file))) if !s.is_empty() => Some(expand(
            OsStr::new(s),
            Named::Setting { envs_file },
            home.as_deref(),
        )?),
        _ => None,
    };
    let env = std::env::var_os("KUBECONFIG");
    resolve(explicit.as_deref(), env.as_deref(), home.as_deref())
}

/// Resolve from the process environment (KUBECONFIG, HOME) and a `--kubeconfig` value.
pub fn from_env(flag: Option<&str>) -> Result<Paths, PathsError> {
    for_command(flag.map(OsStr::new), None)
}

impl Paths {
    /// The file a new entry goes to, given a way to ask whether a file exists: client-go's
    /// `GetDefaultFilename` (the first file of the list that exists, else the last).
    pub fn write_target_with(&self, exists: impl Fn(&Path) -> bool) -> PathBuf {
        if self.files.len() > 1 {
            if let Some(p) = self.files.iter().find(|p| exists(p)) {
                return p.clone();
            }
            return self.files[self.files.len() - 1].clone();
        }
        self.files[0].clone()
    }

    /// The file a new entry goes to, looking at the file system now.
    pub fn write_target(&self) -> PathBuf {
        self.write_target_with(|p| p.exists())
    }
}

/// The folder `p` is in: `.` for a bare file name.
pub fn parent_dir(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<&OsStr> {
        Some(OsStr::new(s))
    }

    fn p(s: &str) -> Option<&Path> {
        Some(Path::new(s))
    }

    #[test]
    fn explicit_flag_wins_over_everything() {
        let p = resolve(p("/x/k"), os("/a:/b"), p("/home/u")).unwrap();
        assert_eq!(p.files, vec![PathBuf::from("/x/k")]);
        assert!(p.explicit);
    }

    #[test]
    fn kubeconfig_list_is_split_deduplicated_and_skips_empty_entries() {
        let p = resolve(None, os("/a::/b:/a:"), p("/home/u")).unwrap();
        assert_eq!(p.files, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert!(!p.explicit);
    }

    #[test]
    fn home_default_when_nothing_else() {
        let got = resolve(None, None, p("/home/u")).unwrap();
        assert_eq!(got.files, vec![PathBuf::from("/home/u/.kube/config")]);
        let got = resolve(p(""), os(""), p("/home/u")).unwrap();
        assert_eq!(got.files, vec![PathBuf::from("/home/u/.kube/config")]);
        assert_eq!(resolve(None, os(":"), None), Err(PathsError::NoHome));
    }

    /// client-go `PathOptions.GetDefaultFilename`: the first existing file of the list, else
    /// the last (kind's own rule, the first, was ours before: kubectl is the reference).
    #[test]
    fn a_new_entry_goes_to_the_first_existing_file_else_the_last() {
        let got = resolve(None, os("/a:/b:/c"), None).unwrap();
        assert_eq!(
            got.write_target_with(|f| f == Path::new("/b") || f == Path::new("/c")),
            PathBuf::from("/b")
        );
        assert_eq!(got.write_target_with(|_| false), PathBuf::from("/c"));
        let single = resolve(None, os("/only"), None).unwrap();
        assert_eq!(single.write_target_with(|_| false), PathBuf::from("/only"));
    }

    #[test]
    fn tilde_and_home_are_expanded_in_the_flag_and_the_setting() {
        let home = p("/home/u");
        let envs = Path::new("/work/repo/envs/localdev.yaml");
        let setting = Named::Setting { envs_file: envs };
        for raw in [
            "~/.kube/config",
            "$HOME/.kube/config",
            "${HOME}/.kube/config",
        ] {
            for named in [Named::Flag, setting] {
                assert_eq!(
                    expand(OsStr::new(raw), named, home).unwrap(),
                    PathBuf::from("/home/u/.kube/config"),
                    "{raw}"
                );
            }
        }
        assert_eq!(
            expand(OsStr::new("~"), Named::Flag, home).unwrap(),
            PathBuf::from("/home/u")
        );
        // Not a home reference: left as written (then relative to the envs.yaml for a setting).
        assert_eq!(
            expand(OsStr::new("~other/k"), Named::Flag, home).unwrap(),
            PathBuf::from("~other/k")
        );
        assert_eq!(
            expand(OsStr::new("$HOMEDIR/k"), Named::Flag, home).unwrap(),
            PathBuf::from("$HOMEDIR/k")
        );
        assert_eq!(
            expand(OsStr::new("kube/dev.yaml"), setting, home).unwrap(),
            PathBuf::from("/work/repo/envs/kube/dev.yaml")
        );
        assert_eq!(
            expand(OsStr::new("kube/dev.yaml"), Named::Flag, home).unwrap(),
            PathBuf::from("kube/dev.yaml")
        );
        assert_eq!(
            expand(OsStr::new("/abs/k"), setting, home).unwrap(),
            PathBuf::from("/abs/k")
        );
        // An envs.yaml named without a folder: relative to where the user stands, as it is.
        let bare = Named::Setting {
            envs_file: Path::new("envs.yaml"),
        };
        assert_eq!(
            expand(OsStr::new("k"), bare, home).unwrap(),
            PathBuf::from("k")
        );
    }

    #[test]
    fn a_home_reference_without_home_is_an_error_naming_the_field() {
        let e = expand(OsStr::new("~/.kube/config"), Named::Flag, None).unwrap_err();
        assert!(
            e.to_string().starts_with("--kubeconfig `~/.kube/config`"),
            "{e}"
        );
        let envs = Path::new("/e.yaml");
        let e = expand(
            OsStr::new("$HOME/k"),
            Named::Setting { envs_file: envs },
            Some(Path::new("")),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("kubeconfig.path `$HOME/k`"),
            "{e}"
        );
    }

    #[test]
    fn non_utf8_paths_are_kept_byte_for_byte() {
        use std::os::unix::ffi::OsStrExt;
        let raw = OsStr::from_bytes(b"~/k\xff");
        let got = expand(raw, Named::Flag, p("/h")).unwrap();
        assert_eq!(got.as_os_str().as_bytes(), b"/h/k\xff");
    }
}
