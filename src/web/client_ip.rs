//! Which client sent a request, for the per-client limit on starting sign-ins
//! (`rate_limit`).
//!
//! The TCP peer, unless the peer is one of TRUSTED_PROXIES: then the client is
//! the nearest address in X-Forwarded-For that is not one of our proxies,
//! reading from the right (each proxy appends the address it received the
//! request from; everything left of our own proxies was written by the client
//! and proves nothing). Without trusted proxies the header is ignored, since
//! anyone can send it.
//!
//! What it must not do: decide anything from a header sent by a peer we do
//! not trust.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The request's client address, or `None` when the connection has none
/// (not a TCP connection).
pub fn client_ip(request: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip();
    if !is_trusted(peer, trusted_proxies) {
        return Some(peer);
    }
    // Several X-Forwarded-For headers are one list, in order (RFC 9110 §5.3).
    let hops: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    Some(nearest_untrusted(peer, &hops, trusted_proxies))
}

/// Walks the hops from the right, past our own proxies, to the first address
/// that is not one of them. An unreadable entry stops the walk at the last
/// proxy that wrote a readable one: nothing left of it can be believed.
fn nearest_untrusted(peer: IpAddr, hops: &[&str], trusted_proxies: &[IpNet]) -> IpAddr {
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(address) = parse_hop(hop) else {
            break;
        };
        client = address;
        if !is_trusted(address, trusted_proxies) {
            break;
        }
    }
    client
}

/// `192.0.2.1`, `2001:db8::1`, or with a port (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

fn is_trusted(address: IpAddr, trusted_proxies: &[IpNet]) -> bool {
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    };
    trusted_proxies.iter().any(|net| net.contains(&address))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|net| net.parse().expect("CIDR")).collect()
    }

    fn request(peer: &str, forwarded: &[&str]) -> HttpRequest {
        let mut request = TestRequest::default().peer_addr(peer.parse().expect("peer"));
        for value in forwarded {
            request = request.append_header(("X-Forwarded-For", *value));
        }
        request.to_http_request()
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("IP"))
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let forged = request("198.51.100.9:5000", &["203.0.113.1"]);
        assert_eq!(client_ip(&forged, &[]), ip("198.51.100.9"));
        assert_eq!(
            client_ip(&forged, &nets(&["10.0.0.0/8"])),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_nearest_untrusted_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client wrote "1.1.1.1" itself; our proxies appended the rest.
        let through_two = request("10.0.0.2:5000", &["1.1.1.1, 203.0.113.5", "10.0.0.1"]);
        assert_eq!(client_ip(&through_two, &trusted), ip("203.0.113.5"));
        let with_port = request("10.0.0.2:5000", &["[2001:db8::7]:4711"]);
        assert_eq!(client_ip(&with_port, &trusted), ip("2001:db8::7"));
        // No header: the proxy itself is all we know.
        let bare = request("10.0.0.2:5000", &[]);
        assert_eq!(client_ip(&bare, &trusted), ip("10.0.0.2"));
        // Garbage stops the walk at the last readable hop.
        let garbage = request("10.0.0.2:5000", &["203.0.113.5, nonsense"]);
        assert_eq!(client_ip(&garbage, &trusted), ip("10.0.0.2"));
    }
}
