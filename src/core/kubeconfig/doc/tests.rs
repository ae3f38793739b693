use super::*;

const FOREIGN: &str = r#"apiVersion: v1
kind: Config
preferences:
  colors: true
  extensions:
  - name: pref-ext
    extension: {a: 1}
clusters:
- cluster:
    server: https://prod.example:443
    certificate-authority-data: Zm9v
    extensions:
    - name: cluster_info
      extension:
        last-update: Wed, 01 Jan 2025 00:00:00 UTC
        provider: minikube.sigs.k8s.io
        version: v1.35.0
    future-field: {nested: [1, 2, {deep: yes}]}
  name: prod
users:
- name: prod-admin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws
      args: [eks, get-token]
contexts:
- context:
    cluster: prod
    user: prod-admin
    namespace: payments
  name: prod
current-context: prod
x-unknown-top: {keep: me}
"#;

fn entry(ctx: &str) -> Entry {
    Entry {
        context: ctx.into(),
        cluster: format!("{ctx}-cluster"),
        user: format!("{ctx}-user"),
        creds: Credentials {
            server: "https://127.0.0.1:6443".into(),
            ca_pem: b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n".to_vec(),
            client_cert_pem: Some(b"CERT".to_vec()),
            client_key_pem: Some(b"KEY".to_vec()),
            ..Default::default()
        },
        tls_server_name: Some("localhost".into()),
        ..Default::default()
    }
}

fn find<'a>(doc: &'a Value, kind: Kind, name: &str) -> &'a Value {
    items(doc, kind)
        .iter()
        .find(|i| item_name(i) == Some(name))
        .unwrap_or_else(|| panic!("{kind} {name} missing"))
}

fn without_ours(doc: &Value, owner: &str) -> Value {
    let mut d = doc.clone();
    remove_owned(&mut d, owner).unwrap();
    d
}

/// The fast path must build exactly the tree serde-saphyr builds, or step aside.
fn both_ways(text: &str) -> (Option<Option<Value>>, Result<Option<Value>, DocError>) {
    (
        super::super::fastyaml::parse(text, &resolve_scalar),
        parse_with_serde(text),
    )
}

#[test]
fn fast_path_agrees_with_serde_saphyr() {
    let corpus = [
        FOREIGN.to_string(),
        to_yaml(&{
            let mut d = parse(FOREIGN).unwrap();
            upsert(&mut d, &[entry("dev"), entry("b")], "o").unwrap();
            d
        })
        .unwrap(),
        "a: 1\nb: -2\nc: 1.5\nd: 1e3\ne: 0x1F\nf: 0755\ng: 1_000\nh: ~\ni: null\nj: Null\nk: yes\nl: No\nm: on\nnn: y\no: 2024-01-01\np: 12:30\nq: +1\nr: .5\ns:\nt: ''\nu: \"\"\n".into(),
        "plain: multi\n  line\n  plain\nsq: 'it''s'\ndq: \"tab\\there \\u00e9 \\n\"\n".into(),
        "# c\n---\nflow: {a: [1, two, {c: d}], e: []}\nempty: {}\nlist:\n- - nested\n  - 2\n- k: v\n  k2: [x]\n...\n".into(),
        "url: https://h:6443/p?q=1#frag\nhash: a#b\ncolon: a:b\ndash: -x\nq: ?x\ntilde: ~x\nnot: nonsense\ninfish: Infinity\n".into(),
        "'quoted key': 1\n\"dq key\": [a]\nkey with spaces: v\n".into(),
        String::new(),
        "# only a comment\n".into(),
    ];
    for text in &corpus {
        let (fast, slow) = both_ways(text);
        let fast = fast.unwrap_or_else(|| panic!("fast path stepped aside for:\n{text}"));
        assert_eq!(Ok(fast), slow, "for:\n{text}");
    }
}

#[test]
fn fast_path_steps_aside_for_anything_unusual() {
    for text in [
        "a: &x 1\nb: *x\n",
        "a: !!str 12\n",
        "base: &b {x: 1}\nc:\n  <<: *b\n",
        "a: 1\na: 2\n",
        "1: int key\n",
        "true: bool key\n",
        "? [complex]\n: key\n",
        "--- a\n--- b\n",
        "a: .inf\n",
        "a: [\n",
        "a: -\n",
        "lit: |\n  a\n   b\nkeep: |+\n  x\n\nstrip: >-\n  folded\n  text\n",
    ] {
        assert_eq!(both_ways(text).0, None, "fast path took:\n{text}");
    }
    // Found by fuzzing: saphyr-parser read the end of a block scalar unlike serde-saphyr
    // (fuzz/regressions/kubeconfig/block-scalar-whitespace-last-line.yaml); block scalars
    // are the full parser's.
    // ...and the answer is then serde-saphyr's, errors included.
    assert!(matches!(parse("a: 1\na: 2\n"), Err(DocError::Syntax(_))));
    assert!(matches!(parse("a: .inf\n"), Err(DocError::Syntax(_))));
    assert_eq!(parse("a: &x 1\nb: *x\n").unwrap(), json!({"a": 1, "b": 1}));
}

#[test]
fn empty_or_comment_only_text_is_an_empty_document() {
    assert_eq!(parse("").unwrap(), json!({}));
    assert_eq!(parse("# nothing here\n").unwrap(), json!({}));
}

#[test]
fn refuses_what_it_cannot_rewrite_faithfully() {
    assert!(matches!(parse("- a\n- b\n"), Err(DocError::Shape(_))));
    assert!(
        matches!(parse("clusters: {a: 1}\n"), Err(DocError::Shape(m)) if m.contains("clusters"))
    );
    assert!(matches!(parse("a: 1\na: 2\n"), Err(DocError::Syntax(_))));
    assert!(matches!(parse("a: [\n"), Err(DocError::Syntax(_))));
    // In our words, with the line: no library option or function names.
    let e = parse("a: 1\na: 2\n").unwrap_err().to_string();
    assert_eq!(
        e,
        "not valid YAML: line 2, column 1: `a` is written twice in one mapping; kubectl silently keeps the last, bootstrap will not guess or drop one: write it once"
    );
    let e = parse("a: 1\n---\nb: 2\n").unwrap_err().to_string();
    assert!(
        e.starts_with("not valid YAML: line 3, column 1: a second YAML document"),
        "{e}"
    );
}

#[test]
fn numbers_and_tags_read_as_kubectl_reads_them_or_not_at_all() {
    assert_eq!(
        parse("a: 0755\nb: 8443\n").unwrap(),
        json!({"a": 493, "b": 8443})
    );
    assert!(parse("a: !custom x\n").is_err());
}

#[test]
fn booleans_read_as_kubectl_reads_them() {
    let d = parse("clusters:\n- name: a\n  cluster: {insecure-skip-tls-verify: yes}\n").unwrap();
    assert_eq!(
        find(&d, Kind::Cluster, "a")["cluster"]["insecure-skip-tls-verify"],
        json!(true)
    );
}

#[test]
fn yaml_round_trip_keeps_ambiguous_strings_strings() {
    let d = json!({"a": "on", "b": "1.0", "c": "null", "d": "", "e": "no", "f": "2024-01-01", "g": "x: y", "h": "line1\nline2\n", "i": 7, "j": null});
    let back = parse(&to_yaml(&d).unwrap()).unwrap();
    assert_eq!(back, d);
}

#[test]
fn upsert_into_empty_document_writes_marked_entries_with_header() {
    let mut d = parse("").unwrap();
    let ch = upsert(&mut d, &[entry("dev")], "localdev").unwrap();
    assert_eq!(ch.0.len(), 3);
    assert!(ch.iter().all(|c| matches!(c, Change::Added { .. })));
    assert_eq!(d["apiVersion"], "v1");
    assert_eq!(d["kind"], "Config");
    let c = &find(&d, Kind::Cluster, "dev-cluster")["cluster"];
    assert_eq!(c["server"], "https://127.0.0.1:6443");
    assert_eq!(c["tls-server-name"], "localhost");
    assert_eq!(
        B64.decode(c["certificate-authority-data"].as_str().unwrap())
            .unwrap(),
        entry("dev").creds.ca_pem
    );
    assert!(c.get("insecure-skip-tls-verify").is_none());
    assert_eq!(
        c["extensions"][0],
        json!({"name": "bootstrap", "extension": {"provider": "bootstrap", "owner": "localdev"}})
    );
    let u = &find(&d, Kind::User, "dev-user")["user"];
    assert_eq!(u["client-certificate-data"], B64.encode("CERT"));
    assert_eq!(u["client-key-data"], B64.encode("KEY"));
    let x = &find(&d, Kind::Context, "dev")["context"];
    assert_eq!(
        (x["cluster"].as_str(), x["user"].as_str()),
        (Some("dev-cluster"), Some("dev-user"))
    );
    for kind in Kind::ALL {
        assert!(items(&d, kind)
            .iter()
            .all(|i| owner_of(i, kind).as_deref() == Some("localdev")));
    }
}

#[test]
fn upsert_is_idempotent_and_reports_nothing_the_second_time() {
    let mut d = parse(FOREIGN).unwrap();
    upsert(&mut d, &[entry("dev"), entry("staging")], "localdev").unwrap();
    let once = d.clone();
    let ch = upsert(&mut d, &[entry("dev"), entry("staging")], "localdev").unwrap();
    assert!(ch.is_empty(), "{ch}");
    assert_eq!(d, once);
}

#[test]
fn upsert_preserves_every_foreign_byte_of_meaning() {
    let before = parse(FOREIGN).unwrap();
    let mut d = before.clone();
    upsert(&mut d, &[entry("dev")], "localdev").unwrap();
    assert_eq!(without_ours(&d, "localdev"), before);
    // ...and through YAML text too.
    let reread = parse(&to_yaml(&d).unwrap()).unwrap();
    assert_eq!(reread, d);
    assert_eq!(
        d["current-context"], "prod",
        "current-context is left alone unless asked"
    );
}

#[test]
fn update_changes_only_what_differs_and_keeps_what_others_added_to_ours() {
    let mut d = parse("").unwrap();
    upsert(&mut d, &[entry("dev")], "o").unwrap();
    {
        let c = d["clusters"][0]["cluster"].as_object_mut().unwrap();
        c.insert("proxy-url".into(), "http://proxy:3128".into());
        c["extensions"]
            .as_array_mut()
            .unwrap()
            .insert(0, json!({"name": "kubie", "extension": {"x": 1}}));
    }
    d["contexts"][0]["context"]["namespace"] = "team-a".into();
    let mut e = entry("dev");
    e.creds.server = "https://host.docker.internal:6443".into();
    e.tls_server_name = None;
    let ch = upsert(&mut d, &[e], "o").unwrap();
    assert_eq!(
        ch.0,
        vec![Change::Updated {
            kind: Kind::Cluster,
            name: "dev-cluster".into()
        }]
    );
    let c = &d["clusters"][0]["cluster"];
    assert_eq!(c["server"], "https://host.docker.internal:6443");
    assert!(
        c.get("tls-server-name").is_none(),
        "a managed field we no longer want goes"
    );
    assert_eq!(
        c["proxy-url"], "http://proxy:3128",
        "a field someone added stays"
    );
    assert_eq!(
        c["extensions"][0]["name"], "kubie",
        "a foreign extension stays, in place"
    );
    assert_eq!(c["extensions"].as_array().unwrap().len(), 2);
    assert_eq!(
        d["contexts"][0]["context"]["namespace"], "team-a",
        "namespace None leaves the user's choice"
    );
}

#[test]
fn an_unmarked_entry_with_our_name_is_never_changed() {
    let text = "clusters:\n- name: dev-cluster\n  cluster: {server: https://theirs:1}\nusers: []\ncontexts: []\n";
    let mut d = parse(text).unwrap();
    let before = d.clone();
    let err = upsert(&mut d, &[entry("dev")], "o").unwrap_err();
    assert_eq!(d, before, "all or nothing: nothing was added either");
    match &err {
        DocError::Conflict(c) => assert_eq!(
            c,
            &vec![Conflict {
                kind: Kind::Cluster,
                name: "dev-cluster".into(),
                holder: Holder::Unmarked
            }]
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("cluster `dev-cluster` exists and was not written by bootstrap"),
        "{err}"
    );
    assert_eq!(remove_owned(&mut d, "o").unwrap(), Changes::default());
    assert_eq!(d, before);
}

#[test]
fn another_environments_entry_is_a_conflict_too() {
    let mut d = parse("").unwrap();
    upsert(&mut d, &[entry("dev")], "env-a").unwrap();
    let before = d.clone();
    let err = upsert(&mut d, &[entry("dev")], "env-b").unwrap_err();
    assert!(
        matches!(&err, DocError::Conflict(c) if c.len() == 3 && c.iter().all(|c| c.holder == Holder::OtherOwner("env-a".into())))
    );
    assert_eq!(d, before);
    remove_owned(&mut d, "env-b").unwrap();
    assert_eq!(d, before, "env-b's down leaves env-a's entries");
}

#[test]
fn a_look_alike_mark_from_another_provider_is_not_ours() {
    let text = "clusters:\n- name: dev-cluster\n  cluster:\n    server: https://x\n    extensions:\n    - name: bootstrap\n      extension: {provider: someone-else, owner: o}\n";
    let mut d = parse(text).unwrap();
    assert!(matches!(
        upsert(&mut d, &[entry("dev")], "o"),
        Err(DocError::Conflict(_))
    ));
}

#[test]
fn insecure_only_when_asked_and_then_without_ca() {
    let mut e = entry("dev");
    e.insecure_skip_tls_verify = true;
    let mut d = parse("").unwrap();
    upsert(&mut d, &[e], "o").unwrap();
    let c = &d["clusters"][0]["cluster"];
    assert_eq!(c["insecure-skip-tls-verify"], true);
    assert!(c.get("certificate-authority-data").is_none());

    let mut no_ca = entry("dev");
    no_ca.creds.ca_pem.clear();
    assert!(matches!(
        upsert(&mut parse("").unwrap(), &[no_ca], "o"),
        Err(DocError::InvalidEntry { .. })
    ));
}

#[test]
fn invalid_entries_are_refused_before_any_change() {
    let mut half = entry("dev");
    half.creds.client_key_pem = None;
    assert!(matches!(
        upsert(&mut parse("").unwrap(), &[half], "o"),
        Err(DocError::InvalidEntry { .. })
    ));
    let mut other = entry("b");
    other.cluster = "dev-cluster".into();
    other.creds.server = "https://elsewhere".into();
    assert!(
        matches!(upsert(&mut parse("").unwrap(), &[entry("dev"), other], "o"), Err(DocError::InvalidEntry { reason, .. }) if reason.contains("dev-cluster"))
    );
}

#[test]
fn two_contexts_may_share_one_cluster() {
    let mut b = entry("b");
    b.cluster = "dev-cluster".into();
    b.namespace = Some("kube-system".into());
    let mut d = parse("").unwrap();
    let ch = upsert(&mut d, &[entry("dev"), b], "o").unwrap();
    assert_eq!(items(&d, Kind::Cluster).len(), 1);
    assert_eq!(items(&d, Kind::Context).len(), 2);
    assert_eq!(ch.0.len(), 5);
}

#[test]
fn token_user() {
    let mut e = entry("dev");
    e.creds.client_cert_pem = None;
    e.creds.client_key_pem = None;
    e.creds.token = Some("s3cret".into());
    let mut d = parse("").unwrap();
    upsert(&mut d, &[e], "o").unwrap();
    let u = d["users"][0]["user"].as_object().unwrap();
    assert_eq!(u["token"], "s3cret");
    assert!(!u.contains_key("client-certificate-data"));
}

#[test]
fn set_current_then_remove_owned_gives_the_users_context_back() {
    let before = parse(FOREIGN).unwrap();
    let mut d = before.clone();
    upsert(&mut d, &[entry("dev"), entry("staging")], "o").unwrap();
    let ch = set_current(&mut d, "dev", "o").unwrap();
    assert_eq!(
        ch.0,
        vec![Change::CurrentContext {
            from: Some("prod".into()),
            to: Some("dev".into())
        }]
    );
    assert!(set_current(&mut d, "dev", "o").unwrap().is_empty());
    // Switching between our own contexts keeps the user's original.
    set_current(&mut d, "staging", "o").unwrap();
    // A later up re-upserts and must keep that memory.
    assert!(upsert(&mut d, &[entry("dev"), entry("staging")], "o")
        .unwrap()
        .is_empty());
    let ch = remove_owned(&mut d, "o").unwrap();
    assert!(
        ch.0.contains(&Change::CurrentContext {
            from: Some("staging".into()),
            to: Some("prod".into())
        }),
        "{ch}"
    );
    assert_eq!(
        ch.0.iter()
            .filter(|c| matches!(c, Change::Removed { .. }))
            .count(),
        6
    );
    assert_eq!(d, before);
}

#[test]
fn remove_owned_clears_current_when_the_previous_context_is_gone() {
    let mut d = parse(FOREIGN).unwrap();
    upsert(&mut d, &[entry("dev")], "o").unwrap();
    set_current(&mut d, "dev", "o").unwrap();
    d["contexts"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["name"] != "prod");
    let ch = remove_owned(&mut d, "o").unwrap();
    assert!(ch.0.contains(&Change::CurrentContext {
        from: Some("dev".into()),
        to: None
    }));
    assert_eq!(d["current-context"], "");
}

/// Found by fuzzing: a plain `---` or `...` as a value is a string, not a document marker.
#[test]
fn markers_as_values_are_strings_on_both_paths() {
    for text in ["kind: ---\n", "a: [..., x]\nkind: ...\n", "a:\n- ---\n"] {
        assert_eq!(
            parse(text).unwrap(),
            parse_reference(text).unwrap(),
            "{text}"
        );
    }
    assert_eq!(parse("kind: ---\n").unwrap()["kind"], "---");
}

/// Found by fuzzing: a current-context naming a context this file does not define (another
/// file of KUBECONFIG does) was cleared by `down` instead of restored.
#[test]
fn a_current_context_from_another_file_is_restored() {
    let mut d = parse(FOREIGN).unwrap();
    d["current-context"] = "defined-in-another-file".into();
    upsert(&mut d, &[entry("dev")], "o").unwrap();
    set_current(&mut d, "dev", "o").unwrap();
    // Re-applied by the next `up`: the memory survives an update of our context.
    upsert(&mut d, &[entry("dev")], "o").unwrap();
    let ch = remove_owned(&mut d, "o").unwrap();
    assert!(ch.0.contains(&Change::CurrentContext {
        from: Some("dev".into()),
        to: Some("defined-in-another-file".into())
    }));
    assert_eq!(d["current-context"], "defined-in-another-file");
}

/// Found by fuzzing: environment B made current over environment A's context, then B's
/// `down` restored what A had replaced instead of A's context.
#[test]
fn another_environments_current_context_is_given_back() {
    let mut d = parse(FOREIGN).unwrap();
    d["current-context"] = "prod".into();
    upsert(&mut d, &[entry("a-ctx")], "env/a").unwrap();
    set_current(&mut d, "a-ctx", "env/a").unwrap();
    upsert(&mut d, &[entry("b-ctx")], "env/b").unwrap();
    set_current(&mut d, "b-ctx", "env/b").unwrap();
    remove_owned(&mut d, "env/b").unwrap();
    assert_eq!(d["current-context"], "a-ctx");
    remove_owned(&mut d, "env/a").unwrap();
    assert_eq!(d["current-context"], "prod");
}

#[test]
fn remove_owned_leaves_a_foreign_current_context_alone() {
    let mut d = parse(FOREIGN).unwrap();
    upsert(&mut d, &[entry("dev")], "o").unwrap();
    let ch = remove_owned(&mut d, "o").unwrap();
    assert!(!ch
        .iter()
        .any(|c| matches!(c, Change::CurrentContext { .. })));
    assert_eq!(d["current-context"], "prod");
    assert!(remove_owned(&mut d, "o").unwrap().is_empty());
}

#[test]
fn set_current_refuses_an_unknown_context() {
    let mut d = parse(FOREIGN).unwrap();
    let err = set_current(&mut d, "nope", "o").unwrap_err();
    assert_eq!(
        err.to_string(),
        "context `nope` is not in the kubeconfig; it has: prod"
    );
}

#[test]
fn standalone_holds_one_context_complete_and_unmarked() {
    let mut d = parse(FOREIGN).unwrap();
    upsert(&mut d, &[entry("dev"), entry("staging")], "o").unwrap();
    let s = standalone(&d, "dev").unwrap();
    assert_eq!(s["current-context"], "dev");
    assert_eq!(context_names(&s), vec!["dev"]);
    assert_eq!(items(&s, Kind::Cluster).len(), 1);
    assert_eq!(items(&s, Kind::User).len(), 1);
    for kind in Kind::ALL {
        assert_eq!(
            owner_of(&items(&s, kind)[0], kind),
            None,
            "{kind} still marked"
        );
    }
    assert_eq!(s["clusters"][0]["cluster"]["tls-server-name"], "localhost");
    let p = standalone(&d, "prod").unwrap();
    assert_eq!(
        p["clusters"][0]["cluster"]["extensions"][0]["name"], "cluster_info",
        "foreign extensions stay"
    );
    assert_eq!(
        p["clusters"][0]["cluster"]["future-field"],
        find(&d, Kind::Cluster, "prod")["cluster"]["future-field"]
    );
}

#[test]
fn standalone_names_what_is_missing() {
    let d = parse(FOREIGN).unwrap();
    let err = standalone(&d, "dve").unwrap_err();
    assert!(
        matches!(&err, DocError::NoSuchContext { available, .. } if available == &vec!["prod".to_string()])
    );
    let broken = parse("contexts:\n- name: x\n  context: {cluster: gone, user: u}\n").unwrap();
    assert_eq!(
        standalone(&broken, "x").unwrap_err(),
        DocError::Dangling {
            context: "x".into(),
            kind: Kind::Cluster,
            name: "gone".into()
        }
    );
}

#[test]
fn many_contexts_are_listed_with_a_count() {
    let names: Vec<String> = (0..25).map(|i| format!("c{i}")).collect();
    let msg = DocError::NoSuchContext {
        name: "x".into(),
        available: names,
    }
    .to_string();
    assert!(msg.ends_with("c19 ... and 5 more"), "{msg}");
}

#[test]
fn merge_first_file_wins_and_paths_resolve_against_their_file() {
    let a = parse("clusters:\n- name: c\n  cluster: {server: https://a, certificate-authority: ca.crt}\ncontexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: ''\n").unwrap();
    let b = parse("clusters:\n- name: c\n  cluster: {server: https://b}\n- name: d\n  cluster: {server: https://d}\nusers:\n- name: u\n  user: {client-key: /abs/key, client-certificate: rel/cert}\ncurrent-context: x\n").unwrap();
    let m = merge(vec![
        (PathBuf::from("/one/config"), a),
        (PathBuf::from("/two/config"), b),
    ]);
    assert_eq!(
        find(&m, Kind::Cluster, "c")["cluster"]["server"],
        "https://a"
    );
    assert_eq!(
        find(&m, Kind::Cluster, "c")["cluster"]["certificate-authority"],
        "/one/ca.crt"
    );
    assert_eq!(
        find(&m, Kind::Cluster, "d")["cluster"]["server"],
        "https://d"
    );
    assert_eq!(find(&m, Kind::User, "u")["user"]["client-key"], "/abs/key");
    assert_eq!(
        find(&m, Kind::User, "u")["user"]["client-certificate"],
        "/two/rel/cert"
    );
    assert_eq!(m["current-context"], "x");
}

/// client-go's `ResolveLocalPaths` (as kube's `read_from`): an exec command holding a path
/// separator is relative to its file; a bare name stays for PATH.
#[test]
fn merge_makes_a_relative_exec_command_absolute_and_leaves_a_bare_one() {
    let a = parse("users:\n- name: rel\n  user: {exec: {command: ./bin/login, apiVersion: client.authentication.k8s.io/v1}}\n- name: bare\n  user: {exec: {command: aws}}\n- name: abs\n  user: {exec: {command: /usr/bin/gke-auth}}\n").unwrap();
    let m = merge(vec![(PathBuf::from("/home/u/.kube/config"), a)]);
    let cmd = |n| find(&m, Kind::User, n)["user"]["exec"]["command"].clone();
    assert_eq!(cmd("rel"), "/home/u/.kube/./bin/login");
    assert_eq!(cmd("bare"), "aws");
    assert_eq!(cmd("abs"), "/usr/bin/gke-auth");
}

fn flow_contexts(n: usize) -> String {
    let mut s = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for i in 0..n {
        s.push_str(&format!(
            "- {{name: c{i}, cluster: {{server: 'https://127.0.0.1:{}'}}}}\n",
            6443 + i % 100
        ));
    }
    s.push_str("users:\n");
    for i in 0..n {
        s.push_str(&format!("- {{name: u{i}, user: {{token: t{i}}}}}\n"));
    }
    s.push_str("contexts:\n");
    for i in 0..n {
        s.push_str(&format!(
            "- {{name: x{i}, context: {{cluster: c{i}, user: u{i}}}}}\n"
        ));
    }
    s
}

/// serde-saphyr's default budget (250,000 nodes) refused files of about 12,000 contexts that
/// kubectl reads; the flow style here takes the serde-saphyr path, not the fast one.
#[test]
fn no_size_budget_refuses_a_large_kubeconfig() {
    let text = flow_contexts(15_000);
    assert!(
        crate::core::kubeconfig::fastyaml::parse(&text, &|_| None).is_none(),
        "this text must take the serde-saphyr path"
    );
    let d = parse(&text).unwrap();
    assert_eq!(context_names(&d).len(), 15_000);
    assert_eq!(
        standalone(&d, "x14999").unwrap()["clusters"][0]["name"],
        "c14999"
    );
}

/// kubectl reads nesting up to go-yaml's 10,000 levels (counting the top mapping) and refuses
/// deeper; so do we, with words instead of a crash or a library's type names. Recursive code
/// needs the stack `main` gives every command.
#[test]
fn nesting_is_read_as_deep_as_kubectl_reads_it() {
    let deep = |levels: usize| {
        format!(
            "apiVersion: v1\npreferences: {{x: {}{}}}\n",
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    let run = std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || {
            let ok = parse(&deep(9_998)).map(|_| ());
            let refused = parse(&deep(9_999)).unwrap_err().to_string();
            (ok, refused)
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(run.0.is_ok(), "{:?}", run.0);
    assert!(
        run.1.contains("nested deeper than 10,000 levels"),
        "{}",
        run.1
    );
}

#[test]
fn flatten_inlines_file_references() {
    let mut d = parse("clusters:\n- name: c\n  cluster: {server: https://a, certificate-authority: /ca.crt}\nusers:\n- name: u\n  user: {client-certificate: /u.crt, client-key: /u.key}\n").unwrap();
    flatten(&mut d, &mut |p: &Path| {
        Ok(p.to_string_lossy().as_bytes().to_vec())
    })
    .unwrap();
    assert_eq!(
        d["clusters"][0]["cluster"]["certificate-authority-data"],
        B64.encode("/ca.crt")
    );
    assert!(d["clusters"][0]["cluster"]
        .get("certificate-authority")
        .is_none());
    assert_eq!(
        d["users"][0]["user"]["client-key-data"],
        B64.encode("/u.key")
    );
    let err = flatten(
        &mut parse("clusters:\n- name: c\n  cluster: {certificate-authority: /nope}\n").unwrap(),
        &mut |_| Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone")),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("cluster `c` certificate-authority refers to /nope"),
        "{err}"
    );
}

#[test]
fn credentials_decode_what_kind_prints() {
    let kind = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: https://127.0.0.1:6443\n  name: kind-localdev\ncontexts:\n- context:\n    cluster: kind-localdev\n    user: kind-localdev\n  name: kind-localdev\ncurrent-context: kind-localdev\nusers:\n- name: kind-localdev\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        B64.encode("CA PEM"),
        B64.encode("CERT PEM"),
        B64.encode("KEY PEM")
    );
    let c = credentials(&parse(&kind).unwrap(), "kind-localdev").unwrap();
    assert_eq!(c.server, "https://127.0.0.1:6443");
    assert_eq!(c.ca_pem, b"CA PEM");
    assert_eq!(c.client_cert_pem.as_deref(), Some(&b"CERT PEM"[..]));
    assert_eq!(c.client_key_pem.as_deref(), Some(&b"KEY PEM"[..]));
    assert_eq!(c.token, None);
    // Round trip: what we write decodes back to what we were given.
    let mut d = parse("").unwrap();
    upsert(&mut d, &[entry("dev")], "o").unwrap();
    let back = credentials(&d, "dev").unwrap();
    assert_eq!(
        (back.ca_pem, back.client_cert_pem),
        (
            entry("dev").creds.ca_pem,
            entry("dev").creds.client_cert_pem
        )
    );
    let bad = parse("clusters:\n- name: c\n  cluster: {certificate-authority-data: '%%%'}\ncontexts:\n- name: x\n  context: {cluster: c}\n").unwrap();
    assert!(matches!(
        credentials(&bad, "x"),
        Err(DocError::InvalidEntry { .. })
    ));
}

#[test]
fn context_view_reports_route_and_owner() {
    let mut d = parse(FOREIGN).unwrap();
    upsert(&mut d, &[entry("dev")], "o").unwrap();
    let v = context_view(&d, "dev").unwrap();
    assert_eq!(v.server.as_deref(), Some("https://127.0.0.1:6443"));
    assert_eq!(v.tls_server_name.as_deref(), Some("localhost"));
    assert_eq!(v.owner.as_deref(), Some("o"));
    assert_eq!(context_view(&d, "prod").unwrap().owner, None);
    assert!(context_view(&d, "nope").is_none());
}
