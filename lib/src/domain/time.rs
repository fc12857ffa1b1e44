use chrono::{DateTime, Utc};

/// Milliseconds since the Unix epoch, UTC. Stores keep time in this unit.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    Utc::now().timestamp_millis()
}

/// The contract's timestamp format: UTC, `YYYY-MM-DD HH:MM:SS`.
pub fn format_timestamp(millis: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_seconds() {
        assert_eq!(format_timestamp(1_617_315_680_999), "2021-04-01 22:21:20");
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00");
    }
}
