//! The shape of `postel.toml`. Names follow the reference's configuration
//! (routes, transports, per-account limits) in snake_case.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::values::{Port, Span};

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Our host name: greeting, EHLO, Received, DSN Reporting-MTA.
    pub hostname: String,
    /// Where the stores live (queue.db, mailbox.db).
    pub data_dir: PathBuf,
    /// Account that gets DSNs its sender account cannot take (default:
    /// the first account by name).
    pub postmaster_account: Option<String>,
    /// Listening sockets.
    #[serde(default)]
    pub listeners: Listeners,
    /// Certificate and key for STARTTLS and implicit TLS.
    pub tls: Option<TlsFiles>,
    /// Domains we send for, with their routes.
    #[serde(default)]
    pub domains: BTreeMap<String, DomainConfig>,
    /// Accounts by name.
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountConfig>,
    /// Networks whose unauthenticated submissions are mapped to an account.
    #[serde(default)]
    pub trusted_networks: Vec<TrustedNetwork>,
    /// Submission limits.
    #[serde(default)]
    pub submission: SubmissionConfig,
    /// Queue settings.
    #[serde(default)]
    pub queue: QueueConfig,
    /// SMTP time limits for our server and client sides.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Global routes, tried after account and domain routes.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Named transports.
    #[serde(default)]
    pub transports: BTreeMap<String, Transport>,
    /// Recursive resolvers for MX and address lookups, as "ip" or
    /// "ip:port" (default: the nameservers of /etc/resolv.conf).
    #[serde(default)]
    pub resolvers: Vec<String>,
    /// Webhook delivery settings.
    #[serde(default)]
    pub webhooks: crate::webhooks::WebhooksConfig,
}

/// Listening sockets; each is off unless given.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listeners {
    /// Submission with STARTTLS (587).
    pub submission: Option<Listener>,
    /// Submission with implicit TLS (465).
    pub submissions: Option<Listener>,
    /// Inbound SMTP (25). Inbound handling comes later: it refuses all mail.
    pub smtp: Option<Listener>,
    /// The web API over plain HTTP (put it behind a TLS-terminating proxy
    /// or on loopback: requests carry HTTP Basic credentials).
    pub webapi: Option<WebApiListener>,
}

/// The web API's listening socket and HTTP settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebApiListener {
    /// IP address to bind.
    pub address: String,
    /// Port.
    pub port: Port,
    /// Where the API is mounted (default "/webapi/"); starts and ends with "/".
    #[serde(default = "default_webapi_path")]
    pub path: String,
    /// Behind a reverse proxy: take the client IP (for the login rate
    /// limiter) from X-Forwarded-For.
    #[serde(default)]
    pub trust_forwarded: bool,
    /// Largest composed message in bytes (default: submission.max_message_size).
    pub max_message_size: Option<u64>,
}

fn default_webapi_path() -> String {
    "/webapi/".into()
}

/// One listening socket.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// IP address to bind.
    pub address: String,
    /// Port.
    pub port: Port,
}

/// PEM files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// Certificate chain, end entity first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A domain we send for.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    /// Routes for mail from this domain, after account routes.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// A disabled domain stays configured, but submissions from it (web
    /// API and SMTP) and incoming mail to it are refused for now.
    #[serde(default)]
    pub disabled: bool,
}

/// An account.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Login and sender addresses, in configured domains.
    pub addresses: Vec<String>,
    /// Separator after which a local part carries a free tag (`+`).
    pub catchall_separator: Option<String>,
    /// Logins that turn on unique MAIL FROM (fromid) mode.
    #[serde(default)]
    pub fromid_login_addresses: Vec<String>,
    /// How long retired messages are kept (default 7d).
    pub retention: Option<Span>,
    /// Messages (recipients) per 24 hours; default 1000, 0 = unlimited.
    pub max_outgoing_messages_per_day: Option<u64>,
    /// First-time recipients per 24 hours; default 200, 0 = unlimited.
    pub max_first_time_recipients_per_day: Option<u64>,
    /// Allow CRAM-MD5 (stores its HMAC-MD5 state).
    #[serde(default)]
    pub cram_md5: bool,
    /// Routes for this account, tried first.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Webhook endpoints (`[[accounts.NAME.webhooks]]`).
    #[serde(default)]
    pub webhooks: Vec<crate::webhooks::WebhookConfig>,
    /// The reference's outgoing webhook (endpoint "outgoing").
    pub outgoing_webhook: Option<crate::webhooks::OutgoingWebhookConfig>,
    /// The reference's incoming webhook (endpoint "incoming").
    pub incoming_webhook: Option<crate::webhooks::IncomingWebhookConfig>,
    /// How long retired webhooks are kept (default 7d, 0s keeps none).
    pub webhook_retention: Option<Span>,
}

/// A trusted network mapped to an account.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedNetwork {
    /// CIDR.
    pub network: String,
    /// Account the submissions are for.
    pub account: String,
}

/// Submission limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionConfig {
    /// Recipients per message (default 1000).
    #[serde(default = "default_max_recipients")]
    pub max_recipients: usize,
    /// Largest message in bytes (default 100 MiB).
    #[serde(default = "default_max_message_size")]
    pub max_message_size: u64,
}

fn default_max_recipients() -> usize {
    1000
}
fn default_max_message_size() -> u64 {
    100 * 1024 * 1024
}

impl Default for SubmissionConfig {
    fn default() -> Self {
        SubmissionConfig {
            max_recipients: default_max_recipients(),
            max_message_size: default_max_message_size(),
        }
    }
}

/// Queue settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Deliveries in flight overall (default 10).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Deliveries in flight per recipient domain (default 1).
    #[serde(default = "default_per_domain")]
    pub per_domain_concurrency: usize,
    /// Attempts before a message fails (default 8).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The name this node claims queue leases under (default "node1";
    /// unique per node sharing a store).
    pub node: Option<String>,
    /// How long a shutdown waits for running deliveries before giving
    /// them back to the queue (default 30s).
    pub shutdown_grace: Option<Span>,
    /// How long an idle outgoing connection is kept for reuse (default 10s).
    pub idle_timeout: Option<Span>,
    /// The port direct delivery dials on MX hosts (default 25). Only for
    /// tests with local sinks: real MX hosts listen on 25.
    pub direct_port: Option<Port>,
}

fn default_concurrency() -> usize {
    10
}
fn default_per_domain() -> usize {
    1
}
fn default_max_attempts() -> u32 {
    8
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            concurrency: default_concurrency(),
            per_domain_concurrency: default_per_domain(),
            max_attempts: default_max_attempts(),
            node: None,
            shutdown_grace: None,
            idle_timeout: None,
            direct_port: None,
        }
    }
}

/// A route: when it matches, the message goes through `transport`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Sender domains (".example.com" also matches subdomains); empty = any.
    #[serde(default)]
    pub from_domain: Vec<String>,
    /// Recipient domains, same syntax; empty = any.
    #[serde(default)]
    pub to_domain: Vec<String>,
    /// Matches only after this many previous attempts.
    #[serde(default)]
    pub minimum_attempts: u32,
    /// Name of a transport.
    pub transport: String,
}

/// A transport: exactly one method.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// Submission with implicit TLS (default port 465).
    pub submissions: Option<TransportSmtp>,
    /// Submission with STARTTLS (default port 587).
    pub submission: Option<TransportSmtp>,
    /// SMTP smarthost with STARTTLS (default port 25).
    pub smtp: Option<TransportSmtp>,
    /// Direct delivery through a SOCKS5 proxy.
    pub socks: Option<TransportSocks>,
    /// Direct delivery to the MX hosts, optionally one IP family only.
    pub direct: Option<TransportDirect>,
    /// Fail every message at once.
    pub fail: Option<TransportFail>,
}

/// A submission/SMTP next hop.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportSmtp {
    /// Host name.
    pub host: String,
    /// Port (default by method).
    pub port: Option<Port>,
    /// STARTTLS without certificate verification.
    #[serde(default)]
    pub starttls_insecure_skip_verify: bool,
    /// No TLS at all.
    #[serde(default)]
    pub no_starttls: bool,
    /// Credentials.
    pub auth: Option<TransportAuth>,
}

/// Credentials for a submission transport.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportAuth {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// Allowed mechanisms; PLAIN only when listed. Empty: SCRAM and CRAM-MD5.
    #[serde(default)]
    pub mechanisms: Vec<String>,
}

/// A SOCKS5 proxy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportSocks {
    /// Proxy host:port.
    pub address: String,
    /// The IPs the proxy sends from.
    #[serde(default)]
    pub remote_ips: Vec<String>,
    /// The proxy host's name, used in EHLO.
    pub remote_hostname: String,
}

/// Direct delivery options.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportDirect {
    /// Only IPv6.
    #[serde(default)]
    pub disable_ipv4: bool,
    /// Only IPv4.
    #[serde(default)]
    pub disable_ipv6: bool,
}

/// The fail transport.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportFail {
    /// 4xx or 5xx (default 554).
    pub smtp_code: Option<u16>,
    /// ASCII, at most 256 characters.
    pub smtp_message: Option<String>,
}

/// SMTP time limits; unset ones keep the RFC 5321 §4.5.3.2 defaults.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Client: waiting for the greeting (5m).
    pub greeting: Option<Span>,
    /// Client: reply to MAIL (5m).
    pub mail: Option<Span>,
    /// Client: reply to each RCPT (5m).
    pub rcpt: Option<Span>,
    /// Client: reply to DATA (2m).
    pub data_command: Option<Span>,
    /// Both: each block of message data (3m).
    pub data_block: Option<Span>,
    /// Client: reply to the final dot (10m).
    pub data_end: Option<Span>,
    /// Server: waiting for the next command; client: other commands (5m).
    pub command: Option<Span>,
    /// Both: the TLS handshake (1m).
    pub tls_handshake: Option<Span>,
}
