//! Checks that need more than one value: names that must exist, addresses
//! in configured domains, one method per transport, and so on.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::locate::KeyPath;
use super::model::{Config, Route, Transport, TransportSmtp};
use super::values::Cidr;

/// One semantic problem: where and what.
pub type Problem = (KeyPath, String);

const MECHANISMS: [&str; 7] = [
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-1",
    "CRAM-MD5",
    "PLAIN",
    "LOGIN",
];

/// All problems, in file order of the sections checked.
pub fn validate(c: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    if smtp::Domain::parse(&c.hostname).is_err() {
        out.push((
            KeyPath::keys(&["hostname"]),
            format!("invalid value {:?}: expected a host name", c.hostname),
        ));
    }
    if let Some(p) = &c.postmaster_account
        && !c.accounts.contains_key(p)
    {
        out.push((
            KeyPath::keys(&["postmaster_account"]),
            format!("unknown account {p:?}"),
        ));
    }
    listeners(c, &mut out);
    let mut domains = BTreeSet::new();
    for (name, d) in &c.domains {
        let path = KeyPath::keys(&["domains", name]);
        match smtp::Domain::parse(name) {
            Ok(parsed) => {
                domains.insert(parsed.ascii().to_string());
            }
            Err(_) => out.push((path.clone(), format!("invalid domain name {name:?}"))),
        }
        routes(c, &d.routes, &path.key("routes"), &mut out);
    }
    for (name, a) in &c.accounts {
        let path = KeyPath::keys(&["accounts", name]);
        account(c, name, a, &domains, &path, &mut out);
    }
    for (i, t) in c.trusted_networks.iter().enumerate() {
        let path = KeyPath::keys(&["trusted_networks"]).index(i);
        if Cidr::parse(&t.network).is_none() {
            out.push((
                path.key("network"),
                format!(
                    "invalid value {:?}: expected a network in CIDR notation, e.g. \"10.0.0.0/8\"",
                    t.network
                ),
            ));
        }
        if !c.accounts.contains_key(&t.account) {
            out.push((
                path.key("account"),
                format!("unknown account {:?}", t.account),
            ));
        }
    }
    if c.queue.concurrency == 0 {
        out.push((
            KeyPath::keys(&["queue", "concurrency"]),
            "must be at least 1".into(),
        ));
    }
    if c.queue.per_domain_concurrency == 0 {
        out.push((
            KeyPath::keys(&["queue", "per_domain_concurrency"]),
            "must be at least 1".into(),
        ));
    }
    if c.submission.max_recipients == 0 {
        out.push((
            KeyPath::keys(&["submission", "max_recipients"]),
            "must be at least 1".into(),
        ));
    }
    for r in &c.resolvers {
        if parse_resolver(r).is_none() {
            out.push((
                KeyPath::keys(&["resolvers"]),
                format!(
                    "invalid value {r:?}: expected an IP address or ip:port, e.g. \"127.0.0.1:53\""
                ),
            ));
        }
    }
    routes(c, &c.routes, &KeyPath::keys(&["routes"]), &mut out);
    for (name, t) in &c.transports {
        transport(name, t, &KeyPath::keys(&["transports", name]), &mut out);
    }
    out.extend(crate::webhooks::validate(c));
    out
}

fn listeners(c: &Config, out: &mut Vec<Problem>) {
    let all = [
        ("submission", &c.listeners.submission),
        ("submissions", &c.listeners.submissions),
        ("smtp", &c.listeners.smtp),
    ];
    for (name, l) in all {
        let Some(l) = l else { continue };
        let path = KeyPath::keys(&["listeners", name]);
        if l.address.parse::<IpAddr>().is_err() {
            out.push((
                path.key("address"),
                format!("invalid value {:?}: expected an IP address", l.address),
            ));
        }
        if name == "submissions" && c.tls.is_none() {
            out.push((
                path,
                "implicit TLS needs a [tls] section with cert and key".into(),
            ));
        }
    }
    if let Some(w) = &c.listeners.webapi {
        let path = KeyPath::keys(&["listeners", "webapi"]);
        if w.address.parse::<IpAddr>().is_err() {
            out.push((
                path.key("address"),
                format!("invalid value {:?}: expected an IP address", w.address),
            ));
        }
        if !w.path.starts_with('/') || !w.path.ends_with('/') {
            out.push((
                path.key("path"),
                format!(
                    "invalid value {:?}: expected a path starting and ending with \"/\", e.g. \"/webapi/\"",
                    w.path
                ),
            ));
        }
    }
}

fn account(
    c: &Config,
    name: &str,
    a: &super::model::AccountConfig,
    domains: &BTreeSet<String>,
    path: &KeyPath,
    out: &mut Vec<Problem>,
) {
    if a.addresses.is_empty() {
        out.push((
            path.key("addresses"),
            "an account needs at least one address".into(),
        ));
    }
    let mut normalized = Vec::new();
    for (i, addr) in a.addresses.iter().enumerate() {
        let p = path.key("addresses").index(i);
        match smtp::Address::parse(addr) {
            Ok(parsed) => match parsed.domain() {
                Some(d) if domains.contains(d.ascii()) => {
                    normalized.push(addr.to_lowercase());
                }
                Some(d) => out.push((
                    p,
                    format!(
                        "address {addr:?} is in domain {:?}, which is not under [domains]",
                        d.unicode()
                    ),
                )),
                None => out.push((p, format!("address {addr:?} must have a domain"))),
            },
            Err(_) => out.push((
                p,
                format!("invalid value {addr:?}: expected an email address"),
            )),
        }
    }
    let separator = match &a.catchall_separator {
        Some(s) if s.chars().count() != 1 || s.chars().any(|c| c.is_alphanumeric() || c == '@') => {
            out.push((
                path.key("catchall_separator"),
                format!(
                    "invalid value {s:?}: expected one character that is not a letter, digit or '@'"
                ),
            ));
            None
        }
        Some(s) => s.chars().next(),
        None => None,
    };
    for (i, login) in a.fromid_login_addresses.iter().enumerate() {
        let p = path.key("fromid_login_addresses").index(i);
        let Some(sep) = separator else {
            out.push((
                p,
                format!(
                    "fromid login address {login:?} needs a catchall separator (accounts.{name}.catchall_separator)"
                ),
            ));
            continue;
        };
        let base = base_of(&login.to_lowercase(), sep);
        if !normalized.contains(&base) {
            out.push((
                p,
                format!("fromid login address {login:?} is not one of the account's addresses"),
            ));
        }
    }
    if let Some(0) = a.max_outgoing_messages_per_day {
        // 0 means unlimited; nothing to check.
    }
    routes(c, &a.routes, &path.key("routes"), out);
}

/// `local+tag@domain` → `local@domain`.
pub fn base_of(address: &str, sep: char) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split(sep).next().unwrap_or(local);
            format!("{local}@{domain}")
        }
        None => address.to_string(),
    }
}

fn routes(c: &Config, routes: &[Route], path: &KeyPath, out: &mut Vec<Problem>) {
    for (i, r) in routes.iter().enumerate() {
        let p = path.index(i);
        if !c.transports.contains_key(&r.transport) {
            out.push((
                p.key("transport"),
                format!("unknown transport {:?}", r.transport),
            ));
        }
        for (field, list) in [("from_domain", &r.from_domain), ("to_domain", &r.to_domain)] {
            for (j, d) in list.iter().enumerate() {
                let name = d.strip_prefix('.').unwrap_or(d);
                if smtp::Domain::parse(name).is_err() {
                    out.push((p.key(field).index(j), format!("invalid domain name {d:?}")));
                }
            }
        }
    }
}

fn transport(name: &str, t: &Transport, path: &KeyPath, out: &mut Vec<Problem>) {
    let methods = [
        t.submissions.is_some(),
        t.submission.is_some(),
        t.smtp.is_some(),
        t.socks.is_some(),
        t.direct.is_some(),
        t.fail.is_some(),
    ];
    match methods.iter().filter(|m| **m).count() {
        1 => {}
        0 => out.push((
            path.clone(),
            format!(
                "transport {name:?} needs one method: submissions, submission, smtp, socks, direct or fail"
            ),
        )),
        _ => out.push((
            path.clone(),
            format!("transport {name:?} has more than one method"),
        )),
    }
    if let Some(s) = &t.submissions {
        let p = path.key("submissions");
        if s.starttls_insecure_skip_verify {
            out.push((
                p.key("starttls_insecure_skip_verify"),
                "not allowed with implicit TLS (submissions)".into(),
            ));
        }
        if s.no_starttls {
            out.push((
                p.key("no_starttls"),
                "not allowed with implicit TLS (submissions)".into(),
            ));
        }
        smtp_transport(s, &p, out);
    }
    if let Some(s) = &t.submission {
        smtp_transport(s, &path.key("submission"), out);
    }
    if let Some(s) = &t.smtp {
        smtp_transport(s, &path.key("smtp"), out);
    }
    if let Some(s) = &t.socks {
        let p = path.key("socks");
        if s.address.parse::<std::net::SocketAddr>().is_err() {
            out.push((
                p.key("address"),
                format!("invalid value {:?}: expected ip:port", s.address),
            ));
        }
        for (i, ip) in s.remote_ips.iter().enumerate() {
            if ip.parse::<IpAddr>().is_err() {
                out.push((
                    p.key("remote_ips").index(i),
                    format!("invalid value {ip:?}: expected an IP address"),
                ));
            }
        }
        if smtp::Domain::parse(&s.remote_hostname).is_err() {
            out.push((
                p.key("remote_hostname"),
                format!(
                    "invalid value {:?}: expected a host name",
                    s.remote_hostname
                ),
            ));
        }
    }
    if let Some(d) = &t.direct
        && d.disable_ipv4
        && d.disable_ipv6
    {
        out.push((
            path.key("direct"),
            "disable_ipv4 and disable_ipv6 together leave no way to connect".into(),
        ));
    }
    if let Some(f) = &t.fail {
        let p = path.key("fail");
        if let Some(code) = f.smtp_code
            && !(400..600).contains(&code)
        {
            out.push((
                p.key("smtp_code"),
                format!("invalid value {code}: expected a 4xx or 5xx code"),
            ));
        }
        if let Some(m) = &f.smtp_message
            && (!m.is_ascii() || m.len() > 256 || m.chars().any(|c| c.is_ascii_control()))
        {
            out.push((
                p.key("smtp_message"),
                "must be printable ASCII of at most 256 characters".into(),
            ));
        }
    }
}

fn smtp_transport(s: &TransportSmtp, path: &KeyPath, out: &mut Vec<Problem>) {
    if smtp::Domain::parse(&s.host).is_err() && s.host.parse::<IpAddr>().is_err() {
        out.push((
            path.key("host"),
            format!("invalid value {:?}: expected a host name", s.host),
        ));
    }
    if let Some(auth) = &s.auth {
        for (i, m) in auth.mechanisms.iter().enumerate() {
            if !MECHANISMS.contains(&m.to_ascii_uppercase().as_str()) {
                out.push((
                    path.key("auth").key("mechanisms").index(i),
                    format!("unknown mechanism {m:?}; known: {}", MECHANISMS.join(", ")),
                ));
            }
        }
    }
}

/// A `resolvers` entry as a socket address: "ip" (port 53), "ip:port" or
/// "[ipv6]:port".
pub fn parse_resolver(s: &str) -> Option<std::net::SocketAddr> {
    if let Ok(a) = s.parse::<std::net::SocketAddr>() {
        return Some(a);
    }
    s.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| std::net::SocketAddr::new(ip, 53))
}
