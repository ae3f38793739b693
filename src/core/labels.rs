//! Kubernetes' own rules for label keys and values, so a label the API server would refuse is
//! refused while reading the file, not half way through `up`.
//!
//! Reference: kubernetes/apimachinery `pkg/util/validation/validation.go`, where
//! `IsQualifiedName` and `IsValidLabelValue` now stand for `content.IsLabelKey` and
//! `content.IsLabelValue` (`pkg/api/validate/content/kube.go`, commit eed236ce), with the
//! prefix checked by `content.IsDNS1123Subdomain` (`dns.go`). The tests below are upstream's
//! own tables from `kube_test.go`. No crate was found that does exactly this; the rules are
//! a few lines.

/// The longest label name (the part after `/`) and the longest value.
pub const NAME_MAX: usize = 63;
/// The longest key prefix (a DNS subdomain).
pub const PREFIX_MAX: usize = 253;

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`: a label name, and a non-empty label value.
fn is_name_chars(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `IsDNS1123Subdomain`: lowercase labels joined by dots, at most 253 characters in all
/// (upstream sets no per-label limit here).
fn is_subdomain(s: &str) -> bool {
    s.len() <= PREFIX_MAX
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

const NAME_RULE: &str =
    "letters, digits, '-', '_' or '.', starting and ending with a letter or digit";

/// Pure: why `key` is not a label key, or None when it is one.
pub fn key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        None => (None, key),
        Some((_, rest)) if rest.contains('/') => {
            return Some("a label key has at most one '/' (an optional DNS prefix, then the name, as in `example.com/name`)".into())
        }
        Some((p, n)) => (Some(p), n),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Some("the prefix before '/' is empty".into());
        }
        if !is_subdomain(p) {
            return Some(format!(
                "the prefix `{p}` is not a DNS subdomain: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit, at most {PREFIX_MAX} characters"
            ));
        }
    }
    if name.is_empty() {
        return Some("the name is empty".into());
    }
    if name.len() > NAME_MAX || !is_name_chars(name) {
        return Some(format!(
            "the name `{name}` must be {NAME_RULE}, at most {NAME_MAX} characters (it has {})",
            name.len()
        ));
    }
    None
}

/// Pure: why `value` is not a label value, or None when it is one (empty is valid).
pub fn value_problem(value: &str) -> Option<String> {
    if value.is_empty() || (value.len() <= NAME_MAX && is_name_chars(value)) {
        return None;
    }
    Some(format!(
        "a label value is empty or {NAME_RULE}, at most {NAME_MAX} characters (this one has {})",
        value.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Upstream's TestIsLabelKey table.
    #[test]
    fn label_keys_as_upstream_tests_them() {
        let long = format!("{}/{}", "a".repeat(253), "b".repeat(63));
        let ok = [
            "simple",
            "now-with-dashes",
            "1-starts-with-num",
            "1234",
            "simple/simple",
            "now-with-dashes/simple",
            "now-with-dashes/now-with-dashes",
            "now.with.dots/simple",
            "now-with.dashes-and.dots/simple",
            "1-num.2-num/3-num",
            "1234/5678",
            "1.2.3.4/5678",
            "Uppercase_Is_OK_123",
            "example.com/Uppercase_Is_OK_123",
            "requests.storage-foo",
            &"a".repeat(63),
            &long,
        ];
        for k in ok {
            assert_eq!(key_problem(k), None, "{k}");
        }
        let too_long_prefix = format!("{}/abc", "a".repeat(254));
        let bad = [
            "nospecialchars%^=@",
            "cantendwithadash-",
            "-cantstartwithadash-",
            "only/one/slash",
            "Example.com/abc",
            "example_com/abc",
            "example.com/",
            "/simple",
            &"a".repeat(64),
            &too_long_prefix,
        ];
        for k in bad {
            assert!(key_problem(k).is_some(), "{k}");
        }
    }

    // Upstream's TestIsLabelValue table.
    #[test]
    fn label_values_as_upstream_tests_them() {
        for v in [
            "simple",
            "now-with-dashes",
            "1-starts-with-num",
            "end-with-num-1",
            "1234",
            &"a".repeat(63),
            "",
        ] {
            assert_eq!(value_problem(v), None, "{v}");
        }
        for v in [
            "nospecialchars%^=@",
            "Tama-nui-te-rā.is.Māori.sun",
            "\\backslashes\\are\\bad",
            "-starts-with-dash",
            "ends-with-dash-",
            ".starts.with.dot",
            "ends.with.dot.",
            &"a".repeat(64),
        ] {
            assert!(value_problem(v).is_some(), "{v}");
        }
    }

    #[test]
    fn the_message_says_what_is_valid() {
        assert_eq!(
            value_problem("a b").unwrap(),
            "a label value is empty or letters, digits, '-', '_' or '.', starting and ending with a letter or digit, at most 63 characters (this one has 3)"
        );
        assert!(key_problem("Example.com/x")
            .unwrap()
            .starts_with("the prefix `Example.com` is not a DNS subdomain"));
    }
}
