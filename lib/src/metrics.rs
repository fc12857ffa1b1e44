//! Business metrics: what an operator watches beside errors and latency. The use cases record
//! them through the `metrics` facade; a Lambda function writes them after each invocation as
//! CloudWatch Embedded Metric Format lines on stdout ([`emf`]), which CloudWatch Logs turns into
//! metrics in the namespace [`NAMESPACE`] (the template's alarms and dashboard read them). The
//! standalone server installs no recorder: there they cost nothing and go nowhere.

/// The CloudWatch namespace of every metric here.
pub const NAMESPACE: &str = "dompet";

/// Logins that issued tokens (`POST /login`, `POST /token`).
pub const LOGINS: &str = "Logins";
/// Logins refused for a wrong secret, an unknown identifier or the wrong kind of secret.
pub const LOGIN_FAILURES: &str = "LoginFailures";
/// Logins refused because the address (or the account's hourly ceiling) is locked: 429.
pub const LOCKOUTS: &str = "Lockouts";
/// Money moved, in rupiah, by kind (dimension [`KIND`]: `topup`, `payment`, `transfer`).
/// Replays of an idempotent request move nothing and count nothing.
pub const MONEY_MOVED: &str = "MoneyMoved";
/// The dimension of [`MONEY_MOVED`].
pub const KIND: &str = "Kind";
/// Transfers credited to their recipient.
pub const TRANSFERS_SETTLED: &str = "TransfersSettled";
/// Transfers that ended `FAILED` (recipient gone, or given up after every delivery failed).
pub const TRANSFERS_FAILED: &str = "TransfersFailed";
/// From a transfer's enqueue (the message's `SentTimestamp`: its last, when the sweep sent it
/// again) to the settlement that ended it, credited or `FAILED`, in milliseconds.
pub const SETTLEMENT_LAG: &str = "SettlementLag";
/// The audit's verdict: 1 when the money or a ledger chain is broken, 0 when it holds.
pub const AUDIT_BROKEN: &str = "AuditBroken";
/// How many accounts the audit found broken.
pub const AUDIT_BROKEN_ACCOUNTS: &str = "AuditBrokenAccounts";

/// Every metric name above, for the template's checks.
pub const ALL: [&str; 9] = [
    LOGINS,
    LOGIN_FAILURES,
    LOCKOUTS,
    MONEY_MOVED,
    TRANSFERS_SETTLED,
    TRANSFERS_FAILED,
    SETTLEMENT_LAG,
    AUDIT_BROKEN,
    AUDIT_BROKEN_ACCOUNTS,
];

/// How a login ended, as counted.
pub enum LoginOutcome {
    Succeeded,
    Failed,
    Locked,
}

pub fn login(outcome: LoginOutcome) {
    let name = match outcome {
        LoginOutcome::Succeeded => LOGINS,
        LoginOutcome::Failed => LOGIN_FAILURES,
        LoginOutcome::Locked => LOCKOUTS,
    };
    ::metrics::counter!(name).increment(1);
}

/// `amount` rupiah moved by a top-up, a payment or a transfer.
pub fn money_moved(kind: &'static str, amount: i64) {
    ::metrics::counter!(MONEY_MOVED, KIND => kind).increment(amount.unsigned_abs());
}

/// A transfer settled (`credited`) or ended `FAILED`, `lag_ms` after it was enqueued if known.
pub fn transfer_settled(credited: bool, lag_ms: Option<i64>) {
    ::metrics::counter!(if credited {
        TRANSFERS_SETTLED
    } else {
        TRANSFERS_FAILED
    })
    .increment(1);
    if let Some(lag) = lag_ms {
        ::metrics::histogram!(SETTLEMENT_LAG).record(lag.max(0) as f64);
    }
}

/// The audit's verdict.
pub fn audit(holds: bool, broken_accounts: usize) {
    ::metrics::gauge!(AUDIT_BROKEN).set(if holds { 0.0 } else { 1.0 });
    ::metrics::gauge!(AUDIT_BROKEN_ACCOUNTS).set(broken_accounts as f64);
}

/// The Embedded Metric Format writer of a Lambda function.
#[cfg(feature = "emf")]
pub mod emf {
    use std::sync::OnceLock;

    use metrics_cloudwatch_embedded::Collector;

    static COLLECTOR: OnceLock<Option<&'static Collector>> = OnceLock::new();

    /// Installs the EMF recorder for this process (once; later calls do nothing). The metrics
    /// carry no dimension but their own labels: each is the whole stack's.
    pub fn install() {
        COLLECTOR.get_or_init(|| {
            match metrics_cloudwatch_embedded::Builder::new()
                .cloudwatch_namespace(super::NAMESPACE)
                .init()
            {
                Ok(collector) => {
                    ::metrics::describe_histogram!(
                        super::SETTLEMENT_LAG,
                        ::metrics::Unit::Milliseconds,
                        "enqueue to settlement"
                    );
                    Some(collector)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        });
    }

    /// Writes what was recorded since the last flush as EMF lines on stdout (one document per
    /// dimension set), holding stdout so no log line lands inside one.
    pub fn flush() {
        if let Some(Some(collector)) = COLLECTOR.get() {
            if let Err(e) = collector.flush(std::io::stdout().lock()) {
                tracing::warn!(error = %e, "metrics not written");
            }
        }
    }
}
