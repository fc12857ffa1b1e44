//! Each Lambda function's sample events (`events/`): the HTTP functions' through their
//! routers, as API Gateway delivers them; the SQS batch and the schedule events through the
//! handlers in `dompet::jobs`.

mod account;
mod admin;
mod audit;
mod entities;
mod login;
mod password;
mod pay;
mod pre_traffic;
mod profile;
mod register;
mod topup;
mod transactions;
mod transfer;
mod transfer_sweep;
mod transfer_worker;
mod web;
