//! Port checks before any change on every `up`, on a real Docker engine with the kind double:
//! a converged cluster is checked too (its own ports excepted), and a conflict names the file's
//! field and the holder's pid and program.

mod support;

use support::*;

#[test]
fn every_up_checks_ports_and_names_the_field_and_the_holder() {
    if !docker_or_skip("every_up_checks_ports_and_names_the_field_and_the_holder") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("pt"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let f = spec.write(dir.path());
    let f = f.to_str().unwrap();

    let first = bootstrap(&["-f", f, "up", "--no-verify"], &[]);
    assert_eq!(first.code, 0, "{}", first.text());
    // Converged: the preflight still runs, and the cluster's own ports are not conflicts.
    let again = bootstrap(&["-f", f, "up", "--no-verify"], &[]);
    assert_eq!(again.code, 0, "{}", again.text());
    assert!(
        again
            .stderr
            .contains("ports: ok: 2 host port(s) free or ours"),
        "{}",
        again.text()
    );

    // A process takes the API port of a file for another cluster: named by field, pid, program.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut other = Spec::new(&unique("pu"));
    other.api_port = listener.local_addr().unwrap().port();
    let _clean_other = Cleanup(vec![other.name.clone()]);
    let g = other.write(dir.path());
    let up = bootstrap(&["-f", g.to_str().unwrap(), "up"], &[]);
    assert_eq!(up.code, 1, "{}", up.text());
    let me = std::process::id();
    let program = std::fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
    assert!(
        up.stderr.contains(&format!(
            "cluster.apiServer.port: host port 127.0.0.1:{}/tcp is held by process {me} (`{}`) on this host",
            other.api_port,
            program.trim()
        )),
        "{}",
        up.text()
    );
    assert!(up.stderr.contains("nothing was changed"), "{}", up.text());
    assert!(nodes(&other.name).is_empty());
    drop(listener);
}
