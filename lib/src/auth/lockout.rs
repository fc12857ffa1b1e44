//! Login throttling as a pure state machine; stores keep the state and write it conditionally.
//!
//! The `threshold`-th consecutive failure locks for `base`; every attempt while locked is
//! refused and does not count; after a lock ends each single failure locks again for double
//! the last lock, up to `max`; only a successful login resets the state.

use std::time::Duration;

use crate::domain::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub threshold: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            threshold: 5,
            base: Duration::from_secs(30),
            max: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Throttle {
    /// Consecutive failures before the first lock.
    pub failures: u32,
    /// When the current lock ends (ms since the epoch); 0 when never locked.
    pub locked_until: Millis,
    /// Length of the last lock in ms; 0 when never locked.
    pub last_lock_ms: i64,
}

impl Throttle {
    /// Seconds left on the lock, rounded up, or `None` when not locked.
    pub fn retry_after(&self, now: Millis) -> Option<u64> {
        (self.locked_until > now).then(|| ((self.locked_until - now + 999) / 1000) as u64)
    }

    /// The state after one more failed attempt that was not refused by a lock.
    pub fn after_failure(&self, now: Millis, policy: &LockoutPolicy) -> Throttle {
        let max_ms = policy.max.as_millis() as i64;
        if self.last_lock_ms > 0 {
            let lock = self.last_lock_ms.saturating_mul(2).min(max_ms);
            return Throttle {
                failures: self.failures,
                locked_until: now + lock,
                last_lock_ms: lock,
            };
        }
        let failures = self.failures.saturating_add(1);
        if failures >= policy.threshold {
            let lock = (policy.base.as_millis() as i64).min(max_ms);
            Throttle {
                failures,
                locked_until: now + lock,
                last_lock_ms: lock,
            }
        } else {
            Throttle { failures, ..*self }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifth_failure_locks_then_each_failure_doubles_up_to_the_cap() {
        let policy = LockoutPolicy::default();
        let mut t = Throttle::default();
        let mut now = 1_000_000;
        for _ in 0..4 {
            t = t.after_failure(now, &policy);
            assert_eq!(t.retry_after(now), None);
        }
        t = t.after_failure(now, &policy);
        assert_eq!(t.retry_after(now), Some(30));
        assert_eq!(t.retry_after(now + 29_001), Some(1));
        assert_eq!(t.retry_after(now + 30_000), None);
        let mut expected = 30;
        for _ in 0..8 {
            now = t.locked_until;
            t = t.after_failure(now, &policy);
            expected = (expected * 2).min(900);
            assert_eq!(t.retry_after(now), Some(expected));
        }
        assert_eq!(expected, 900);
    }

    #[test]
    fn retry_after_rounds_up() {
        let t = Throttle {
            failures: 5,
            locked_until: 10_001,
            last_lock_ms: 1,
        };
        assert_eq!(t.retry_after(10_000), Some(1));
        assert_eq!(t.retry_after(8_999), Some(2));
    }
}
