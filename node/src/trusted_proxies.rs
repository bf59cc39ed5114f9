//! Who a request comes from: the socket's peer, or, only when that peer is a proxy the
//! operator trusts (`--trusted-proxies`), the address the proxies recorded in `Forwarded` or
//! `X-Forwarded-For`. Anyone can write those headers, so they are read from the right, the end
//! the trusted proxies appended to, up to the first address that is not a trusted proxy.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The networks whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind a connection from `peer` that carried `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut nearest = peer.to_canonical();
        if !self.trusts(nearest) {
            return nearest;
        }
        for hop in forwarded_chain(headers).into_iter().rev() {
            match hop {
                Some(ip) if self.trusts(ip) => nearest = ip,
                Some(ip) => return ip,
                // A hop the proxies could not name ("unknown", obfuscated, garbled): the
                // trusted proxy that passed it on is the closest address known.
                None => return nearest,
            }
        }
        nearest
    }
}

/// Parses one `--trusted-proxies` entry: a network (`10.0.0.0/8`) or one address.
pub fn parse_trusted_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an IP address nor a network like 10.0.0.0/8"))
}

/// The hops the proxies recorded, client first: from `Forwarded` (RFC 7239) when present,
/// else from `X-Forwarded-For`. `None` for a hop that names no address.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded = headers.get_all("forwarded");
    if forwarded.iter().next().is_some() {
        return forwarded
            .iter()
            .flat_map(|value| match value.to_str() {
                Ok(text) => text.split(',').map(forwarded_for).collect(),
                Err(_) => vec![None],
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(text) => text.split(',').map(|hop| address(hop.trim())).collect(),
            Err(_) => vec![None],
        })
        .collect()
}

/// The `for=` of one `Forwarded` element, e.g. `for=192.0.2.60;proto=http`.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim().eq_ignore_ascii_case("for").then(|| address(value.trim().trim_matches('"')))?
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1` or
/// `[2001:db8::1]:80`.
fn address(text: &str) -> Option<IpAddr> {
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| text.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|p| parse_trusted_proxy(p).unwrap()).collect())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peers_headers_are_ignored() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(trusted.client(ip("203.0.113.9"), &spoofed), ip("203.0.113.9"));
        assert_eq!(TrustedProxies::default().client(ip("10.0.0.1"), &spoofed), ip("10.0.0.1"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_client_is_the_last_address_it_appended() {
        let trusted = proxies(&["10.0.0.1"]);
        // The client wrote 6.6.6.6 itself; the proxy appended the address it saw.
        let forwarded = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.4")]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &forwarded), ip("198.51.100.4"));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_walked_back_to_the_first_untrusted_hop() {
        let trusted = proxies(&["10.0.0.0/8", "192.168.1.1"]);
        let chain =
            headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.4"), ("x-forwarded-for", "192.168.1.1")]);
        assert_eq!(trusted.client(ip("10.1.2.3"), &chain), ip("198.51.100.4"));
        let all_trusted = headers(&[("x-forwarded-for", "10.9.9.9, 192.168.1.1")]);
        assert_eq!(trusted.client(ip("10.1.2.3"), &all_trusted), ip("10.9.9.9"));
        assert_eq!(trusted.client(ip("10.1.2.3"), &HeaderMap::new()), ip("10.1.2.3"));
    }

    #[test]
    fn forwarded_is_preferred_and_read_in_all_its_address_forms() {
        let trusted = proxies(&["127.0.0.1", "::1"]);
        let both = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711""#),
        ]);
        assert_eq!(trusted.client(ip("127.0.0.1"), &both), ip("2001:db8:cafe::17"));
        let with_port = headers(&[("forwarded", "for=\"192.0.2.60:8080\"")]);
        assert_eq!(trusted.client(ip("::1"), &with_port), ip("192.0.2.60"));
        let mapped_peer = ip("::ffff:127.0.0.1");
        assert_eq!(trusted.client(mapped_peer, &with_port), ip("192.0.2.60"));
    }

    #[test]
    fn a_hop_without_an_address_stops_the_walk_at_the_proxy_that_passed_it_on() {
        let trusted = proxies(&["10.0.0.0/8"]);
        for hostile in ["for=unknown", "for=_hidden", "proto=https", "for=", "for=\"[::1\""] {
            let chain = headers(&[("forwarded", &format!("for=1.2.3.4, {hostile}"))]);
            assert_eq!(trusted.client(ip("10.0.0.7"), &chain), ip("10.0.0.7"), "{hostile}");
        }
        let garbled = headers(&[("x-forwarded-for", "1.2.3.4, not-an-address, 10.0.0.8")]);
        assert_eq!(trusted.client(ip("10.0.0.7"), &garbled), ip("10.0.0.8"));
        let mut opaque = HeaderMap::new();
        opaque.insert("x-forwarded-for", HeaderValue::from_bytes(b"1.2.3.4\xff").unwrap());
        assert_eq!(trusted.client(ip("10.0.0.7"), &opaque), ip("10.0.0.7"));
    }

    #[test]
    fn a_trusted_proxy_is_an_address_or_a_network() {
        assert!(parse_trusted_proxy(" 10.0.0.0/8 ").is_ok());
        assert!(parse_trusted_proxy("::1").is_ok());
        assert!(parse_trusted_proxy("2001:db8::/32").is_ok());
        let err = parse_trusted_proxy("localhost").unwrap_err();
        assert!(err.contains("localhost"), "{err}");
        assert!(parse_trusted_proxy("10.0.0.0/33").is_err());
    }
}
