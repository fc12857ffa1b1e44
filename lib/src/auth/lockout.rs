//! Login throttling as pure state machines; stores keep the state and write it conditionally.
//!
//! Two kinds of record count the verifications of one account's secret (or of one identifier
//! that names no account):
//!
//! - one per client address ([`Throttle`]): the `threshold`-th consecutive failure locks that
//!   address for `base`; every attempt while locked is refused and does not count; after a
//!   lock ends each single failure locks again for double the last lock, up to `max`. Only a
//!   login that issues tokens resets it, and marks the address as the owner's for `trust`.
//! - one per account (the ceiling, [`Throttle::ceiling_after`]): at most `ceiling`
//!   verifications per `ceiling_window` from every address not marked as the owner's.
//!
//! Every record carries the generation of the secret it counts guesses at ([`Throttle::gen`]):
//! a record of another generation reads as fresh, so a secret change or a reset clears every
//! count of the account in its one write, however many addresses have records.

use std::time::Duration;

use crate::domain::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub threshold: u32,
    pub base: Duration,
    pub max: Duration,
    /// Verifications per account from addresses not marked as the owner's, per window.
    pub ceiling: u32,
    pub ceiling_window: Duration,
    /// How long a successful login marks its address as the owner's.
    pub trust: Duration,
    /// How long a record is kept after its last write (unless it marks an owner's address):
    /// the same for an account and for an identifier that names none.
    pub memory: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            threshold: 5,
            base: Duration::from_secs(30),
            max: Duration::from_secs(15 * 60),
            ceiling: 20,
            ceiling_window: Duration::from_secs(3600),
            trust: Duration::from_secs(30 * 24 * 3600),
            memory: Duration::from_secs(24 * 3600),
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Seconds from `now` until `until`, rounded up, at least 1.
pub fn seconds_until(until: Millis, now: Millis) -> u64 {
    (until.saturating_sub(now).max(1) as u64).div_ceil(1000)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Throttle {
    /// Consecutive failures before the first lock (for a ceiling: verifications this window).
    pub failures: u32,
    /// When the current lock ends (ms since the epoch); 0 when never locked (for a ceiling:
    /// when its window ends).
    pub locked_until: Millis,
    /// Length of the last lock in ms; 0 when never locked.
    pub last_lock_ms: i64,
    /// The generation of the secret counted against (see the module's doc).
    pub gen: u64,
    /// Until when the owner's successful login from this address exempts it from the ceiling.
    pub trusted_until: Millis,
}

impl Throttle {
    /// The record as it counts for a secret of generation `gen`: no count and no lock when it
    /// counted guesses at another. The owner's address stays theirs: a secret change or a
    /// reset must not let others' failures lock the owner out of where they log in from.
    pub fn of_gen(self, gen: u64) -> Throttle {
        if self.gen == gen {
            self
        } else {
            Throttle {
                gen,
                trusted_until: self.trusted_until,
                ..Throttle::default()
            }
        }
    }

    /// Seconds left on the lock, rounded up, or `None` when not locked.
    pub fn retry_after(&self, now: Millis) -> Option<u64> {
        (self.locked_until > now).then(|| seconds_until(self.locked_until, now))
    }

    /// The owner logged in successfully from this address recently.
    pub fn trusted(&self, now: Millis) -> bool {
        self.trusted_until > now
    }

    /// The state after one more failed attempt that was not refused by a lock.
    pub fn after_failure(&self, now: Millis, policy: &LockoutPolicy) -> Throttle {
        let max_ms = ms(policy.max);
        if self.last_lock_ms > 0 {
            let lock = self.last_lock_ms.saturating_mul(2).min(max_ms);
            return Throttle {
                locked_until: now + lock,
                last_lock_ms: lock,
                ..*self
            };
        }
        let failures = self.failures.saturating_add(1);
        if failures >= policy.threshold {
            let lock = ms(policy.base).min(max_ms);
            Throttle {
                failures,
                locked_until: now + lock,
                last_lock_ms: lock,
                ..*self
            }
        } else {
            Throttle { failures, ..*self }
        }
    }

    /// The state after a verified secret: no failures, no lock; `trust_until` (when later)
    /// marks the address as the owner's.
    pub fn released(&self, trust_until: Option<Millis>) -> Throttle {
        Throttle {
            gen: self.gen,
            trusted_until: trust_until.map_or(self.trusted_until, |t| t.max(self.trusted_until)),
            ..Throttle::default()
        }
    }

    /// Until when a record in this state must be kept, written at `now`.
    pub fn keep_until(&self, now: Millis, policy: &LockoutPolicy) -> Millis {
        (now + ms(policy.memory)).max(self.trusted_until)
    }

    /// A ceiling (this record read as one) after one more verification, or the seconds until
    /// its window ends when it is full.
    pub fn ceiling_after(&self, now: Millis, policy: &LockoutPolicy) -> Result<Throttle, u64> {
        self.counted(now, policy.ceiling, ms(policy.ceiling_window), false)
    }

    /// This record read as a count of at most `limit` per window of `window_ms` (from the
    /// window's first count: [`Throttle::locked_until`] is its end), after one more; or the
    /// seconds until the window ends when it is full. `extend`: the count that fills the
    /// window starts a whole window of refusals from then.
    pub fn counted(
        &self,
        now: Millis,
        limit: u32,
        window_ms: i64,
        extend: bool,
    ) -> Result<Throttle, u64> {
        if self.locked_until <= now {
            return Ok(Throttle {
                failures: 1,
                locked_until: now + window_ms,
                gen: self.gen,
                ..Throttle::default()
            });
        }
        if self.failures >= limit {
            return Err(seconds_until(self.locked_until, now));
        }
        let failures = self.failures + 1;
        Ok(Throttle {
            failures,
            locked_until: if extend && failures >= limit {
                now + window_ms
            } else {
                self.locked_until
            },
            ..*self
        })
    }

    /// Whether this record, read as a count of at most `limit`, is full at `now`.
    pub fn full(&self, now: Millis, limit: u32) -> bool {
        self.locked_until > now && self.failures >= limit
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
            ..Throttle::default()
        };
        assert_eq!(t.retry_after(10_000), Some(1));
        assert_eq!(t.retry_after(8_999), Some(2));
    }

    #[test]
    fn a_record_of_another_generation_counts_as_fresh() {
        let policy = LockoutPolicy::default();
        let mut t = Throttle {
            gen: 7,
            trusted_until: 5_000,
            ..Throttle::default()
        };
        for _ in 0..5 {
            t = t.after_failure(1_000, &policy);
        }
        assert!(t.retry_after(1_000).is_some());
        assert_eq!(t.of_gen(7), t);
        let fresh = t.of_gen(8);
        assert_eq!(fresh.retry_after(1_000), None);
        assert_eq!(fresh.failures, 0);
        assert!(fresh.trusted(1_000), "the owner's address stays theirs");
        assert_eq!(fresh.gen, 8);
    }

    #[test]
    fn a_release_clears_the_count_and_keeps_the_longest_trust() {
        let policy = LockoutPolicy::default();
        let t = Throttle {
            gen: 3,
            trusted_until: 9_000,
            ..Throttle::default()
        }
        .after_failure(1_000, &policy);
        let r = t.released(None);
        assert_eq!((r.failures, r.locked_until, r.gen), (0, 0, 3));
        assert_eq!(r.trusted_until, 9_000);
        assert_eq!(t.released(Some(20_000)).trusted_until, 20_000);
        assert_eq!(t.released(Some(2_000)).trusted_until, 9_000);
        assert_eq!(r.keep_until(0, &policy), ms(policy.memory));
        assert_eq!(
            t.released(Some(i64::MAX / 2)).keep_until(0, &policy),
            i64::MAX / 2
        );
    }

    #[test]
    fn the_ceiling_admits_its_count_per_window() {
        let policy = LockoutPolicy {
            ceiling: 3,
            ..LockoutPolicy::default()
        };
        let mut c = Throttle::default();
        for _ in 0..3 {
            c = c.ceiling_after(1_000, &policy).expect("room in the window");
        }
        assert_eq!(c.ceiling_after(1_500, &policy), Err(3600));
        let end = c.locked_until;
        assert_eq!(end, 1_000 + 3_600_000);
        let next = c.ceiling_after(end, &policy).expect("a new window");
        assert_eq!((next.failures, next.locked_until), (1, end + 3_600_000));
    }

    #[test]
    fn a_count_that_fills_its_window_may_start_a_whole_window_of_refusals() {
        let mut c = Throttle::default();
        c = c.counted(0, 2, 1_000, true).unwrap();
        assert_eq!(c.locked_until, 1_000);
        c = c.counted(600, 2, 1_000, true).unwrap();
        assert!(c.full(600, 2));
        assert_eq!(
            c.locked_until, 1_600,
            "refused for a whole window from the filling count"
        );
        assert_eq!(c.counted(1_599, 2, 1_000, true), Err(1));
        assert!(!c.full(1_600, 2));
    }
}
