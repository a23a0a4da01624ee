//! Text from outside (provider answers, webhook payloads, delivery errors) made storable.
//!
//! Postgres refuses a NUL character in `text` and the escape `\u0000` in `jsonb`, and a body
//! that is not UTF-8 cannot be text at all. One such byte from a provider would make the write
//! that records it fail, and a step whose checkpoint fails runs again, so the bad answer would
//! be fetched and refused forever. Everything a provider says is therefore passed through here
//! before it is stored: invalid UTF-8 and NUL both become U+FFFD, which shows where something
//! was replaced and keeps the rest readable.

use std::borrow::Cow;

use serde_json::Value;

/// What a NUL or an invalid byte sequence becomes (U+FFFD, as a lossy UTF-8 decode does).
const REPLACEMENT: &str = "\u{FFFD}";

/// The JSON escape that decodes to NUL. JSON allows only a lowercase `u` and `0000` has no
/// letters, so this is its one spelling.
const JSON_NUL: &str = "\\u0000";

/// `text` with every NUL replaced; borrowed when there was none.
pub fn text(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', REPLACEMENT))
    } else {
        Cow::Borrowed(text)
    }
}

/// `text` cleaned in place (see [`text`]).
pub fn string(text: String) -> String {
    match self::text(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(clean) => clean,
    }
}

/// Bytes as storable text: a lossy UTF-8 decode, then NUL replaced.
pub fn bytes(bytes: &[u8]) -> Cow<'_, str> {
    match String::from_utf8_lossy(bytes) {
        Cow::Borrowed(t) => text(t),
        Cow::Owned(t) => Cow::Owned(string(t)),
    }
}

/// Every string in `value`, object keys included, cleaned (see [`text`]).
pub fn json(value: &mut Value) {
    match value {
        Value::String(s) => {
            if s.contains('\0') {
                *s = s.replace('\0', REPLACEMENT);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(json),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let entries = std::mem::take(map);
                for (k, v) in entries {
                    map.insert(string(k), v);
                }
            }
            map.values_mut().for_each(json);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `value` with every string cleaned (see [`json`]); borrowed when none needed it.
pub(crate) fn json_ref(value: &Value) -> Cow<'_, Value> {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }
    if !has_nul(value) {
        return Cow::Borrowed(value);
    }
    let mut clean = value.clone();
    json(&mut clean);
    Cow::Owned(clean)
}

/// A provider's answer body made safe to decode and to store: valid UTF-8, no NUL byte, and,
/// when it is JSON, no string that decodes to NUL. Borrowed when it already was (nearly always).
pub fn body(raw: &[u8]) -> Cow<'_, [u8]> {
    let clean = std::str::from_utf8(raw).is_ok_and(|t| !t.contains('\0') && !t.contains(JSON_NUL));
    if clean {
        return Cow::Borrowed(raw);
    }
    let mut text = bytes(raw).into_owned();
    if text.contains(JSON_NUL) {
        // Only a parser knows whether `\u0000` is an escape or an escaped backslash before
        // "u0000", so JSON is decoded, cleaned and written again. Text that is not JSON keeps
        // the six characters: nothing will decode them.
        if let Ok(mut value) = serde_json::from_str::<Value>(&text) {
            json(&mut value);
            text = value.to_string();
        }
    }
    Cow::Owned(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_invalid_utf8_become_replacement_characters() {
        assert_eq!(text("plain"), Cow::Borrowed("plain"));
        assert_eq!(text("a\0b"), "a\u{FFFD}b");
        assert_eq!(
            bytes(b"ok \xff\xfe and \0"),
            "ok \u{FFFD}\u{FFFD} and \u{FFFD}"
        );
        assert!(!bytes(b"\0\0").contains('\0'));
        assert_eq!(string("x\0".into()), format!("x{REPLACEMENT}"));
    }

    #[test]
    fn json_strings_and_keys_lose_their_nuls() {
        let mut v = serde_json::json!({"a\u{0}": ["x\u{0}y", 1, null, {"k": "\u{0}"}]});
        json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a\u{FFFD}": ["x\u{FFFD}y", 1, null, {"k": "\u{FFFD}"}]})
        );
        let fine = serde_json::json!({"a": ["b", 1]});
        assert!(matches!(json_ref(&fine), Cow::Borrowed(_)));
        let nul = serde_json::json!({"a": [{"b": "\u{0}"}]});
        assert_eq!(
            *json_ref(&nul),
            serde_json::json!({"a": [{"b": "\u{FFFD}"}]})
        );
    }

    #[test]
    fn bodies_are_left_alone_unless_they_need_cleaning() {
        let fine = br#"{"message":"ok","amount":5}"#;
        assert!(matches!(body(fine), Cow::Borrowed(_)));
        // The escape decodes to NUL: cleaned, and the result still parses.
        let escaped = br#"{"message":"bad\u0000thing"}"#;
        let cleaned = body(escaped);
        let v: Value = serde_json::from_slice(&cleaned).unwrap();
        assert_eq!(v["message"], "bad\u{FFFD}thing");
        // An escaped backslash followed by "u0000" is no NUL and keeps its meaning.
        let literal = br#"{"message":"C:\\u0000"}"#;
        let v: Value = serde_json::from_slice(&body(literal)).unwrap();
        assert_eq!(v["message"], "C:\\u0000");
        // Raw NUL and invalid UTF-8 in a body that is not JSON.
        let raw = b"oops\0\xc3(";
        assert_eq!(
            std::str::from_utf8(&body(raw)).unwrap(),
            "oops\u{FFFD}\u{FFFD}("
        );
    }
}
