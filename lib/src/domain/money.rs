//! Money: `i64` minor units, validated at the edge, checked arithmetic everywhere.

use serde_json::Value;

/// The largest amount one request may move.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// An amount of money in the currency's smallest unit, `1 ..= 1_000_000_000_000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(i64);

impl Amount {
    /// Only a JSON integer in range is an amount: floats (`1.0`, `1e3`), strings, booleans,
    /// zero, negatives and larger values are not.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        const RULE: &str = "must be a whole number from 1 to 1000000000000";
        let Value::Number(n) = v else {
            return Err(format!(
                "{RULE} (a JSON integer, not a string or other type)"
            ));
        };
        if n.is_f64() {
            return Err(format!("{RULE} (no fraction or exponent)"));
        }
        match n.as_i64() {
            Some(i) if (1..=MAX_AMOUNT).contains(&i) => Ok(Self(i)),
            _ => Err(RULE.to_string()),
        }
    }

    pub fn new(minor_units: i64) -> Option<Self> {
        (1..=MAX_AMOUNT)
            .contains(&minor_units)
            .then_some(Self(minor_units))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// An `Idempotency-Key` header: 1–255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<Self, String> {
        if (1..=255).contains(&s.len()) && s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            Ok(Self(s.to_string()))
        } else {
            Err("Idempotency-Key must be 1 to 255 printable ASCII characters".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_json_integers_in_range_are_amounts() {
        assert_eq!(Amount::from_json(&json!(1)).unwrap().get(), 1);
        assert_eq!(
            Amount::from_json(&json!(MAX_AMOUNT)).unwrap().get(),
            MAX_AMOUNT
        );
        for bad in [
            json!(0),
            json!(-5),
            json!(MAX_AMOUNT + 1),
            json!(u64::MAX),
            json!(0.1),
            json!(1.0),
            json!("100"),
            json!(true),
            json!(null),
            json!([1]),
        ] {
            assert!(Amount::from_json(&bad).is_err(), "{bad}");
        }
        let exponent: Value = serde_json::from_str("1e3").unwrap();
        assert!(Amount::from_json(&exponent).is_err());
    }

    #[test]
    fn idempotency_keys_are_printable_ascii() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["", "tab\there", "ünï", "new\nline"] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }
}
