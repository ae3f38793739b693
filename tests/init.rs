//! `bootstrap init` as a user runs it: every combination of its choices writes a file that
//! `bootstrap plan --offline` accepts unchanged, and an existing file is never replaced. The
//! Gateway API router (the default) plans without a warning; ingress-nginx with exactly one, that
//! its last chart is older than kind v0.32.0's default node.

use std::process::Command;

fn bootstrap(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(args)
        .env_remove("BOOTSTRAP_FILE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_combination_is_accepted_by_plan_offline_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for router in ["ingress-nginx", "gateway-api"] {
        for vcs in [&[][..], &["dev"][..], &["dev", "staging"][..]] {
            for registry in [false, true] {
                n += 1;
                let file = dir.path().join(format!("envs-{n}.yaml"));
                let f = file.to_str().unwrap();
                let mut args = vec!["-f", f, "init", "--router", router];
                if vcs.is_empty() {
                    args.push("--no-vclusters");
                }
                for v in vcs {
                    args.extend(["--vcluster", v]);
                }
                if registry {
                    args.push("--registry");
                }
                let (code, out) = bootstrap(&args);
                assert_eq!(code, 0, "{args:?}: {out}");
                let text = std::fs::read_to_string(&file).unwrap();
                assert!(text.starts_with("# Written by `bootstrap init`"), "{text}");

                let (code, out) = bootstrap(&["-f", f, "plan", "--offline"]);
                let label = format!("router {router}, vclusters {vcs:?}, registry {registry}");
                assert_eq!(code, 0, "{label}: {out}");
                let warnings: Vec<&str> =
                    out.lines().filter(|l| l.starts_with("warning:")).collect();
                if router == "ingress-nginx" {
                    assert_eq!(warnings.len(), 1, "{label}: {out}");
                    assert!(
                        warnings[0].contains("router.kind: ingress-nginx chart 4.15.1 is tested up to Kubernetes 1.35"),
                        "{label}: {out}"
                    );
                } else {
                    assert_eq!(warnings, [] as [&str; 0], "{label}: {out}");
                }
                for v in vcs {
                    assert!(
                        out.contains(&format!("context/{v}-vcluster")),
                        "{label}: {out}"
                    );
                }
                // The file is what was chosen.
                let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
                assert_eq!(
                    doc["registry"]["enabled"].as_bool().unwrap_or(false),
                    registry,
                    "{label}"
                );
                assert_eq!(doc["router"]["kind"], router, "{label}");
                let names: Vec<&str> = doc["vclusters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v["name"].as_str().unwrap())
                    .collect();
                assert_eq!(names, vcs, "{label}");
                // And unchanged by the plan.
                assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
            }
        }
    }
}

#[test]
fn an_existing_file_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("envs.yaml");
    std::fs::write(&file, "# mine\nvclusters: [{name: keep}]\n").unwrap();
    let (code, out) = bootstrap(&["-f", file.to_str().unwrap(), "init", "--registry"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "{} already exists; nothing was written",
            file.display()
        )),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "# mine\nvclusters: [{name: keep}]\n"
    );
}

#[test]
fn defaults_and_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    // The default file name, in the current folder, with one vcluster `dev`.
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .arg("init")
        .current_dir(dir.path())
        .env_remove("BOOTSTRAP_FILE")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(dir.path().join("envs.yaml")).unwrap();
    assert!(text.contains("vclusters:\n  - name: dev\n"), "{text}");
    assert!(text.contains("kind: gateway-api"), "{text}");
    assert!(text.contains("# registry:\n#   enabled: true"), "{text}");

    let f = dir.path().join("bad.yaml");
    let (code, out) = bootstrap(&["-f", f.to_str().unwrap(), "init", "--vcluster", "Dev_1"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("--vcluster: `Dev_1` is not a valid vcluster name"),
        "{out}"
    );
    assert!(!f.exists());
}

/// Issue 18: `init --vcluster` with a name `plan` then refuses (45 characters: its release
/// `vcluster-<name>` is over Helm's 53) is refused up front, with plan's own message.
#[test]
fn a_name_plan_would_refuse_is_refused_by_init_with_plans_words() {
    let dir = tempfile::tempdir().unwrap();
    let long = "a".repeat(45);
    let f = dir.path().join("envs.yaml");
    let fs = f.to_str().unwrap();
    let (code, said) = bootstrap(&["-f", fs, "init", "--vcluster", &long]);
    assert_eq!(code, 2, "{said}");
    assert!(!f.exists());
    // What plan says of the same name in the file init would have written.
    std::fs::write(&f, format!("vclusters:\n  - name: {long}\n")).unwrap();
    let (code, planned) = bootstrap(&["-f", fs, "plan", "--offline"]);
    assert_eq!(code, 2, "{planned}");
    let line = planned
        .lines()
        .find(|l| l.contains("vclusters[0].name: "))
        .unwrap_or_else(|| panic!("{planned}"));
    let message = line.split("vclusters[0].name: ").nth(1).unwrap();
    assert!(
        said.contains(&format!("--vcluster: {message}")),
        "{said}\n{planned}"
    );
    // 44 characters fit, and plan agrees.
    let ok = dir.path().join("ok.yaml");
    let (code, out) = bootstrap(&[
        "-f",
        ok.to_str().unwrap(),
        "init",
        "--vcluster",
        &"a".repeat(44),
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = bootstrap(&["-f", ok.to_str().unwrap(), "plan", "--offline"]);
    assert_eq!(code, 0, "{out}");
}
