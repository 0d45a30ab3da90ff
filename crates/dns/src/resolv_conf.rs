//! Reading resolver addresses from resolv.conf text.

use std::net::{IpAddr, SocketAddr};

/// The `nameserver` addresses of resolv.conf text, in order, with port 53.
/// Comments (`#`, `;`), other options and unparsable addresses are skipped;
/// an IPv6 zone given as a number (`fe80::1%2`) is kept as the scope id.
///
/// ```
/// let text = "# generated\nsearch example.com\nnameserver 127.0.0.53\nnameserver ::1\n";
/// let servers = dns::parse_resolv_conf(text);
/// assert_eq!(servers, vec!["127.0.0.53:53".parse().unwrap(), "[::1]:53".parse().unwrap()]);
/// ```
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut servers = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next() else { continue };
        if let Some(sa) = parse_addr(addr) {
            servers.push(sa);
        }
    }
    servers
}

fn parse_addr(addr: &str) -> Option<SocketAddr> {
    let (ip, scope) = match addr.split_once('%') {
        Some((ip, scope)) => (ip, Some(scope)),
        None => (addr, None),
    };
    match (ip.parse::<IpAddr>().ok()?, scope) {
        (IpAddr::V4(v4), None) => Some(SocketAddr::new(v4.into(), 53)),
        (IpAddr::V4(_), Some(_)) => None,
        (IpAddr::V6(v6), scope) => {
            let scope_id = match scope {
                Some(s) => s.parse().ok()?,
                None => 0,
            };
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                v6, 53, 0, scope_id,
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_comments_and_bad_lines_are_skipped() {
        let text = "options edns0 trust-ad\n; comment\nnameserver\nnameserver bogus\n\
                    nameserver 10.0.0.1 # office\n  nameserver\t192.0.2.53\nnameserver fe80::1%3\n\
                    nameserver fe80::2%eth0\n#nameserver 10.9.9.9\n";
        let got = parse_resolv_conf(text);
        let want: Vec<SocketAddr> = vec![
            "10.0.0.1:53".parse().unwrap(),
            "192.0.2.53:53".parse().unwrap(),
            "[fe80::1%3]:53".parse().unwrap(),
        ];
        assert_eq!(got, want);
    }
}
