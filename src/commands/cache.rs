//! `bootstrap cache status|prune`: the pull-through caches on this machine, whatever environment
//! made them (they are shared). Only containers and volumes carrying the cache's label
//! (`dev.bootstrap.cache`) are shown or removed. No envs.yaml is needed.

use super::{Failure, Outcome};
use crate::cli::{CacheAction, CacheArgs, Global, Output};
use crate::core::render::cache::Status;

fn size(bytes: Option<i64>) -> String {
    match bytes {
        None => "-".into(),
        Some(b) if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        Some(b) if b < 1024 * 1024 * 1024 => format!("{:.1} MiB", b as f64 / 1048576.0),
        Some(b) => format!("{:.2} GiB", b as f64 / 1073741824.0),
    }
}

/// Pure: the status table.
pub fn table(all: &[Status]) -> String {
    if all.is_empty() {
        return "No pull-through caches on this engine (a `cache:` section in envs.yaml makes them on the next `up`).\n".into();
    }
    let mut rows = vec![[
        "UPSTREAM".to_owned(),
        "CONTAINER".into(),
        "STATE".into(),
        "SIZE".into(),
        "HITS (blobs, manifests)".into(),
        "FETCHED UPSTREAM".into(),
    ]];
    for s in all {
        let (hits, fetched) = match (s.blobs, s.manifests) {
            (Some(b), Some(m)) => (
                format!("{}/{}, {}/{}", b.hits, b.requests, m.hits, m.requests),
                size(Some((b.bytes_pulled + m.bytes_pulled) as i64)),
            ),
            _ => ("-".into(), "-".into()),
        };
        rows.push([
            s.upstream.clone(),
            s.container.clone(),
            s.state.clone(),
            size(s.bytes),
            hits,
            fetched,
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str("Hits count since each cache started; `-`: not readable from here (its debug port is on kind's network).\n");
    out
}

pub fn run(g: &Global, args: &CacheArgs) -> Outcome {
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let conn = crate::drivers::docker::connect()
            .await
            .map_err(|e| Failure::Failed(e.to_string()))?;
        match &args.action {
            CacheAction::Status => {
                let all = crate::drivers::docker::cache::status(&conn)
                    .await
                    .map_err(|e| Failure::Failed(e.to_string()))?;
                match g.output {
                    Output::Json => println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({ "caches": all }))
                            .unwrap_or_default()
                    ),
                    Output::Table => print!("{}", table(&all)),
                }
            }
            CacheAction::Prune { upstreams } => {
                let removed = crate::drivers::docker::cache::prune(&conn, upstreams)
                    .await
                    .map_err(|e| Failure::Failed(e.to_string()))?;
                match g.output {
                    Output::Json => println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({ "removed": removed }))
                            .unwrap_or_default()
                    ),
                    Output::Table if removed.is_empty() => {
                        println!("No pull-through caches to remove.")
                    }
                    Output::Table => {
                        for r in &removed {
                            println!("{r}");
                        }
                    }
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::render::cache::Counters;

    #[test]
    fn the_table_says_size_hits_and_what_came_from_upstream() {
        let t = table(&[Status {
            upstream: "docker.io".into(),
            container: "bootstrap-cache-docker-io".into(),
            state: "running".into(),
            bytes: Some(3 * 1048576),
            blobs: Some(Counters {
                requests: 10,
                hits: 7,
                misses: 3,
                bytes_pulled: 2048,
            }),
            manifests: Some(Counters {
                requests: 4,
                hits: 2,
                misses: 2,
                bytes_pulled: 0,
            }),
        }]);
        assert!(
            t.contains("docker.io  bootstrap-cache-docker-io  running  3.0 MiB  7/10, 2/4"),
            "{t}"
        );
        assert!(t.contains("2.0 KiB"), "{t}");
        assert!(table(&[]).contains("No pull-through caches"));
    }
}
