//! The one way a value reaches YAML: the `q` template filter.
//!
//! `q` emits any value as a YAML double-quoted scalar that parses back to exactly the same
//! string: quotes, backslashes, line breaks and every character YAML does not allow raw are
//! escaped, and because the scalar is quoted, `yes`, `no`, `on`, `null`, `0777`, `1e3`, `*x`,
//! `&x`, `!x`, `- x` and `{{ x }}` stay strings. Templates never concatenate raw user text into
//! YAML. Quoting needs no YAML library; reading and writing YAML documents is `util/yaml.rs`'s.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

/// Quotes a string as a YAML double-quoted scalar.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_plain_printable(c) => out.push(c),
            c if u32::from(c) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08X}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// Characters YAML allows raw inside a double-quoted scalar, minus the line breaks and
/// separators that some parsers fold (NEL, LS, PS) and the byte-order mark.
fn is_plain_printable(c: char) -> bool {
    let code = u32::from(c);
    (0x20..=0x7E).contains(&code)
        || ((0xA0..=0xD7FF).contains(&code) && code != 0x2028 && code != 0x2029)
        || ((0xE000..=0xFFFD).contains(&code) && code != 0xFEFF)
        || (0x10000..=0x0010_FFFF).contains(&code)
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A kustomize `configMapGenerator` literal `KEY=VALUE` whose value survives kustomize's
/// quote stripping: kustomize removes one pair of matching outer quotes, so a value that has
/// them gets one more pair.
pub fn kv_literal(key: &str, value: &str) -> String {
    let bytes = value.as_bytes();
    let quoted =
        bytes.len() >= 2 && bytes[0] == bytes[bytes.len() - 1] && matches!(bytes[0], b'"' | b'\'');
    if quoted {
        format!("{key}=\"{value}\"")
    } else {
        format!("{key}={value}")
    }
}

/// Registers `q` (quote one value), `qlist` (a flow sequence of quoted values) and
/// `kv_literal(key=...)` (a configMapGenerator literal, to be quoted with `q`).
pub fn register_filters(tera: &mut tera::Tera) {
    // Templates (an organisation's overrides among them) never read the environment: a
    // merged pull request could otherwise write a CI runner's credentials into a repo.
    tera.register_function("get_env", |_: &HashMap<String, Value>| {
        Err(tera::Error::msg(
            "`get_env` is disabled in strata templates",
        ))
    });
    tera.register_filter(
        "kv_literal",
        |value: &Value, args: &HashMap<String, Value>| {
            let key = args
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| tera::Error::msg("`kv_literal` needs `key`"))?;
            Ok(Value::String(kv_literal(key, &scalar_text(value))))
        },
    );
    tera.register_filter("q", |value: &Value, _: &HashMap<String, Value>| {
        Ok(Value::String(quote(&scalar_text(value))))
    });
    tera.register_filter("qlist", |value: &Value, _: &HashMap<String, Value>| {
        let items = value
            .as_array()
            .ok_or_else(|| tera::Error::msg("`qlist` needs a list"))?;
        let quoted: Vec<String> = items.iter().map(|item| quote(&scalar_text(item))).collect();
        Ok(Value::String(format!("[{}]", quoted.join(", "))))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tricky_strings_are_quoted() {
        assert_eq!(quote("yes"), "\"yes\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("line1\nline2"), "\"line1\\nline2\"");
        assert_eq!(quote("\u{7f}"), "\"\\u007F\"");
        assert_eq!(quote("\u{2028}"), "\"\\u2028\"");
        assert_eq!(quote("héllo ✓"), "\"héllo ✓\"");
        assert_eq!(quote("{{ x }}"), "\"{{ x }}\"");
        assert_eq!(quote("\u{1F600}"), "\"\u{1F600}\"");
    }
}
