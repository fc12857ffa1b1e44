//! The client address of a request (api.md, "Conventions": Client address).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::domain::ClientAddress;
use crate::state::AppState;

/// The address API Gateway saw the request come from (`requestContext.http.sourceIp`); the
/// Lambda host puts it on each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceIp(pub IpAddr);

/// The request's client address: API Gateway's source address on Lambda, the TCP peer on the
/// server, or `X-Forwarded-For` from a peer in `DOMPET_TRUSTED_PROXIES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client(pub ClientAddress);

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let peer = parts.extensions.get::<SourceIp>().map(|s| s.0).or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        });
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(Self(ClientAddress::resolve(
            peer,
            forwarded,
            state.trusted_proxies(),
        )))
    }
}
