use std::fmt;

use uuid::Uuid;

/// An id the service makes: a UUID v4, written as a lower-case hyphenated string. Parsed from
/// a path or a stored record with [`parse`](UserId::parse): anything else names nothing.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// A UUID v4 in its 36-character form, in either case.
            pub fn parse(s: &str) -> Result<Self, String> {
                Uuid::parse_str(s)
                    .ok()
                    .filter(|u| u.get_version_num() == 4 && s.len() == 36)
                    .map(Self)
                    .ok_or_else(|| "must be a UUID".to_string())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                Self::parse(s)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// A user's id.
    UserId
);
uuid_id!(
    /// An entity's id.
    EntityId
);

fn char_len(s: &str) -> usize {
    s.chars().count()
}

fn all_ascii_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// 3–32 of `A-Z a-z 0-9 _ . -`, not all digits. Kept as given; unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, String> {
        let len = char_len(s);
        if !(3..=32).contains(&len) {
            return Err("must be 3 to 32 characters".into());
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err("may contain only letters, digits, '_', '.' and '-'".into());
        }
        if all_ascii_digits(s) {
            return Err("must not be all digits".into());
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and login compare.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// `local@domain.tld`, stored lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, String> {
        const INVALID: &str = "must be a valid email address (local@domain.tld)";
        if char_len(s) > 254 {
            return Err("must be at most 254 characters".into());
        }
        let (local, domain) = s.split_once('@').ok_or(INVALID)?;
        let local_ok = (1..=64).contains(&local.len())
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                (1..=63).contains(&l.len())
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
        if local_ok && domain_ok {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(INVALID.into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Optional leading `+`, then 8–15 ASCII digits; its identity is the number as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(s: &str) -> Result<Self, String> {
        let digits = s.strip_prefix('+').unwrap_or(s);
        if !all_ascii_digits(digits) {
            return Err("must be digits, optionally after a leading '+'".into());
        }
        if !(8..=15).contains(&digits.len()) {
            return Err("must have 8 to 15 digits".into());
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 8–128 characters, any characters.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(s: &str) -> Result<Self, String> {
        if !(8..=128).contains(&char_len(s)) {
            return Err("must be 8 to 128 characters".into());
        }
        Ok(Self(s.to_string()))
    }
}

/// Exactly six ASCII digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 6 && all_ascii_digits(s) {
            Ok(Self(s.to_string()))
        } else {
            Err("must be exactly 6 digits".into())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Password,
    Pin,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Pin => "pin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "password" => Some(Self::Password),
            "pin" => Some(Self::Pin),
            _ => None,
        }
    }
}

/// The secret an account is registered with: a password or a PIN.
#[derive(Clone)]
pub enum Secret {
    Password(Password),
    Pin(Pin),
}

impl Secret {
    pub fn kind(&self) -> SecretKind {
        match self {
            Self::Password(_) => SecretKind::Password,
            Self::Pin(_) => SecretKind::Pin,
        }
    }

    pub fn expose(&self) -> &str {
        match self {
            Self::Password(Password(s)) | Self::Pin(Pin(s)) => s,
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret::{:?}(..)", self.kind())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierKind {
    Username,
    Email,
    Phone,
}

impl IdentifierKind {
    pub fn field(self) -> &'static str {
        match self {
            Self::Username => "username",
            Self::Email => "email",
            Self::Phone => "phone_number",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Username => "Username",
            Self::Email => "Email",
            Self::Phone => "Phone Number",
        }
    }

    /// The longest identifier of this kind registration accepts, in characters: anything
    /// longer names no account (and would exceed what a store key may hold).
    pub fn max_chars(self) -> usize {
        match self {
            Self::Username => 32,
            Self::Email => 254,
            Self::Phone => 16,
        }
    }
}

/// What a login names the account by, normalised the way uniqueness compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginIdentifier {
    pub kind: IdentifierKind,
    /// Lower-cased for usernames and emails, as given for phone numbers.
    pub key: String,
}

impl LoginIdentifier {
    pub fn new(kind: IdentifierKind, given: &str) -> Self {
        let key = match kind {
            IdentifierKind::Username | IdentifierKind::Email => given.to_lowercase(),
            IdentifierKind::Phone => given.to_string(),
        };
        Self { kind, key }
    }
}

/// Free text with a maximum length in characters (names, address, remarks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionalText(pub Option<String>);

impl OptionalText {
    /// An empty string is the same as absent.
    pub fn parse(s: &str, max_chars: usize) -> Result<Self, String> {
        if char_len(s) > max_chars {
            return Err(format!("must be at most {max_chars} characters"));
        }
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err("must not contain control characters".into());
        }
        Ok(Self((!s.is_empty()).then(|| s.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        for ok in ["abc", "Guntur_99", "a.b-c", &"x".repeat(32), "1a2"] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            &"x".repeat(33),
            "123456",
            "has space",
            "ünï",
            "a@b",
            "",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Username::parse("GunTur").unwrap().key(), "guntur");
    }

    #[test]
    fn email_rules() {
        for ok in [
            "a@b.co",
            "Guntur@Example.COM",
            "first.last+tag@sub.example.id",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "plain",
            "a@b",
            "@b.com",
            "a@.com",
            "a@b.c",
            "a b@c.com",
            "a@@b.com",
            "a@b_c.com",
            ".a@b.com",
            "a..b@c.com",
            "a@b.com.",
            "a@-b.com",
            "a@b.c0m",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Email::parse("Guntur@Example.COM").unwrap().as_str(),
            "guntur@example.com"
        );
    }

    #[test]
    fn phone_rules() {
        for ok in ["08112555", "+628112555011", "123456789012345"] {
            assert!(Phone::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "0811255",
            "1234567890123456",
            "0811-2555",
            "+",
            "++08112555",
            "0811 2555",
            "٠٨١١٢٥٥٥٠",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_count_characters_not_bytes() {
        assert!(Password::parse("ééééééé").is_err());
        assert!(Password::parse("éééééééé").is_ok());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert!(Password::parse(&"é".repeat(129)).is_err());
        assert!(Pin::parse("123456").is_ok());
        for bad in ["12345", "1234567", "12345a", "١٢٣٤٥٦"] {
            assert!(Pin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_ids_are_uuid_v4() {
        let id = UserId::new();
        assert_eq!(UserId::parse(&id.to_string()), Ok(id));
        assert!(UserId::parse("not-a-uuid").is_err());
        assert!(UserId::parse("00000000-0000-1000-8000-000000000000").is_err());
    }

    #[test]
    fn optional_text_is_bounded_and_empty_means_absent() {
        assert_eq!(OptionalText::parse("", 5), Ok(OptionalText(None)));
        assert_eq!(
            OptionalText::parse("ééééé", 5).unwrap().0.as_deref(),
            Some("ééééé")
        );
        assert!(OptionalText::parse("éééééé", 5).is_err());
        assert!(OptionalText::parse("a\u{0}b", 5).is_err());
    }

    #[test]
    fn login_identifiers_compare_like_uniqueness() {
        assert_eq!(
            LoginIdentifier::new(IdentifierKind::Username, "GunTur").key,
            "guntur"
        );
        assert_eq!(
            LoginIdentifier::new(IdentifierKind::Phone, "+62811").key,
            "+62811"
        );
    }
}
