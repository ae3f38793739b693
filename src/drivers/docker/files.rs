//! Single files inside a container, through Docker's archive API (`GET`/`PUT
//! /containers/{id}/archive`): no process runs in the container or here, and it works on a stopped
//! container. Used for kind's admin kubeconfig and for the record that marks a cluster ours.

use super::connect::{Conn, DockerError};
use bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};
use futures::TryStreamExt;

/// The file at `path` (absolute), or None when the container has no such file.
pub async fn read(
    conn: &Conn,
    container: &str,
    path: &str,
) -> Result<Option<Vec<u8>>, DockerError> {
    let stream = conn.docker.download_from_container(
        container,
        Some(DownloadFromContainerOptions { path: path.into() }),
    );
    let chunks: Vec<bytes::Bytes> = match stream.try_collect().await {
        Ok(c) => c,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(None),
        Err(e) => return Err(conn.error(&format!("reading {path} in {container}"), e)),
    };
    let tarball: Vec<u8> = chunks.concat();
    first_file(&tarball).map_err(|e| {
        conn.error(
            &format!("reading {path} in {container}"),
            bollard::errors::Error::IOError { err: e },
        )
    })
}

/// Pure: the contents of the first regular file in a tar archive.
pub fn first_file(tarball: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut archive = tar::Archive::new(tarball);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type().is_file() {
            let mut out = Vec::new();
            entry.read_to_end(&mut out)?;
            return Ok(Some(out));
        }
    }
    Ok(None)
}

/// Write `bytes` to `path` (absolute), creating its folder; mode 0644.
pub async fn write(
    conn: &Conn,
    container: &str,
    path: &str,
    bytes: &[u8],
) -> Result<(), DockerError> {
    let tarball = tar_of(path, bytes).map_err(|e| {
        conn.error(
            &format!("packing {path}"),
            bollard::errors::Error::IOError { err: e },
        )
    })?;
    conn.docker
        .upload_to_container(
            container,
            Some(UploadToContainerOptions {
                path: "/".into(),
                ..Default::default()
            }),
            bollard::body_full(tarball.into()),
        )
        .await
        .map_err(|e| conn.error(&format!("writing {path} in {container}"), e))
}

/// Pure: a tar archive holding `path` (relative to /) with its parent folders.
pub fn tar_of(path: &str, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let rel = path.trim_start_matches('/');
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = std::path::PathBuf::new();
    let parents: Vec<_> = std::path::Path::new(rel)
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    for c in parents {
        dir.push(c);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_cksum();
        b.append_data(&mut h, &dir, std::io::empty())?;
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(bytes.len() as u64);
    h.set_cksum();
    b.append_data(&mut h, rel, bytes)?;
    b.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_archive_reads_back() {
        let t = tar_of("/kind/bootstrap.json", b"{\"a\":1}").unwrap();
        assert_eq!(first_file(&t).unwrap().unwrap(), b"{\"a\":1}");
        let mut names = Vec::new();
        for e in tar::Archive::new(t.as_slice()).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().display().to_string());
        }
        assert_eq!(names, vec!["kind", "kind/bootstrap.json"]);
    }
}
