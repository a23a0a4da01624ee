//! Ghanaian mobile numbers: parsing user input into the 10-digit national form, the network a
//! prefix belongs to, and a masked form (`024****567`) for every log line.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A mobile network sagaflow can deliver data bundles on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Network {
    Mtn,
    Telecel,
    AirtelTigo,
}

impl Network {
    pub const ALL: [Network; 3] = [Network::Mtn, Network::Telecel, Network::AirtelTigo];

    /// The name resellers expect on the wire: `MTN`, `TELECEL` or `AIRTELTIGO`.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Mtn => "MTN",
            Network::Telecel => "TELECEL",
            Network::AirtelTigo => "AIRTELTIGO",
        }
    }

    /// The national prefixes (with the leading 0) this network owns.
    pub(crate) fn prefixes(self) -> &'static [&'static str] {
        match self {
            Network::Mtn => &["024", "025", "053", "054", "055", "059"],
            Network::Telecel => &["020", "050"],
            Network::AirtelTigo => &["026", "027", "056", "057"],
        }
    }

    /// The network owning a national prefix such as `024`.
    pub(crate) fn from_prefix(prefix: &str) -> Option<Network> {
        Network::ALL
            .into_iter()
            .find(|network| network.prefixes().contains(&prefix))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A network name that matches none of the known networks or their aliases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network {0:?}: expected MTN, TELECEL or AIRTELTIGO")]
pub struct UnknownNetwork(pub String);

impl FromStr for Network {
    type Err = UnknownNetwork;

    /// Case-insensitive; accepts common aliases (`AT`, `AIRTEL_TIGO`, `AT-iShare`, `Vodafone`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-'))
            .collect::<String>()
            .to_ascii_uppercase();
        match key.as_str() {
            "MTN" => Ok(Network::Mtn),
            "TELECEL" | "VODAFONE" => Ok(Network::Telecel),
            "AIRTELTIGO" | "AT" | "AIRTEL" | "TIGO" | "ATISHARE" => Ok(Network::AirtelTigo),
            _ => Err(UnknownNetwork(s.to_string())),
        }
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a phone number was refused. Always permanent: retrying the same input cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number may contain only digits, spaces, dashes and a leading +")]
    InvalidCharacters,
    #[error("phone number has {0} digits; expected 10 (0XXXXXXXXX), 9, or 12 starting with 233")]
    WrongLength(usize),
    #[error("phone number prefix {0} is not a Ghanaian mobile network prefix")]
    UnknownPrefix(String),
    #[error("phone number {number} is on {actual}, but the order is for {expected}")]
    NetworkMismatch {
        /// The masked number, safe to show and log.
        number: String,
        expected: Network,
        actual: Network,
    },
}

/// A Ghanaian mobile number, held in its 10-digit national form (`0241234567`).
///
/// `Display` and `Debug` show only the masked form; call [`PhoneNumber::as_national`] where the
/// full number is really needed (the provider request itself).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses `0241234567`, `241234567`, `233241234567` or `+233241234567`, ignoring spaces
    /// and dashes.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                _ => return Err(PhoneError::InvalidCharacters),
            }
        }
        if digits.is_empty() {
            return Err(PhoneError::Empty);
        }
        let national = match digits.len() {
            10 if !plus && digits.starts_with('0') => digits,
            9 if !plus && !digits.starts_with('0') => format!("0{digits}"),
            12 if digits.starts_with("233") && digits.as_bytes()[3] != b'0' => {
                format!("0{}", &digits[3..])
            }
            n => return Err(PhoneError::WrongLength(n)),
        };
        let prefix = &national[..3];
        if Network::from_prefix(prefix).is_none() {
            return Err(PhoneError::UnknownPrefix(prefix.to_string()));
        }
        Ok(PhoneNumber(national))
    }

    /// The full 10-digit national form, for the provider request. Never log it.
    pub fn as_national(&self) -> &str {
        &self.0
    }

    /// The international form without `+` (`233241234567`), as SMS gateways expect.
    pub(crate) fn international(&self) -> String {
        format!("233{}", &self.0[1..])
    }

    /// The form for logs and operator screens: `024****567`.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }

    /// The network the prefix belongs to.
    pub fn network(&self) -> Network {
        // `parse` refuses prefixes no network owns, so the fallback is never taken.
        Network::from_prefix(&self.0[..3]).unwrap_or(Network::Mtn)
    }

    /// Refuses a number that is not on the network the order names.
    pub(crate) fn check_network(&self, expected: Network) -> Result<(), PhoneError> {
        let actual = self.network();
        if actual == expected {
            Ok(())
        } else {
            Err(PhoneError::NetworkMismatch {
                number: self.masked(),
                expected,
                actual,
            })
        }
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PhoneNumber::parse(s)
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

/// Serialised in full national form, because saga input is persisted and must round-trip.
impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PhoneNumber::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Masks every Ghanaian mobile number found in free text (`0241234567`, `233241234567`,
/// `+233241234567`), leaving other digit runs alone. Used on provider bodies before they are
/// logged or stored.
pub(crate) fn mask_phones_in(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let run = &text[start..i];
            let national = match run.len() {
                10 if run.starts_with('0') => Some(run.to_string()),
                12 if run.starts_with("233") => Some(format!("0{}", &run[3..])),
                _ => None,
            };
            match national.and_then(|n| PhoneNumber::parse(&n).ok()) {
                Some(phone) => {
                    if out.ends_with('+') {
                        out.pop();
                    }
                    out.push_str(&phone.masked());
                }
                None => out.push_str(run),
            }
        } else {
            let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[i..i + ch_len]);
            i += ch_len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_documented_format() {
        for input in [
            "0241234567",
            "241234567",
            "233241234567",
            "+233241234567",
            "024 123 4567",
            "024-123-4567",
            " +233 24-123-4567 ",
        ] {
            let phone = PhoneNumber::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(phone.as_national(), "0241234567", "{input}");
        }
    }

    #[test]
    fn maps_every_prefix_to_its_network() {
        let cases = [
            ("024", Network::Mtn),
            ("025", Network::Mtn),
            ("053", Network::Mtn),
            ("054", Network::Mtn),
            ("055", Network::Mtn),
            ("059", Network::Mtn),
            ("020", Network::Telecel),
            ("050", Network::Telecel),
            ("026", Network::AirtelTigo),
            ("027", Network::AirtelTigo),
            ("056", Network::AirtelTigo),
            ("057", Network::AirtelTigo),
        ];
        for (prefix, network) in cases {
            let national = format!("{prefix}1234567");
            let phone = PhoneNumber::parse(&national).expect("valid");
            assert_eq!(phone.network(), network, "{prefix}");
            assert!(phone.check_network(network).is_ok());
            let international = format!("+233{}", &national[1..]);
            assert_eq!(PhoneNumber::parse(&international).expect("valid"), phone);
        }
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(PhoneNumber::parse(""), Err(PhoneError::Empty));
        assert_eq!(PhoneNumber::parse("   "), Err(PhoneError::Empty));
        assert_eq!(PhoneNumber::parse("+"), Err(PhoneError::Empty));
        assert_eq!(
            PhoneNumber::parse("024123456a"),
            Err(PhoneError::InvalidCharacters)
        );
        assert_eq!(
            PhoneNumber::parse("024.123.4567"),
            Err(PhoneError::InvalidCharacters)
        );
        assert_eq!(
            PhoneNumber::parse("024123456"),
            Err(PhoneError::WrongLength(9))
        );
        assert_eq!(
            PhoneNumber::parse("02412345678"),
            Err(PhoneError::WrongLength(11))
        );
        assert_eq!(PhoneNumber::parse("12345"), Err(PhoneError::WrongLength(5)));
        assert_eq!(
            PhoneNumber::parse("+0241234567"),
            Err(PhoneError::WrongLength(10))
        );
        assert_eq!(
            PhoneNumber::parse("2330241234567"),
            Err(PhoneError::WrongLength(13))
        );
        assert_eq!(
            PhoneNumber::parse("0301234567"),
            Err(PhoneError::UnknownPrefix("030".into()))
        );
        assert_eq!(
            PhoneNumber::parse("0211234567"),
            Err(PhoneError::UnknownPrefix("021".into()))
        );
    }

    #[test]
    fn mismatch_is_a_clear_error_without_the_full_number() {
        let phone = PhoneNumber::parse("0201234567").expect("valid");
        let err = phone.check_network(Network::Mtn).expect_err("mismatch");
        let text = err.to_string();
        assert!(text.contains("TELECEL") && text.contains("MTN"), "{text}");
        assert!(text.contains("020****567"), "{text}");
        assert!(!text.contains("0201234567"), "{text}");
    }

    #[test]
    fn display_and_debug_are_masked() {
        let phone = PhoneNumber::parse("0241234567").expect("valid");
        assert_eq!(phone.masked(), "024****567");
        assert_eq!(phone.to_string(), "024****567");
        assert_eq!(format!("{phone:?}"), "PhoneNumber(024****567)");
        assert_eq!(phone.international(), "233241234567");
    }

    #[test]
    fn serde_round_trips_in_national_form() {
        let phone: PhoneNumber = serde_json::from_str("\"+233 24 123 4567\"").expect("parse");
        assert_eq!(
            serde_json::to_string(&phone).expect("ser"),
            "\"0241234567\""
        );
        assert!(serde_json::from_str::<PhoneNumber>("\"abc\"").is_err());
    }

    #[test]
    fn network_names_and_aliases() {
        for (text, network) in [
            ("MTN", Network::Mtn),
            ("mtn", Network::Mtn),
            ("Telecel", Network::Telecel),
            ("vodafone", Network::Telecel),
            ("AIRTELTIGO", Network::AirtelTigo),
            ("AirtelTigo", Network::AirtelTigo),
            ("AT", Network::AirtelTigo),
            ("at", Network::AirtelTigo),
            ("AIRTEL_TIGO", Network::AirtelTigo),
            ("Airtel-Tigo", Network::AirtelTigo),
            ("AT-iShare", Network::AirtelTigo),
        ] {
            assert_eq!(text.parse::<Network>(), Ok(network), "{text}");
        }
        assert!("GLO".parse::<Network>().is_err());
        assert!("".parse::<Network>().is_err());
        assert_eq!(
            serde_json::to_string(&Network::AirtelTigo).expect("ser"),
            "\"AIRTELTIGO\""
        );
        assert_eq!(
            serde_json::from_str::<Network>("\"airtel_tigo\"").expect("de"),
            Network::AirtelTigo
        );
    }

    #[test]
    fn masks_numbers_in_free_text() {
        let text = r#"{"recipient_phone":"0241234567","to":"+233201234567","id":1234567890,"n":"233551234567"}"#;
        let masked = mask_phones_in(text);
        assert_eq!(
            masked,
            r#"{"recipient_phone":"024****567","to":"020****567","id":1234567890,"n":"055****567"}"#
        );
    }
}
