//! The client address that lockouts and limits count per (api.md, "Conventions").

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// Where a request comes from, as counted: an IPv4 address, an IPv6 /64 prefix (one
/// subscriber usually holds a whole /64), or `unknown` when the host told nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientAddress(String);

impl ClientAddress {
    /// A request whose host told no address (a direct invocation without a request context):
    /// all such requests count as one client.
    pub fn unknown() -> Self {
        Self("unknown".into())
    }

    /// The address `ip` counts as: IPv4-mapped IPv6 as the IPv4 address, IPv6 by its /64.
    pub fn of(ip: IpAddr) -> Self {
        match canonical(ip) {
            IpAddr::V4(v4) => Self(v4.to_string()),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                Self(format!("{prefix}/64"))
            }
        }
    }

    /// The client of a request whose TCP peer (or API Gateway's `sourceIp`) is `peer`: the
    /// peer itself, or, when the peer is one of `trusted` proxies, the right-most entry of
    /// `X-Forwarded-For` (every such header, in order) that is not a trusted proxy.
    pub fn resolve<'a>(
        peer: Option<IpAddr>,
        forwarded_for: impl IntoIterator<Item = &'a str>,
        trusted: &[IpNet],
    ) -> Self {
        let Some(peer) = peer.map(canonical) else {
            return Self::unknown();
        };
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
        if !is_trusted(&peer) {
            return Self::of(peer);
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|h| h.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) if is_trusted(&ip) => continue,
                Some(ip) => return Self::of(ip),
                // A hop that is no address can't be told apart from a forged one: the last
                // trusted proxy is the client as far as anyone can tell.
                None => break,
            }
        }
        Self::of(peer)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|sa| canonical(sa.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            ClientAddress::of("2001:db8:1:2:aaaa::1".parse().unwrap()).as_str(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            ClientAddress::of("2001:db8:1:2:ffff:1:2:3".parse().unwrap()),
            ClientAddress::of("2001:db8:1:2::9".parse().unwrap())
        );
        assert_ne!(
            ClientAddress::of("2001:db8:1:3::1".parse().unwrap()),
            ClientAddress::of("2001:db8:1:2::1".parse().unwrap())
        );
        assert_eq!(
            ClientAddress::of("::ffff:203.0.113.9".parse().unwrap()).as_str(),
            "203.0.113.9"
        );
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        let none: [&str; 0] = [];
        // An untrusted peer is the client, whatever it claims.
        assert_eq!(
            ClientAddress::resolve(ip("198.51.100.7"), ["203.0.113.1"], &trusted).as_str(),
            "198.51.100.7"
        );
        // Behind trusted proxies: the right-most entry that is not one of them.
        assert_eq!(
            ClientAddress::resolve(
                ip("10.0.0.2"),
                ["6.6.6.6, 203.0.113.1", "10.0.0.9"],
                &trusted
            )
            .as_str(),
            "203.0.113.1"
        );
        assert_eq!(
            ClientAddress::resolve(ip("127.0.0.1"), ["[2001:db8::1]:443"], &trusted).as_str(),
            "2001:db8::/64"
        );
        assert_eq!(
            ClientAddress::resolve(ip("::ffff:127.0.0.1"), ["203.0.113.1:80"], &trusted).as_str(),
            "203.0.113.1"
        );
        // Nothing usable forwarded: the proxy itself.
        assert_eq!(
            ClientAddress::resolve(ip("10.0.0.2"), none, &trusted).as_str(),
            "10.0.0.2"
        );
        assert_eq!(
            ClientAddress::resolve(ip("10.0.0.2"), ["1.2.3.4, garbage"], &trusted).as_str(),
            "10.0.0.2"
        );
        assert_eq!(
            ClientAddress::resolve(None, ["1.2.3.4"], &trusted),
            ClientAddress::unknown()
        );
    }
}
