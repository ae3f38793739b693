//! Versions as semver reads them: a tool's or a bundle's `v1.2.3` (pre-release and build
//! suffixes understood, not cut off), and the major and minor a Kubernetes tag or a chart
//! version is compared by.

/// `1.2.3`, `v1.2.3-rc.1`, `1.2.3+g5d5a1f3`: a full version, `v` prefix allowed.
pub fn parse(text: &str) -> Option<semver::Version> {
    semver::Version::parse(text.strip_prefix('v').unwrap_or(text)).ok()
}

/// The major and minor of a full version, or of a partial one (`0.33`: Helm installs the newest
/// 0.33.x for it); None for anything else (a range, `latest`).
pub fn major_minor(text: &str) -> Option<(u64, u64)> {
    if let Some(v) = parse(text) {
        return Some((v.major, v.minor));
    }
    let text = text.strip_prefix('v').unwrap_or(text);
    // A bare number is a version to semver's requirement grammar, an operator a range.
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let req = semver::VersionReq::parse(text).ok()?;
    match req.comparators.as_slice() {
        [c] if c.op == semver::Op::Caret => Some((c.major, c.minor?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_versions_keep_their_suffixes_apart() {
        let v = parse("v3.19.0-double").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (3, 19, 0));
        assert_eq!(parse("4.2.3+g5d5a1f3").map(|v| v.patch), Some(3));
        assert_eq!(parse("1.2"), None);
        assert_eq!(parse("latest"), None);
    }

    #[test]
    fn major_and_minor_of_full_and_partial_versions() {
        assert_eq!(major_minor("v1.36.1"), Some((1, 36)));
        assert_eq!(major_minor("0.34.0-alpha.1"), Some((0, 34)));
        assert_eq!(major_minor("0.33"), Some((0, 33)));
        assert_eq!(major_minor("1"), None);
        assert_eq!(major_minor(">=0.30"), None);
        assert_eq!(major_minor("0.30.*"), None);
        assert_eq!(major_minor("latest"), None);
    }
}
