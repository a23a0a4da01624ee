//! Human-readable order codes (`DB-7K2QX9MT`): short enough to read over the phone, random
//! enough that the unique index almost never refuses one.

use rand::Rng;

/// Letters and digits without the look-alikes 0/O and 1/I/L.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A new code: `prefix`, a dash and 8 random characters (about 40 bits).
pub(crate) fn new_order_code(prefix: &str) -> String {
    let mut rng = rand::rng();
    let tail: String = (0..8)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("{prefix}-{tail}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_have_the_prefix_and_length() {
        let code = super::new_order_code("DB");
        assert!(code.starts_with("DB-"));
        assert_eq!(code.len(), 11);
        assert_ne!(code, super::new_order_code("DB"));
    }
}
