//! The one rule for boolean variables (BOOTSTRAP_OFFLINE): which words mean yes and which mean
//! no. Anything else is refused with the variable, its value and this list, rather than guessed:
//! `BOOTSTRAP_OFFLINE=no` once meant offline because every value but `0` and `false` did.

/// Words read as true, in any case.
pub const TRUE_WORDS: [&str; 4] = ["true", "1", "yes", "on"];
/// Words read as false, in any case.
pub const FALSE_WORDS: [&str; 4] = ["false", "0", "no", "off"];

/// What a boolean variable may hold, for messages and docs.
pub fn valid_words() -> String {
    format!(
        "{}, or {} (any case; empty is the same as unset)",
        TRUE_WORDS.join(", "),
        FALSE_WORDS.join(", ")
    )
}

/// Pure: the value of boolean variable `name`. None and an empty (or blank) value mean unset
/// and give None, as a shell's `VAR= cmd` means; surrounding blanks are ignored. A value that
/// is not UTF-8 is refused like any other unknown word.
pub fn parse(name: &str, value: Option<&std::ffi::OsStr>) -> Result<Option<bool>, String> {
    let Some(raw) = value else { return Ok(None) };
    let Some(text) = raw.to_str() else {
        return Err(format!(
            "{name}={}: not a boolean\n  hint: use {}",
            raw.to_string_lossy(),
            valid_words()
        ));
    };
    let word = text.trim();
    if word.is_empty() {
        return Ok(None);
    }
    let is = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(word));
    if is(&TRUE_WORDS) {
        Ok(Some(true))
    } else if is(&FALSE_WORDS) {
        Ok(Some(false))
    } else {
        Err(format!(
            "{name}={text}: `{word}` is not a boolean\n  hint: use {}",
            valid_words()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn p(v: &str) -> Result<Option<bool>, String> {
        parse("BOOTSTRAP_OFFLINE", Some(OsStr::new(v)))
    }

    #[test]
    fn each_word_means_what_it_says_in_any_case() {
        for w in ["true", "TRUE", "1", "yes", "Yes", "on", "ON", " on "] {
            assert_eq!(p(w), Ok(Some(true)), "{w}");
        }
        for w in ["false", "False", "0", "no", "NO", "off", "Off"] {
            assert_eq!(p(w), Ok(Some(false)), "{w}");
        }
        assert_eq!(p(""), Ok(None));
        assert_eq!(p("  "), Ok(None));
        assert_eq!(parse("X", None), Ok(None));
    }

    #[test]
    fn anything_else_is_refused_naming_the_variable_value_and_words() {
        for w in ["maybe", "2", "y", "n", "offline", "nope", "-1"] {
            let e = p(w).unwrap_err();
            assert_eq!(
                e,
                format!("BOOTSTRAP_OFFLINE={w}: `{w}` is not a boolean\n  hint: use true, 1, yes, on, or false, 0, no, off (any case; empty is the same as unset)"),
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let e = parse("BOOTSTRAP_OFFLINE", Some(OsStr::from_bytes(b"\xffno"))).unwrap_err();
            assert!(
                e.starts_with("BOOTSTRAP_OFFLINE=\u{fffd}no: not a boolean"),
                "{e}"
            );
        }
    }
}
