//! Personal data in what the API answers: phone numbers (every form `PhoneNumber::parse`
//! reads: `0241234567`, `024 123 4567`, `024-123-4567`, `241234567`, `+233 24 123 4567`) and
//! e-mail addresses are masked wherever they appear in a string, so a saga's input, an
//! outbox payload, a billing contact or an error message shows `024****567` and
//! `a***@acme.test`. Other numbers stay as they are.

use std::borrow::Cow;

use serde_json::Value;

use super::phone::{PhoneNumber, mask_phones_in};

/// Masks every string in `v`, in place.
pub(crate) fn mask_json(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Cow::Owned(masked) = mask_text(s) {
                *s = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_json),
        Value::Object(fields) => fields.values_mut().for_each(mask_json),
        _ => {}
    }
}

/// `text` with its phone numbers and e-mail addresses masked; borrowed when it has none.
pub(crate) fn mask_text(text: &str) -> Cow<'_, str> {
    let phones = mask_phone_forms(text);
    match mask_emails(&phones) {
        Cow::Owned(masked) => Cow::Owned(masked),
        Cow::Borrowed(_) => phones,
    }
}

/// A separator a written phone number may have between its digit groups.
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'-')
}

fn mask_phone_forms(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    if !bytes.iter().any(u8::is_ascii_digit) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        // A UUID's groups can be all digits (`…-8000-233241234567`): an id, never a phone.
        if is_uuid_at(bytes, i) {
            out.push_str(&text[i..i + UUID_LEN]);
            i += UUID_LEN;
            continue;
        }
        let starts = bytes[i].is_ascii_digit()
            || (bytes[i] == b'+' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
        // A number glued to letters (`cs_test_sim1796…`, `DHL0000000042SIM`) is an id.
        let glued = i > 0 && bytes[i - 1].is_ascii_alphanumeric();
        if !starts || glued {
            let len = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[i..i + len]);
            i += len;
            continue;
        }
        // The longest span of digit groups joined by single separators.
        let start = i;
        i += 1;
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                i += 1;
            } else if is_separator(bytes[i]) && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                i += 2;
            } else {
                break;
            }
        }
        let span = &text[start..i];
        let id_like = bytes.get(i).is_some_and(u8::is_ascii_alphabetic);
        match PhoneNumber::parse(span) {
            Ok(phone) if !id_like => {
                out.push_str(&phone.masked());
                changed = true;
            }
            // Several numbers in one span, or none: mask the plain runs in it.
            _ => {
                let runs = mask_phones_in(span);
                changed |= runs != span;
                out.push_str(&runs);
            }
        }
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

const UUID_LEN: usize = 36;

/// Whether a whole UUID (8-4-4-4-12 hex digits, not part of a longer word) starts at `i`.
fn is_uuid_at(bytes: &[u8], i: usize) -> bool {
    let Some(candidate) = bytes.get(i..i + UUID_LEN) else {
        return false;
    };
    let shaped = candidate.iter().enumerate().all(|(k, b)| match k {
        8 | 13 | 18 | 23 => *b == b'-',
        _ => b.is_ascii_hexdigit(),
    });
    let alone_before = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
    let alone_after = bytes
        .get(i + UUID_LEN)
        .is_none_or(|b| !b.is_ascii_alphanumeric());
    shaped && alone_before && alone_after
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

fn mask_emails(text: &str) -> Cow<'_, str> {
    if !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices('@') {
        if at < copied {
            continue;
        }
        let mut start = at;
        while start > copied && is_local(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && is_domain(bytes[end]) {
            end += 1;
        }
        let domain = text[at + 1..end].trim_end_matches('.');
        if start == at || !domain.contains('.') {
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(&text[start..start + 1]);
        out.push_str("***@");
        out.push_str(domain);
        copied = at + 1 + domain.len();
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_written_form_of_a_phone_is_masked() {
        for form in [
            "0241234567",
            "024 123 4567",
            "024-123-4567",
            "241234567",
            "+233241234567",
            "+233 24 123 4567",
            "233-24-123-4567",
        ] {
            assert_eq!(mask_text(form), "024****567", "{form}");
            assert_eq!(
                mask_text(&format!("call {form}, please")),
                "call 024****567, please",
                "{form}"
            );
        }
        assert_eq!(
            mask_text("0241234567 and 0201234567"),
            "024****567 and 020****567"
        );
    }

    #[test]
    fn other_numbers_and_ids_stay() {
        for text in [
            "29800",
            "2026-03-01T09:00:00Z",
            "2026-03-01 09:00:00+00",
            "cs_test_sim1796058491658729",
            "DHL0000000042SIM",
            "01a22d7d-9596-728c-a272-7b7c308b8e37",
            // UUIDs whose groups are all digits, one of them a whole phone number.
            "01a22d7d-9596-728c-a272-233241234567",
            "0193f0c2-1234-7000-8000-024123456789",
            "saga 01a22d7d-0241-2345-6789-024123456789 parked",
            "HW-JTGQBCA9",
            "already 024****567",
        ] {
            assert_eq!(mask_text(text), text);
        }
    }

    #[test]
    fn email_addresses_keep_their_first_letter_and_domain() {
        assert_eq!(mask_text("ada@acme.test"), "a***@acme.test");
        assert_eq!(
            mask_text("to ada.l+x@acme.test. or bob@example.com"),
            "to a***@acme.test. or b***@example.com"
        );
        assert_eq!(mask_text("not @ an address"), "not @ an address");
        assert_eq!(mask_text("a***@acme.test"), "a***@acme.test");
    }

    #[test]
    fn json_is_masked_at_every_depth() {
        let mut v = json!({
            "input": { "phone_number": "0241234567", "n": 241234567 },
            "contacts": [{ "email": "ada@acme.test" }],
            "error": "the reseller refused +233 24 123 4567"
        });
        mask_json(&mut v);
        assert_eq!(
            v,
            json!({
                "input": { "phone_number": "024****567", "n": 241234567 },
                "contacts": [{ "email": "a***@acme.test" }],
                "error": "the reseller refused 024****567"
            })
        );
    }
}
