//! Who a request comes from, for the limits kept per client: connection caps and the login and
//! registration throttles.
//!
//! Reached directly, the client is the TCP peer. Behind a load balancer every peer is the balancer,
//! so the client is read from `X-Forwarded-For`, but only when the peer is one of the proxies the
//! operator named (`--trusted-proxies`): anyone else could write that header to pose as many clients.

use crate::error::Error;
use crate::state::Settings;
use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::{request::Parts, HeaderMap},
};
use ipnet::IpNet;
use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

/// The network a client address stands for in per-address limits: an IPv6 host usually holds a whole
/// /64, so it counts as one; an IPv4 address mapped into IPv6 counts as itself.
pub fn client_network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// The proxies whose `X-Forwarded-For` is believed: addresses or networks (`10.0.0.0/8`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// One address or network, as `--trusted-proxies` takes them.
    pub fn parse_entry(text: &str) -> Result<IpNet, String> {
        let text = text.trim();
        text.parse::<IpNet>()
            .or_else(|_| {
                text.parse::<IpAddr>()
                    .map(|ip| IpNet::from(ip.to_canonical()))
            })
            .map_err(|_| {
                format!("{text:?} is neither an IP address nor a network such as 10.0.0.0/8")
            })
    }

    pub fn new(proxies: Vec<IpNet>) -> Self {
        Self(proxies)
    }

    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.0.iter().any(|proxy| proxy.contains(&peer))
    }

    /// The client behind `peer`: the peer itself unless it is a trusted proxy; then the nearest
    /// address in `X-Forwarded-For` that is not a trusted proxy (each proxy appends the address it
    /// heard from, so entries further left are only as honest as the client).
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer;
        if !self.trusts(peer) {
            return client_network(client);
        }
        // Split the raw bytes: one entry that is not text must not hide the entries after it.
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
            .collect::<Vec<_>>();
        for hop in forwarded.into_iter().rev() {
            // Something unreadable ends the chain: the last proxy that added an address stands in.
            let Some(address) = parse_hop(hop) else { break };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client_network(client)
    }
}

/// One `X-Forwarded-For` entry: an address, maybe bracketed or with a port (`203.0.113.7:5100`,
/// `[2001:db8::1]`, `[2001:db8::1]:80`).
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop).ok()?.trim();
    let unbracketed = hop
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'));
    unbracketed
        .unwrap_or(hop)
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
}

/// The client a request comes from (see the module's notes), as the network its limits count.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress {
    pub network: IpAddr,
    /// The connection came through a trusted proxy, so it was not counted per client when accepted.
    pub via_proxy: bool,
}

impl<S> FromRequestParts<S> for ClientAddress
where
    Arc<Settings>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| Error::Internal("a request without its peer address".into()))?;
        let proxies = &Arc::<Settings>::from_ref(state).trusted_proxies;
        Ok(Self {
            network: proxies.client_of(peer.ip(), &parts.headers),
            via_proxy: proxies.trusts(peer.ip()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(
            client_network(ip("2001:db8:1:2:aaaa::1")),
            client_network(ip("2001:db8:1:2:bbbb::9")),
        );
        assert_ne!(
            client_network(ip("2001:db8:1:3::1")),
            client_network(ip("2001:db8:1:2::1"))
        );
        assert_eq!(client_network(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        assert_eq!(client_network(ip("10.0.0.1")), ip("10.0.0.1"));
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::new(vec![
            TrustedProxies::parse_entry("10.0.0.0/8").unwrap(),
            TrustedProxies::parse_entry("192.0.2.1").unwrap(),
        ]);
        let header = forwarded(&["203.0.113.7"]);
        assert_eq!(
            proxies.client_of(ip("198.51.100.1"), &header),
            ip("198.51.100.1"),
            "anyone may write the header"
        );
        assert_eq!(
            TrustedProxies::default().client_of(ip("10.1.1.1"), &header),
            ip("10.1.1.1")
        );
        assert_eq!(
            proxies.client_of(ip("10.1.1.1"), &header),
            ip("203.0.113.7")
        );
        assert_eq!(
            proxies.client_of(ip("::ffff:192.0.2.1"), &header),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::new(vec![TrustedProxies::parse_entry("10.0.0.0/8").unwrap()]);
        let peer = ip("10.0.0.2");
        // A client's own forged entries stand left of what the proxies appended.
        let chain = forwarded(&["1.1.1.1, 203.0.113.7", "10.0.0.9"]);
        assert_eq!(proxies.client_of(peer, &chain), ip("203.0.113.7"));
        let ported = forwarded(&["[2001:db8:1:2::5]:4000, 10.0.0.3:80"]);
        assert_eq!(proxies.client_of(peer, &ported), ip("2001:db8:1:2::"));
        let bracketed = forwarded(&["[2001:db8:1:2::5]"]);
        assert_eq!(proxies.client_of(peer, &bracketed), ip("2001:db8:1:2::"));
        // nginx appends the address it heard from to the client's own header, in one value.
        let mut not_text = HeaderMap::new();
        let value = axum::http::HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.7").unwrap();
        not_text.append("x-forwarded-for", value);
        assert_eq!(proxies.client_of(peer, &not_text), ip("203.0.113.7"));
        let garbled = forwarded(&["203.0.113.7, bogus, 10.0.0.9"]);
        assert_eq!(proxies.client_of(peer, &garbled), ip("10.0.0.9"));
        assert_eq!(
            proxies.client_of(peer, &HeaderMap::new()),
            peer,
            "no header: the proxy itself"
        );
    }

    #[test]
    fn entries_are_addresses_or_networks() {
        assert!(TrustedProxies::parse_entry("127.0.0.1").is_ok());
        assert!(TrustedProxies::parse_entry("fd00::/8").is_ok());
        let mapped =
            TrustedProxies::new(vec![TrustedProxies::parse_entry("::ffff:10.0.0.1").unwrap()]);
        assert!(mapped.trusts(ip("10.0.0.1")));
        assert!(TrustedProxies::parse_entry("nginx").is_err());
        assert!(TrustedProxies::parse_entry("10.0.0.0/33").is_err());
    }
}
