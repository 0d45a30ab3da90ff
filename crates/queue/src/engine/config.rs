//! What the engine is told: limits, names, routes and transports.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use smtpclient::{Timeouts, Verification};

/// The engine's settings, as the binary read them from its configuration.
///
/// ```
/// use queue::engine::{EngineConfig, Route, Transport};
/// let mut config = EngineConfig { hostname: "mail.example.org".into(), ..EngineConfig::default() };
/// config.transports.insert("fail".into(), Transport::fail_default());
/// config.routes.global.push(Route { to_domains: vec![".invalid".into()], ..Route::to("fail") });
/// assert_eq!(config.max_per_domain, 1);
/// ```
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The name this node claims leases under (unique per running node).
    pub node: String,
    /// Deliveries in flight at once, over all domains.
    pub max_concurrent: usize,
    /// Deliveries in flight at once to one recipient domain.
    pub max_per_domain: usize,
    /// How long a claimed batch stays leased; renewed every third of it
    /// while its delivery runs.
    pub lease: Duration,
    /// Our host name: EHLO name, DSN From domain and Reporting-MTA.
    pub hostname: String,
    /// The account that gets DSNs whose sender account cannot take them.
    pub postmaster_account: String,
    /// The mailbox of the postmaster account that DSNs go to.
    pub postmaster_mailbox: String,
    /// Routes on account, sender-domain and global level.
    pub routes: Routes,
    /// Named transports the routes and rows refer to.
    pub transports: BTreeMap<String, Transport>,
    /// How long an idle connection is kept for reuse (zero: never reused).
    pub idle_timeout: Duration,
    /// The SMTP port of direct delivery; 25 except in tests.
    pub direct_port: u16,
    /// Budget for connecting to all IPs of one host.
    pub dial_timeout: Duration,
    /// SMTP command time limits.
    pub timeouts: Timeouts,
    /// Limit for one host's whole session (dial, setup, all transactions);
    /// the reference's 30 minutes.
    pub session_timeout: Duration,
    /// How often the store is re-read for changes made by other processes.
    pub poll_interval: Duration,
    /// Certificate check for transports that need PKIX-verified TLS.
    pub pkix: Verification,
    /// How long a graceful shutdown waits for running deliveries before it
    /// gives their leases back.
    pub shutdown_grace: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            node: "node1".into(),
            max_concurrent: 10,
            max_per_domain: 1,
            lease: Duration::from_secs(300),
            hostname: "localhost".into(),
            postmaster_account: "postmaster".into(),
            postmaster_mailbox: mailbox::INBOX.into(),
            routes: Routes::default(),
            transports: BTreeMap::new(),
            idle_timeout: Duration::from_secs(10),
            direct_port: 25,
            dial_timeout: smtpclient::dial::DEFAULT_DIAL_TIMEOUT,
            timeouts: Timeouts::default(),
            session_timeout: Duration::from_secs(30 * 60),
            poll_interval: Duration::from_secs(1),
            pkix: Verification::webpki_roots(),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Routes by level; the first match in account, then sender domain, then
/// global routes decides the transport. No match means direct delivery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routes {
    /// Per sending account.
    pub account: BTreeMap<String, Vec<Route>>,
    /// Per sender domain (unicode, lower case).
    pub domain: BTreeMap<String, Vec<Route>>,
    /// For everybody.
    pub global: Vec<Route>,
}

/// A route: when all its conditions match, its transport is used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// Sender domains; empty matches all. ".example.com" matches that
    /// domain and its subdomains.
    pub from_domains: Vec<String>,
    /// Recipient domains, same syntax.
    pub to_domains: Vec<String>,
    /// Matches when at least this many attempts were made before.
    pub minimum_attempts: u32,
    /// The transport's name.
    pub transport: String,
}

impl Route {
    /// A route matching everything, to `transport`.
    pub fn to(transport: &str) -> Route {
        Route {
            transport: transport.into(),
            ..Route::default()
        }
    }
}

/// How messages leave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// MX delivery, optionally restricted to one address family.
    Direct {
        /// Do not connect over IPv4.
        disable_ipv4: bool,
        /// Do not connect over IPv6.
        disable_ipv6: bool,
    },
    /// A smarthost on port 25 by default: STARTTLS required and PKIX-verified
    /// unless relaxed.
    Smtp(SmtpTransport),
    /// Submission (587 by default), STARTTLS like [`Transport::Smtp`].
    Submission(SmtpTransport),
    /// Submission with TLS from the first byte (465 by default).
    Submissions(SmtpTransport),
    /// Direct MX delivery through a SOCKS5 proxy, which resolves the names.
    Socks(SocksTransport),
    /// Fails every attempt with this reply.
    Fail(FailTransport),
    /// Plain SMTP to a local listener (`postel localserve`).
    Localserve {
        /// The listener.
        address: SocketAddr,
    },
}

impl Transport {
    /// The fail transport with its defaults: 554 5.7.0.
    pub fn fail_default() -> Transport {
        Transport::Fail(FailTransport::default())
    }
}

/// A smarthost or submission server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmtpTransport {
    /// Host name (or IP) of the server.
    pub host: String,
    /// Port; 0 is the transport kind's default.
    pub port: u16,
    /// Keep STARTTLS required but accept any certificate.
    pub starttls_insecure_skip_verify: bool,
    /// No TLS at all.
    pub no_starttls: bool,
    /// AUTH after EHLO.
    pub auth: Option<TransportAuth>,
}

/// Credentials for a submission transport.
#[derive(Clone, PartialEq, Eq)]
pub struct TransportAuth {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// Mechanism names allowed, e.g. "SCRAM-SHA-256"; empty means the
    /// default set (SCRAM-SHA-256-PLUS, SCRAM-SHA-256, SCRAM-SHA-1-PLUS,
    /// SCRAM-SHA-1, CRAM-MD5). PLAIN is used only when listed here.
    pub mechanisms: Vec<String>,
}

impl std::fmt::Debug for TransportAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportAuth")
            .field("username", &self.username)
            .field("password", &"***")
            .field("mechanisms", &self.mechanisms)
            .finish()
    }
}

/// A SOCKS5 proxy transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocksTransport {
    /// The proxy.
    pub address: SocketAddr,
    /// The name we use in EHLO behind the proxy.
    pub remote_hostname: String,
}

/// The fail transport's reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailTransport {
    /// 4xx or 5xx.
    pub code: u16,
    /// Enhanced code subject and detail ("7.0"); the class follows the code.
    pub enhanced: (u16, u16),
    /// The text.
    pub message: String,
}

impl Default for FailTransport {
    fn default() -> Self {
        FailTransport {
            code: 554,
            enhanced: (7, 0),
            message: "transport fail: explicit immediate delivery failure per configuration".into(),
        }
    }
}

/// Whether a domain list matches: empty matches all, ".x" matches x and its
/// subdomains, other entries match exactly (case-insensitive).
fn domain_matches(list: &[String], domain: &str) -> bool {
    if list.is_empty() {
        return true;
    }
    let domain = domain.trim_end_matches('.').to_lowercase();
    list.iter().any(|entry| {
        let entry = entry.trim_end_matches('.').to_lowercase();
        match entry.strip_prefix('.') {
            Some(parent) => domain == parent || domain.ends_with(&entry),
            None => domain == entry,
        }
    })
}

impl Route {
    /// Whether this route applies to a message from `from_domain` to
    /// `to_domain` with `previous_attempts` made.
    pub fn matches(&self, from_domain: &str, to_domain: &str, previous_attempts: u32) -> bool {
        domain_matches(&self.from_domains, from_domain)
            && domain_matches(&self.to_domains, to_domain)
            && previous_attempts >= self.minimum_attempts
    }
}

impl Routes {
    /// The transport name of the first matching route, `None` for direct.
    ///
    /// ```
    /// use queue::engine::{Route, Routes};
    /// let mut routes = Routes::default();
    /// routes.global.push(Route { minimum_attempts: 3, ..Route::to("smarthost") });
    /// assert_eq!(routes.select("alice", "example.org", "example.com", 2), None);
    /// assert_eq!(routes.select("alice", "example.org", "example.com", 3), Some("smarthost"));
    /// ```
    pub fn select(
        &self,
        account: &str,
        from_domain: &str,
        to_domain: &str,
        previous_attempts: u32,
    ) -> Option<&str> {
        let account_routes = self.account.get(account).map(Vec::as_slice);
        let domain_routes = self
            .domain
            .get(&from_domain.to_lowercase())
            .map(Vec::as_slice);
        account_routes
            .unwrap_or_default()
            .iter()
            .chain(domain_routes.unwrap_or_default())
            .chain(&self.global)
            .find(|r| r.matches(from_domain, to_domain, previous_attempts))
            .map(|r| r.transport.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_prefix_matches_domain_and_subdomains_only() {
        let list = vec![".example.com".to_string()];
        assert!(domain_matches(&list, "example.com"));
        assert!(domain_matches(&list, "mx.Example.com"));
        assert!(!domain_matches(&list, "badexample.com"));
        assert!(!domain_matches(
            &["example.com".to_string()],
            "a.example.com"
        ));
    }

    #[test]
    fn account_routes_come_before_domain_and_global_routes() {
        let mut routes = Routes::default();
        routes.global.push(Route::to("global"));
        routes
            .domain
            .insert("example.org".into(), vec![Route::to("domain")]);
        routes.account.insert(
            "alice".into(),
            vec![Route {
                to_domains: vec!["special.example".into()],
                ..Route::to("account")
            }],
        );
        assert_eq!(
            routes.select("alice", "example.org", "special.example", 0),
            Some("account")
        );
        assert_eq!(
            routes.select("alice", "example.org", "other.example", 0),
            Some("domain")
        );
        assert_eq!(
            routes.select("bob", "example.net", "other.example", 0),
            Some("global")
        );
    }
}
