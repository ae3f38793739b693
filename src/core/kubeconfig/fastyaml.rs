//! A fast path for reading the common kubeconfig: builds the tree straight from saphyr-parser's
//! events, about twice as fast as going through serde (the parse is nearly all of a merge's
//! time: a 1,000-context file takes ~60 ms through serde-saphyr, ~25 ms as bare events).
//!
//! It only decides what is unambiguous: collections, quoted scalars, and plain scalars that
//! cannot be anything but a string. Every other plain scalar is typed by serde-saphyr itself
//! (with the caller's options), and anything unusual (anchors, aliases, tags, merge keys,
//! repeated keys, non-string keys, block scalars, directives, several documents, any error)
//! makes it give up, so the caller parses the whole text with serde-saphyr. The tree is
//! therefore the one serde-saphyr would build; the tests and the fuzz target hold the two paths
//! to that.

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Value};

enum Frame {
    Seq(Vec<Value>),
    Map(Map<String, Value>, Option<String>),
}

/// The tree, or None when the text needs the full parser.
pub fn parse(text: &str, resolve: &dyn Fn(&str) -> Option<Value>) -> Option<Option<Value>> {
    if needs_full_parser(text) {
        return None;
    }
    let bytes = text.as_bytes();
    // For each open collection: whether it is a flow one, and its first line.
    let mut opened: Vec<(bool, usize)> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Value> = None;
    let mut documents = 0;
    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev.ok()?;
        let value = match ev {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return None;
                }
                continue;
            }
            Event::Alias(_) => return None,
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag)
                if anchor != 0 || tag.is_some() =>
            {
                return None
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let flow = matches!(bytes.get(span.start.index()), Some(b'{' | b'['));
                opened.push((flow, span.start.line()));
                stack.push(match ev {
                    Event::SequenceStart(..) => Frame::Seq(Vec::new()),
                    _ => Frame::Map(Map::new(), None),
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd
                if opened
                    .pop()
                    .is_some_and(|(flow, line)| flow && line != span.end.line()) =>
            {
                return None
            }
            Event::SequenceEnd => match stack.pop()? {
                Frame::Seq(v) => Value::Array(v),
                Frame::Map(..) => return None,
            },
            Event::MappingEnd => match stack.pop()? {
                Frame::Map(m, None) => Value::Object(m),
                _ => return None,
            },
            Event::Scalar(v, style, anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    return None;
                }
                // A key is taken as written only when it is surely a string.
                if let Some(Frame::Map(_, pending @ None)) = stack.last_mut() {
                    if style == ScalarStyle::Plain && (!surely_string(&v) || v == "<<") {
                        return None;
                    }
                    // YAML limits an implicit key to one line of at most 1024 characters;
                    // saphyr-parser does not check, serde-saphyr's parser does (found by
                    // fuzzing: a 1025-character quoted key passed here only).
                    if span.start.line() != span.end.line()
                        || span.end.index() - span.start.index() > 1024
                    {
                        return None;
                    }
                    *pending = Some(v.into_owned());
                    continue;
                }
                match style {
                    // saphyr-parser keeps a whitespace-only last line of a block scalar that
                    // YAML's chomping drops (found by fuzzing); kubectl writes no block
                    // scalars, so the full parser reads any.
                    ScalarStyle::Literal | ScalarStyle::Folded => return None,
                    // saphyr-parser lets a plain scalar start with an indicator (`{a: |1}`
                    // reads as the string `|1`), which YAML and serde-saphyr refuse (found by
                    // fuzzing); the full parser decides.
                    ScalarStyle::Plain if !plain_first(&v) => return None,
                    ScalarStyle::Plain if v.is_empty() => Value::Null,
                    ScalarStyle::Plain if !surely_string(&v) => resolve(&v)?,
                    _ => Value::String(v.into_owned()),
                }
            }
        };
        place(&mut stack, &mut root, value)?;
    }
    if !stack.is_empty() {
        return None;
    }
    // A document that is only `---` (or `~`, `null`) is no document, as serde-saphyr reads an
    // `Option` (found by fuzzing: the fast path called `---` a null top level).
    Some(root.filter(|v| !v.is_null()))
}

/// What the fast path does not read as kubectl and serde-saphyr would, seen before parsing.
fn needs_full_parser(text: &str) -> bool {
    // saphyr-parser's events pass characters YAML does not allow in a stream (found by fuzzing:
    // an ESC inside a comment), which serde-saphyr and kubectl refuse; the full parser decides.
    if !printable(text) {
        return true;
    }
    // Directives (`%YAML`, `%TAG`, reserved ones) are read differently by saphyr-parser (which
    // skipped a malformed one, found by fuzzing) and serde-saphyr; kubectl writes none.
    if text.starts_with('%') || text.contains("\n%") || text.contains("\r%") {
        return true;
    }
    // A flow collection (`{...}`, `[...]`) across lines lets saphyr-parser accept an implicit
    // key whose `:` is on the next line, which YAML and serde-saphyr refuse (found by fuzzing);
    // kubectl writes flow collections only empty, on one line, so any other goes to the full
    // parser. Flow openers are told by their byte, so a text with brackets must be ASCII here
    // (saphyr-parser's markers count characters).
    !text.is_ascii() && text.contains(['{', '['])
}

/// Puts a finished value where it belongs: the root, the open sequence, or the open map under
/// its pending key. None when YAML would refuse it (a second root, a repeated key).
fn place(stack: &mut [Frame], root: &mut Option<Value>, value: Value) -> Option<()> {
    match stack.last_mut() {
        None => {
            if root.is_some() {
                return None;
            }
            *root = Some(value);
        }
        Some(Frame::Seq(items)) => items.push(value),
        Some(Frame::Map(map, pending)) => {
            let key = pending.take()?;
            if map.insert(key, value).is_some() {
                return None;
            }
        }
    }
    Some(())
}

/// YAML 1.2's c-printable set (section 5.1): tab, line breaks, printable ASCII, NEL and the
/// Unicode ranges outside surrogates and U+FFFE/U+FFFF; the byte-order mark is allowed too.
fn printable(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    })
}

/// Whether a plain scalar may start the way it does (YAML 1.2 `ns-plain-first`): not with an
/// indicator, except `-`, `?` and `:` followed by a non-space. Empty is the null it stands for.
fn plain_first(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        None => true,
        Some('-' | '?' | ':') => chars.next().is_some_and(|c| !c.is_whitespace()),
        Some(c) => !matches!(
            c,
            ',' | '['
                | ']'
                | '{'
                | '}'
                | '#'
                | '&'
                | '*'
                | '!'
                | '|'
                | '>'
                | '\''
                | '"'
                | '%'
                | '@'
                | '`'
        ),
    }
}

/// A plain scalar no YAML 1.1 or 1.2 reader types as anything but a string: it starts with a
/// letter or `/` and is not one of the words that name booleans, null or special floats.
fn surely_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf", "infinity",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == '/') {
        return false;
    }
    !WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_yaml_does_not_allow_go_to_the_full_parser() {
        let plain = |t: &str| parse(t, &|_| None);
        assert!(plain("# a comment\n").is_some());
        assert!(plain("# only a co\u{1b}mment\n").is_none());
        assert!(plain("a: \"b\u{7}\"\n").is_none());
        assert!(plain("a: caf\u{e9}\n").is_some());
    }

    #[test]
    fn long_or_multi_line_keys_go_to_the_full_parser() {
        let resolve = |s: &str| (s == "1").then(|| Value::from(1));
        let long = format!("\"{}\": 1\n", "k".repeat(1030));
        assert!(parse(&long, &resolve).is_none());
        assert!(parse("{\"a\n b\": 1}\n", &resolve).is_none());
        let fine = format!("{}: 1\n", "k".repeat(1000));
        assert!(parse(&fine, &resolve).is_some());
    }

    #[test]
    fn a_plain_scalar_starting_with_an_indicator_goes_to_the_full_parser() {
        let resolve = |_: &str| Some(Value::String("typed".into()));
        assert!(parse("{a: |1,}\n", &resolve).is_none());
        assert!(parse("[>x]\n", &resolve).is_none());
        assert!(parse("a: [@x]\n", &resolve).is_none());
        assert!(parse("a: [-1, -x, ?y, :z]\n", &resolve).is_some());
    }

    #[test]
    fn directives_go_to_the_full_parser() {
        let resolve = |_: &str| None;
        assert!(parse("%-g, x: [y]\n", &resolve).is_none());
        assert!(parse("%YAML 1.2\n---\na: b\n", &resolve).is_none());
        assert!(parse("a: b%c\n", &resolve).is_some());
    }

    #[test]
    fn an_empty_document_is_no_document() {
        let resolve = |s: &str| (s == "~" || s == "null").then_some(Value::Null);
        for text in ["---\n", "---\n\n\n", "~\n", "--- null\n"] {
            assert_eq!(parse(text, &resolve), Some(None), "{text:?}");
        }
    }

    #[test]
    fn only_plain_words_that_cannot_be_typed_are_taken_as_strings() {
        for s in [
            "https://x:6443",
            "dev-vcluster",
            "/home/u/.kube/ca.crt",
            "v1",
            "Config",
            "nope",
            "onion",
            "yesterday",
        ] {
            assert!(surely_string(s), "{s}");
        }
        for s in [
            "",
            "true",
            "True",
            "YES",
            "n",
            "Off",
            "null",
            "NULL",
            "nan",
            "Infinity",
            "1",
            "0x1F",
            "-1",
            ".inf",
            "~",
            "1:20",
            "2024-01-01",
            "+1",
        ] {
            assert!(!surely_string(s), "{s}");
        }
    }
}
