//! Every black-box suite in one test binary (`cargo test -p dompet-tests --test api`): one
//! link instead of one per suite, and one DynamoDB Local and one moto per run, shared by
//! every suite (each test makes its own table, bucket, sender and numbers on them). A suite or
//! a test is chosen by its path: `cargo test -p dompet-tests --test api identity_http::`,
//! `… wallet_http::sqlite::`, `… functions::login::`.

// Tests read the stores directly, to check what a request left behind.
#![allow(clippy::disallowed_methods)]

mod audit_dynamodb;
mod browser;
mod capacity_dynamodb;
mod close_account_http;
mod delivery_aws;
mod entities_http;
mod example_data;
mod functions;
mod identifiers_http;
mod identity_http;
mod mfa_http;
mod money_invariant;
mod operators_http;
mod password_reset_http;
mod pictures_http;
mod pictures_s3;
mod round_trips_dynamodb;
mod routes;
mod secrets_http;
mod sessions_http;
mod store_dynamodb;
mod store_sqlite;
mod transfer_faults;
mod wallet_http;
