//! What must hold for any input to the two readers of user files. A fuzz target runs one of
//! these per input; `tests/fuzz_regressions.rs` in the main workspace replays the seeds and
//! every past finding through this same file, so a fix stays fixed in the ordinary test run.
//! Depends only on `bootstrap` and its own dependencies (serde_json, serde-saphyr).

use bootstrap::core::config::{self, AccessMode, Override};
use bootstrap::core::kubeconfig::{doc, Entry};
use serde_json::Value;

/// envs.yaml, with optional variables: bytes before the first NUL are `key=value` lines (the
/// keys BOOTSTRAP_* variables set), the rest is the file. A seed without NUL is a plain file.
pub fn envs_yaml(data: &[u8]) {
    let (vars, file) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    // A file that is not UTF-8 is refused before parsing (read_to_string).
    let Ok(text) = std::str::from_utf8(file) else {
        return;
    };
    let overrides: Vec<Override> = String::from_utf8_lossy(vars)
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| {
            config::load::OVERRIDES
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(key, _)| Override {
                    key,
                    value: v.to_owned(),
                    from: format!("BOOTSTRAP_{}", key.to_ascii_uppercase()),
                })
        })
        .collect();
    let loaded = config::load_str(text, "fuzz.yaml", &overrides);

    // Every finding says where, which field and what; positions lie within the text, whose
    // lines YAML counts at LF, CRLF and a lone CR alike.
    let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() + 1;
    for d in &loaded.diags.items {
        assert!(!d.field.is_empty(), "a finding without a field: {d:?}");
        assert!(!d.message.is_empty(), "a finding without a message: {d:?}");
        assert!(
            d.line <= lines,
            "line {} of a {lines}-line text: {d:?}",
            d.line
        );
        let _ = d.to_string();
    }
    assert_eq!(
        loaded.env.is_some(),
        !loaded.diags.has_errors(),
        "an environment exactly when there is no error"
    );
    let Some(env) = &loaded.env else { return };

    // Everything downstream of a valid file is total.
    let kind = bootstrap::core::render::kind::kind_config_value(env);
    let yaml = bootstrap::core::render::kind::kind_config(env);
    let back: Value = serde_saphyr::from_str(&yaml)
        .unwrap_or_else(|e| panic!("the kind config we write does not read back ({e}):\n{yaml}"));
    assert_eq!(
        back, kind,
        "the kind config reads back as rendered:\n{yaml}"
    );
    let router = bootstrap::core::router::router_for(env);
    let _ = router.release(env).values;
    let _ = router.all_objects(env);
    for v in &env.vclusters {
        let _ = bootstrap::core::render::vcluster_values(env, v);
    }
    for mode in AccessMode::NAMES {
        let mode: AccessMode = mode.parse().expect("listed modes parse");
        let _ = bootstrap::core::render::contexts(env, mode);
    }
    let plan = bootstrap::steps::runner::plan_offline(
        env,
        &bootstrap::steps::Options::default(),
        &bootstrap::progress::Progress::new(false),
    )
    .expect("an offline plan of a valid file");
    let _ = bootstrap::core::plan::format_plan(&plan.plan);

    // What validation promises: every host port kind is asked to publish is bound once
    // (kind fails mid-create otherwise), and every context name is unique.
    let needed = bootstrap::core::ports::needed(env);
    for (i, a) in needed.iter().enumerate() {
        for b in &needed[..i] {
            let overlap = a.port.host_ip == b.port.host_ip
                || a.port.host_ip == "0.0.0.0"
                || b.port.host_ip == "0.0.0.0";
            assert!(
                !(a.port.host_port == b.port.host_port
                    && a.port.protocol == b.port.protocol
                    && overlap),
                "valid file, but {} and {} bind host port {} twice:\n{text}",
                b.field,
                a.field,
                a.port.host_port
            );
        }
    }
    let mut contexts = vec![env.cluster.context.as_str()];
    contexts.extend(env.vclusters.iter().map(|v| v.context.as_str()));
    let unique: std::collections::BTreeSet<_> = contexts.iter().collect();
    assert_eq!(
        unique.len(),
        contexts.len(),
        "duplicate contexts in a valid file"
    );
}

fn entry() -> Entry {
    Entry {
        context: "fuzz-context".into(),
        cluster: "fuzz-cluster".into(),
        user: "fuzz-user".into(),
        creds: doc::Credentials {
            server: "https://127.0.0.1:6443".into(),
            ca_pem: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
            client_cert_pem: None,
            client_key_pem: None,
            token: Some("t".into()),
        },
        tls_server_name: Some("localhost".into()),
        insecure_skip_tls_verify: false,
        namespace: None,
    }
}

/// The user's document with the lists our edits leave empty taken out: writing and then
/// removing our entries may leave `clusters: []` where there was no list (kubectl reads both
/// the same); everything else must be exactly as it was.
fn without_empty_lists(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        for key in ["clusters", "users", "contexts"] {
            if matches!(m.get(key), Some(Value::Array(a)) if a.is_empty())
                || m.get(key) == Some(&Value::Null)
            {
                m.remove(key);
            }
        }
    }
    v
}

/// Run `check` as bootstrap runs every command: on a thread with a 1 GiB stack (src/main.rs), since
/// a kubeconfig may nest as deep as kubectl reads (10,000 levels) and the tree is built, written
/// and dropped by recursive code. A panic in it is this thread's panic.
fn on_bootstraps_stack(check: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        let t = std::thread::Builder::new()
            .stack_size(1 << 30)
            .spawn_scoped(s, check)
            .expect("a thread with bootstrap's stack");
        if let Err(panic) = t.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

/// Kubeconfig text: the fast path agrees with serde-saphyr, what we write reads back as the same
/// tree, lookups are total, and our own entries come and go leaving the rest as it was.
pub fn kubeconfig(data: &[u8]) {
    on_bootstraps_stack(|| kubeconfig_on_this_stack(data));
}

fn kubeconfig_on_this_stack(data: &[u8]) {
    // The store refuses a file that is not UTF-8 rather than rewriting replacement characters.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fast = doc::parse(text);
    let reference = doc::parse_reference(text);
    match (&fast, &reference) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the fast path and serde-saphyr disagree:\n{text}"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("the fast path gave {a:?}, serde-saphyr {b:?}:\n{text}"),
    }
    let Ok(d) = fast else { return };

    let written = doc::to_yaml(&d)
        .unwrap_or_else(|e| panic!("cannot write a document we read ({e}):\n{text}"));
    let reread = doc::parse(&written).unwrap_or_else(|e| {
        panic!("our own output does not read back ({e}):\n{written}\nfrom:\n{text}")
    });
    assert_eq!(
        reread, d,
        "our output reads back differently:\n{written}\nfrom:\n{text}"
    );

    for name in doc::context_names(&d) {
        let _ = doc::context_view(&d, &name);
        if let Ok(mut one) = doc::standalone(&d, &name) {
            let _ = doc::flatten(&mut one, &mut |_| {
                Err(std::io::Error::other("no files here"))
            });
        }
        let _ = doc::credentials(&d, &name);
    }

    let owner = "env/fuzz";
    if d.get("current-context").and_then(Value::as_str) == Some(entry().context.as_str()) {
        // The user's current-context already names our context, which this file does not
        // define: another KUBECONFIG file does, and ours would shadow it. That is a name
        // conflict across files, for the ownership checks (not this file's edits) to refuse.
        return;
    }
    let mut edited = d.clone();
    let Ok(added) = doc::upsert(&mut edited, &[entry()], owner) else {
        return;
    };
    let again = doc::upsert(&mut edited.clone(), &[entry()], owner)
        .unwrap_or_else(|e| panic!("a second upsert failed ({e}):\n{text}"));
    assert!(again.is_empty(), "a second upsert changed {again}:\n{text}");
    let written = doc::to_yaml(&edited).expect("write the edited document");
    assert_eq!(
        doc::parse(&written).expect("read it back"),
        edited,
        "the edited document reads back differently:\n{written}"
    );
    if doc::set_current(&mut edited, "fuzz-context", owner).is_err() {
        panic!("cannot make our own new context current:\n{text}");
    }
    let removed = doc::remove_owned(&mut edited, owner).expect("remove what we wrote");
    assert!(!removed.is_empty() || added.is_empty());
    if d.as_object().is_some_and(|m| m.is_empty()) {
        // A new file got kubectl's header; nothing of the user's was there to keep.
        return;
    }
    let mut before = without_empty_lists(&d);
    let mut after = without_empty_lists(&edited);
    // current-context: restored to what it was (or cleared when it was unset or empty).
    let cur = |v: &mut Value| {
        v.as_object_mut()
            .and_then(|m| m.remove("current-context"))
            .filter(|c| c.as_str().is_some_and(|s| !s.is_empty()))
    };
    let (was, now) = (cur(&mut before), cur(&mut after));
    assert_eq!(
        now,
        was.filter(|c| c.is_string()),
        "current-context not restored:\n{text}"
    );
    assert_eq!(
        after, before,
        "our entries came and went, but the user's document changed:\n{text}"
    );
}

/// The largest repeat count `kubeconfig_many` builds: files of thousands of contexts, as long-lived
/// laptops and platform teams' merged files have, beyond libFuzzer's input length.
pub const MANY: usize = 3_000;

/// A kubeconfig of thousands of items, built from a small input so that libFuzzer can mutate it:
/// two bytes of repeat count (little-endian, up to `MANY`), then `head NUL item NUL tail`; the
/// text is `head`, then `item` that many times with each `{i}` in it replaced by its index (so
/// names can be unique, or not), then `tail`. Without NULs the whole input is the item. The same
/// checks as `kubeconfig` hold for the result.
pub fn kubeconfig_many(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let count = (u16::from_le_bytes([data[0], data[1]]) as usize).min(MANY);
    let mut parts = data[2..].splitn(3, |&b| b == 0);
    let (head, item, tail) = match (parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(i), Some(t)) => (h, i, t),
        (Some(h), Some(i), None) => (h, i, &[][..]),
        (Some(i), None, None) => (&[][..], i, &[][..]),
        _ => return,
    };
    let (Ok(head), Ok(item), Ok(tail)) = (
        std::str::from_utf8(head),
        std::str::from_utf8(item),
        std::str::from_utf8(tail),
    ) else {
        return;
    };
    let mut text = String::with_capacity(head.len() + item.len() * count + tail.len());
    text.push_str(head);
    for i in 0..count {
        text.push_str(&item.replace("{i}", &i.to_string()));
    }
    text.push_str(tail);
    kubeconfig(text.as_bytes());
}
