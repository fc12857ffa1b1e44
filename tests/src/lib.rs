//! Test support for dompet: a server on port 0 with a fresh store, DynamoDB Local provisioned
//! on demand, and the store contract suite every adapter must pass.

// Tests read the stores directly, to check what a request left behind.
#![allow(clippy::disallowed_methods)]

pub mod app;
pub mod browser;
pub mod calls;
pub mod contract;
pub mod dynamodb_local;
pub mod local_server;
pub mod moto;
pub mod npm;
pub mod stream_pump;

pub use app::{Reply, TestApp};

/// A well-formed 1×1 PNG (IHDR, IDAT, IEND, with their CRCs), as a browser would send it.
pub fn tiny_png() -> Vec<u8> {
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde\
      \0\0\0\x0cIDATx\x9cc\xf8\xcf\xc0\0\0\x03\x01\x01\0\xc9\xfe\x92\xef\
      \0\0\0\0IEND\xaeB`\x82"
        .to_vec()
}

use std::sync::Arc;

use dompet::store::{SqliteStore, Store};

/// The store a test runs on: every HTTP suite runs on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh temporary SQLite database.
    Sqlite,
    /// A fresh table on DynamoDB Local, created from `template.yaml`.
    DynamoDb,
}

impl Backend {
    pub async fn fresh_store(self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite => Arc::new(SqliteStore::temporary().expect("temporary SQLite store")),
            Self::DynamoDb => Arc::new(dynamodb_local::fresh_store().await),
        }
    }

    /// A fresh store and a second handle on it, as another process would open it: its own
    /// connections and writer (SQLite: the same file), its own client (DynamoDB: the same
    /// table).
    pub async fn fresh_store_pair(self) -> (Arc<dyn Store>, Arc<dyn Store>) {
        match self {
            Self::Sqlite => {
                let one = SqliteStore::temporary().expect("temporary SQLite store");
                let two = SqliteStore::open(one.path()).expect("the same SQLite file again");
                (Arc::new(one), Arc::new(two))
            }
            Self::DynamoDb => {
                let one = dynamodb_local::fresh_store().await;
                let two = dompet::store::DynamoStore::new(
                    dynamodb_local::client().await,
                    one.table().to_string(),
                );
                (Arc::new(one), Arc::new(two))
            }
        }
    }
}

/// Runs each named `async fn(Backend)` as two tests, `sqlite::name` and `dynamodb::name`.
/// A test function left out of the list is dead code, which CI's clippy refuses.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )+
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::DynamoDb).await
                }
            )+
        }
    };
}

/// Generates one `#[tokio::test]` per contract case, each on a fresh store from `$make`.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store = $make.await;
                $crate::contract::$case(&store).await;
            }
        )+
    };
}

/// Runs `store_contract_tests!` with every case of the suite.
#[macro_export]
macro_rules! all_store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!($make;
            created_users_are_found_by_id_and_every_identifier,
            entities_are_stored_read_and_owned_by_their_user,
            transfers_are_listed_by_status_newest_first,
            roles_are_set_through_an_identifier,
            an_entity_code_is_unique_per_user,
            concurrent_creations_of_one_code_store_exactly_one,
            entity_updates_check_the_version_and_move_the_code,
            concurrent_updates_of_one_version_succeed_once,
            deleting_an_entity_frees_its_code_and_checks_the_version,
            entity_listings_filter_and_page_in_code_order,
            usernames_and_emails_match_case_insensitively,
            each_taken_identifier_is_reported,
            the_first_taken_identifier_is_reported,
            a_phone_only_account_is_stored_with_absent_fields,
            concurrent_registrations_of_one_username_create_exactly_one,
            throttle_writes_are_conditional_on_the_version,
            throttle_records_are_written_together_or_not_at_all,
            expired_throttle_records_read_as_absent,
            refresh_rotation_accepts_the_current_token_once,
            a_reused_refresh_token_revokes_the_family,
            concurrent_rotations_of_one_token_succeed_at_most_once,
            revoked_and_expired_sessions_are_inactive,
            sessions_belong_to_their_user,
            sessions_are_listed_newest_first_and_revoked_together,
            identifier_changes_move_the_claim_atomically,
            secret_changes_check_the_secret_reset_the_throttle_and_revoke_other_logins,
            closing_an_account_keeps_its_ledger_and_frees_everything_else,
            reset_records_are_written_on_the_version_read_and_expire,
            top_ups_and_payments_move_the_balance_with_exact_entries,
            a_payment_beyond_the_balance_changes_nothing,
            an_idempotency_key_records_the_first_entry_and_moves_money_once,
            concurrent_uses_of_one_key_move_money_once,
            concurrent_money_writes_on_one_account_are_exact,
            a_transfer_is_reserved_then_settled_exactly_once,
            concurrent_settlements_credit_once,
            a_transfer_to_a_vanished_recipient_fails_and_refunds,
            profile_changes_set_clear_and_keep_fields,
            pending_pages_visit_each_pending_transfer_once,
            a_deleted_accounts_ledger_is_kept,
            long_lived_sessions_survive_later_logins,
            a_transfer_between_two_vanished_accounts_is_held_in_suspense,
        );
    };
}
