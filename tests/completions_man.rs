//! `bootstrap completions` and `bootstrap man`, run as a user runs them: each script is checked
//! by its own shell and, for bash, made to complete; the man page names every command and
//! renders with `man -l`.

use bootstrap::cli::Cli;
use clap::CommandFactory;
use std::io::Write;
use std::process::{Command, Stdio};

fn bootstrap(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect()
}

/// A shell that must be there under CI (scripts/test.sh installs it); elsewhere say why not.
fn shell(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is missing under CI: scripts/test.sh installs it"
        );
        eprintln!("skipped: {name} is not installed (scripts/test.sh installs it)");
    }
    found
}

fn check_with(program: &str, args: &[&str], script: &str) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} refused the script: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bash_completion_parses_and_completes_commands_and_values() {
    let (code, script, err) = bootstrap(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    check_with("bash", &["-n"], &script);
    // Complete `bootstrap <TAB>` and `bootstrap completions <TAB>` as bash would.
    let probe = format!(
        "{script}\nCOMP_WORDS=(bootstrap ''); COMP_CWORD=1; _bootstrap bootstrap '' bootstrap; echo \"${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(bootstrap completions ''); COMP_CWORD=2; _bootstrap bootstrap '' completions; echo \"${{COMPREPLY[*]}}\"\n"
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let first: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
    for sub in subcommands() {
        assert!(
            first.contains(&sub.as_str()),
            "`{sub}` not offered: {first:?}"
        );
    }
    let second = lines.next().unwrap_or("");
    for sh in ["bash", "zsh", "fish", "powershell"] {
        assert!(
            second.split(' ').any(|w| w == sh),
            "{sh} not offered: {second}"
        );
    }
}

#[test]
fn zsh_fish_and_powershell_scripts() {
    for sh in ["zsh", "fish", "powershell"] {
        let (code, script, err) = bootstrap(&["completions", sh]);
        assert_eq!(code, 0, "{err}");
        for sub in subcommands() {
            assert!(script.contains(&sub), "{sh} script lacks `{sub}`");
        }
    }
    let (_, zsh, _) = bootstrap(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef bootstrap"));
    if shell("zsh") {
        check_with("zsh", &["-n"], &zsh);
    }
    let (_, fish, _) = bootstrap(&["completions", "fish"]);
    if shell("fish") {
        check_with("fish", &["--no-execute"], &fish);
    }
    let (_, ps, _) = bootstrap(&["completions", "powershell"]);
    assert!(ps.contains("Register-ArgumentCompleter -Native -CommandName 'bootstrap'"));
    let (code, _, err) = bootstrap(&["completions", "tcsh"]);
    assert_eq!(code, 2, "an unknown shell is a usage error");
    assert!(err.contains("possible values"), "{err}");
}

#[test]
fn the_man_page_holds_every_command_and_renders() {
    let (code, page, err) = bootstrap(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(page.contains(".TH bootstrap 1"), "not a man page");
    for sub in subcommands() {
        let heading = format!(".SH \"BOOTSTRAP {}\"", sub.to_uppercase());
        assert!(page.contains(&heading), "no section for `{sub}`");
    }
    // A command's own options are there, not just its name.
    assert!(
        page.contains("\\-\\-keep\\-cluster"),
        "down's option is missing"
    );
    assert!(page.contains("\\-\\-offline"));
    if !shell("man") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bootstrap.1");
    std::fs::write(&file, &page).unwrap();
    let out = Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("BOOTSTRAP UP"), "{text}");
    assert!(text.contains("--keep-cluster"), "{text}");
}

#[test]
fn man_dir_writes_one_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = bootstrap(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let mut want: Vec<String> = subcommands()
        .iter()
        .map(|s| format!("bootstrap-{s}.1"))
        .collect();
    want.push("bootstrap.1".into());
    for f in &want {
        let p = dir.path().join(f);
        assert!(p.is_file(), "{f} missing; printed:\n{out}");
        assert!(std::fs::read_to_string(p).unwrap().contains(".TH "));
    }
}
