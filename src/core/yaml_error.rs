//! serde-saphyr's parse errors in our words. Its default text is written for the programmer who
//! calls it ("use from_str_multiple", "set DuplicateKeyPolicy in Options", "budget breached:
//! Depth { depth: 10001 }"); a user of bootstrap reads what is wrong in their file and what to do.
//! Both readers (envs.yaml and the kubeconfig) go through here.

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::Error;

/// What is wrong, without the position (the caller prints it its own way), and the line and
/// column when the library knows them.
pub fn describe(e: &Error, kind: Reader) -> (String, Option<(usize, usize)>) {
    let at = e
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .filter(|(l, _)| *l > 0);
    (message(e, kind), at)
}

/// Whether the text breaks YAML's grammar (and "this is not valid YAML" is the right hint), as
/// opposed to valid YAML that bootstrap will not take (a second document, a repeated key, a
/// nesting deeper than kubectl reads), whose message says what to do.
pub fn is_grammar(e: &Error) -> bool {
    !matches!(
        unwrap(e),
        Error::MultipleDocuments { .. } | Error::DuplicateMappingKey { .. } | Error::Budget { .. }
    ) && !e.to_string().contains("recursion limit exceeded")
}

/// Which file is being read: the advice differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// envs.yaml: ours, every mistake reported, one document.
    Envs,
    /// A kubeconfig: the user's, read as kubectl reads it and rewritten only when we can keep
    /// all of it.
    Kubeconfig,
}

fn message(e: &Error, kind: Reader) -> String {
    match unwrap(e) {
        Error::MultipleDocuments { .. } => match kind {
            Reader::Envs => "a second YAML document (`---`) starts here; an environment file is one document: remove the `---` line and what follows, or move it to its own file".into(),
            Reader::Kubeconfig => "a second YAML document (`---`) starts here; kubectl reads only the first, and bootstrap will not read or rewrite a file whose other documents it would drop: keep one document".into(),
        },
        Error::DuplicateMappingKey { key, .. } => {
            let key = key
                .as_deref()
                .map(|k| format!("`{k}`"))
                .unwrap_or_else(|| "a key".into());
            match kind {
                Reader::Envs => format!("{key} is written twice in one mapping: write it once"),
                Reader::Kubeconfig => format!(
                    "{key} is written twice in one mapping; kubectl silently keeps the last, bootstrap will not guess or drop one: write it once"
                ),
            }
        }
        Error::Budget {
            breach: BudgetBreach::Depth { .. },
            ..
        } => too_deep(),
        Error::Budget { .. } => "the file is larger or more complex than bootstrap reads (too many aliases or anchors)".into(),
        other => {
            let text = other.render_with_options(serde_saphyr::render_options! {
                formatter: &serde_saphyr::UserMessageFormatter,
                snippets: serde_saphyr::SnippetMode::Off,
            });
            let text = text.lines().next().unwrap_or_default();
            // The position is printed by the caller; the parser's own "recursion limit" is the
            // nesting bound of flow collections (`[[[`), the same limit as `Depth`.
            let text = match text.find(" at line ") {
                Some(i) => &text[..i],
                None => text,
            };
            if text.contains("recursion limit exceeded") {
                too_deep()
            } else {
                text.to_owned()
            }
        }
    }
}

fn too_deep() -> String {
    "nested deeper than 10,000 levels, where kubectl's YAML reader stops too".into()
}

/// A snippet wrapper carries the real error inside.
fn unwrap(e: &Error) -> &Error {
    match e {
        Error::WithSnippet { error, .. } => unwrap(error),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> Error {
        serde_saphyr::from_str_with_options::<serde_json::Value>(
            text,
            serde_saphyr::options! {
                duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
                with_snippet: false,
            },
        )
        .unwrap_err()
    }

    /// Each text the library writes for its programmer, as the user now reads it.
    #[test]
    fn no_library_words_reach_the_user() {
        for (text, reader, want) in [
            (
                "a: 1\n---\nb: 2\n",
                Reader::Kubeconfig,
                "a second YAML document",
            ),
            (
                "a: 1\n---\nb: 2\n",
                Reader::Envs,
                "an environment file is one document",
            ),
            ("a: 1\na: 2\n", Reader::Kubeconfig, "`a` is written twice"),
            ("a: [\n", Reader::Envs, ""),
        ] {
            let (msg, at) = describe(&parse_err(text), reader);
            assert!(msg.contains(want), "{text:?}: {msg}");
            for library in ["from_str", "Options", "Policy", "budget", "{ ", " at line "] {
                assert!(!msg.contains(library), "{text:?}: {msg}");
            }
            assert!(at.is_some(), "{text:?}: no position");
        }
        let deep = format!("a: {}{}\n", "[".repeat(300), "]".repeat(300));
        let (msg, _) = describe(&parse_err(&deep), Reader::Kubeconfig);
        assert!(msg.starts_with("nested deeper than 10,000 levels"), "{msg}");
    }
}
