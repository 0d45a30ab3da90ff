//! Talking to next hops: the hosts of a transport in order, connections
//! (fresh, pooled, plaintext fallback), and one result per recipient.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use smtp::{Class, EnhancedCode, Host};
use smtpclient::dial::{DialedIps, Dialer, dial_host, dial_name};
use smtpclient::gather::gather_ips;
use smtpclient::{
    CertCheck, Client, ClientConfig, Envelope, NotAttempted, RecipientOutcome, Requirement,
    Response,
};

use super::Ctx;
use super::pool::{PoolKey, close_all};
use crate::model::{AttemptResult, Outcome};
use rustls::ProtocolVersion as rustls_version;

/// The outcome for one row of an attempt.
#[derive(Clone, Debug)]
pub(crate) struct RowResult {
    pub outcome: Outcome,
    pub result: AttemptResult,
    /// Delivered to a next hop that lacks the DSN extension.
    pub relayed: bool,
}

/// Where we were connected when a result came.
#[derive(Clone, Debug, Default)]
pub(crate) struct Hop {
    pub host: String,
    pub ip: String,
    pub tls_version: String,
    pub tls_cipher: String,
    pub tls_verification: String,
}

impl Hop {
    fn of(client: &Client, host: &str, ip: &str) -> Hop {
        let mut hop = Hop {
            host: host.into(),
            ip: ip.into(),
            ..Hop::default()
        };
        if let Some(tls) = client.tls() {
            hop.tls_version = match tls.version {
                rustls_version::TLSv1_3 => "TLS1.3".to_string(),
                rustls_version::TLSv1_2 => "TLS1.2".to_string(),
                other => format!("{other:?}"),
            };
            hop.tls_cipher = format!("{:?}", tls.cipher_suite);
        }
        hop.tls_verification = match client.cert_check() {
            CertCheck::None => "",
            CertCheck::Any => "none",
            CertCheck::Pkix => "pkix",
            CertCheck::Custom => "custom",
        }
        .into();
        hop
    }

    fn apply(&self, r: &mut AttemptResult) {
        r.mx_host = self.host.clone();
        r.ip = self.ip.clone();
        r.tls_version = self.tls_version.clone();
        r.tls_cipher = self.tls_cipher.clone();
        r.tls_verification = self.tls_verification.clone();
    }
}

fn class_name(code: Option<u16>, enhanced: Option<EnhancedCode>, text: &str) -> String {
    dsn::classify(code, enhanced, text)
        .reason
        .as_str()
        .to_string()
}

impl RowResult {
    /// A failure that did not come from a server reply, or a configured one.
    pub fn failure(
        permanent: bool,
        code: u16,
        enhanced: Option<EnhancedCode>,
        error: &str,
        hop: &Hop,
    ) -> RowResult {
        let mut result = AttemptResult {
            code,
            enhanced_code: enhanced.map(|e| e.to_string()).unwrap_or_default(),
            failure_class: class_name((code != 0).then_some(code), enhanced, error),
            error: error.into(),
            ..AttemptResult::default()
        };
        hop.apply(&mut result);
        RowResult {
            outcome: if permanent {
                Outcome::Permanent
            } else {
                Outcome::Temporary
            },
            result,
            relayed: false,
        }
    }

    /// The result of a session error.
    pub fn from_error(err: &smtpclient::Error, hop: &Hop) -> RowResult {
        let mut r = match err.reply() {
            Some(reply) => {
                let enhanced = err.enhanced_code();
                let mut r = RowResult::failure(
                    err.is_permanent(),
                    reply.code,
                    enhanced,
                    &err.to_string(),
                    hop,
                );
                r.result.reply_lines = reply.lines.clone();
                r.result.failure_class = dsn::classify_reply(reply).reason.as_str().into();
                r
            }
            None => RowResult::failure(err.is_permanent(), 0, None, &err.to_string(), hop),
        };
        if requiretls_missing(err) {
            r.result.enhanced_code = "4.7.30".into();
            r.result.failure_class = dsn::Reason::Security.as_str().into();
        }
        r
    }

    fn from_response(resp: &Response, delivered: bool, relayed: bool, hop: &Hop) -> RowResult {
        let mut result = AttemptResult {
            success: delivered,
            code: resp.code,
            enhanced_code: resp.enhanced.map(|e| e.to_string()).unwrap_or_default(),
            reply_lines: resp.lines.clone(),
            ..AttemptResult::default()
        };
        if !delivered {
            result.failure_class =
                class_name(Some(resp.code), resp.enhanced, &resp.lines.join(" "));
            result.error = format!("{} rejected: {resp}", resp.command);
        }
        hop.apply(&mut result);
        RowResult {
            outcome: if delivered {
                Outcome::Delivered
            } else if resp.permanent {
                Outcome::Permanent
            } else {
                Outcome::Temporary
            },
            result,
            relayed: delivered && relayed,
        }
    }
}

/// Whether the server lacked REQUIRETLS for a message that needs it.
pub(crate) fn requiretls_missing(err: &smtpclient::Error) -> bool {
    matches!(
        err,
        smtpclient::Error::Unsupported {
            requirement: Requirement::RequireTls
        }
    )
}

/// Which address families direct delivery may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Families {
    pub no_v4: bool,
    pub no_v6: bool,
}

/// How to reach the hosts of one transport.
pub(crate) struct Plan {
    pub transport: String,
    pub hosts: Vec<Host>,
    pub port: u16,
    /// Connect by name through the dialer (SOCKS5), not by IP.
    pub by_name: bool,
    pub dialer: Arc<dyn Dialer>,
    pub config: ClientConfig,
    /// MX delivery: record the domain's TLS, dual-stack rule.
    pub direct: bool,
    pub families: Families,
    pub recipient_domain: String,
    pub first_attempt: bool,
}

impl Plan {
    fn key(&self, host: &Host, ip: &str) -> PoolKey {
        PoolKey {
            transport: self.transport.clone(),
            host: host.to_string(),
            ip: ip.into(),
            tls: format!("{:?}", self.config.tls),
            ehlo: self.config.ehlo_name.clone(),
            username: self
                .config
                .auth
                .as_ref()
                .map(|a| a.credentials.username.clone())
                .unwrap_or_default(),
        }
    }
}

/// What one host gave.
enum HostOutcome {
    /// Every recipient has a result.
    Results(Vec<RowResult>),
    /// The host failed as a whole.
    Failed {
        result: Box<RowResult>,
        requiretls_missing: bool,
    },
}

/// Delivers to the plan's hosts in order until one gives per-recipient
/// results or fails permanently. `envelopes` builds the envelope for a
/// subset of recipients (indexes into the rows).
pub(crate) async fn run_plan(
    ctx: &Ctx,
    plan: &Plan,
    envelope: &Envelope,
    body: &[u8],
    dialed: &mut DialedIps,
) -> Vec<RowResult> {
    let n = envelope.recipients.len();
    let mut last: Option<RowResult> = None;
    let mut all_requiretls = !plan.hosts.is_empty();
    for host in &plan.hosts {
        let limit = ctx.config.session_timeout;
        let attempt =
            tokio::time::timeout(limit, attempt_host(ctx, plan, host, envelope, body, dialed));
        let outcome = attempt.await.unwrap_or_else(|_| HostOutcome::Failed {
            result: Box::new(RowResult::failure(
                false,
                0,
                None,
                &format!("session with {host} took longer than {limit:?}"),
                &Hop {
                    host: host.to_string(),
                    ..Hop::default()
                },
            )),
            requiretls_missing: false,
        });
        match outcome {
            HostOutcome::Results(results) => return results,
            HostOutcome::Failed {
                result,
                requiretls_missing,
            } => {
                all_requiretls &= requiretls_missing;
                let permanent = result.outcome == Outcome::Permanent;
                last = Some(*result);
                if permanent {
                    break;
                }
            }
        }
    }
    let result = if all_requiretls {
        let mut r = RowResult::failure(
            true,
            554,
            Some(EnhancedCode::new(Class::Permanent, 7, 30)),
            "destination servers do not support requiretls",
            &Hop::default(),
        );
        if let Some(l) = &last {
            r.result.mx_host = l.result.mx_host.clone();
            r.result.ip = l.result.ip.clone();
        }
        r
    } else {
        last.unwrap_or_else(|| {
            RowResult::failure(false, 0, None, "no hosts to deliver to", &Hop::default())
        })
    };
    vec![result; n]
}

/// Downgrades a permanent 5.7.x on a first attempt to a dual-stack host:
/// the next attempt uses the other address family (our IP may be listed).
fn dual_stack_downgrade(plan: &Plan, dual_stack: bool, r: &mut RowResult) {
    if plan.direct
        && plan.first_attempt
        && dual_stack
        && r.outcome == Outcome::Permanent
        && r.result.enhanced_code.starts_with("5.7.")
    {
        r.outcome = Outcome::Temporary;
    }
}

async fn attempt_host(
    ctx: &Ctx,
    plan: &Plan,
    host: &Host,
    envelope: &Envelope,
    body: &[u8],
    dialed: &mut DialedIps,
) -> HostOutcome {
    let host_name = host.to_string();
    let mut hop = Hop {
        host: host_name.clone(),
        ..Hop::default()
    };
    let (ips, dual_stack) = if plan.by_name {
        (Vec::new(), false)
    } else {
        match gather_ips(ctx.resolver.as_ref(), host, dialed).await {
            Ok(g) => {
                let ips: Vec<IpAddr> = g
                    .ips
                    .into_iter()
                    .filter(|ip| !(ip.is_ipv4() && plan.families.no_v4))
                    .filter(|ip| !(ip.is_ipv6() && plan.families.no_v6))
                    .collect();
                (ips, g.dual_stack)
            }
            Err(err) => {
                let err = smtpclient::Error::from(err);
                return HostOutcome::Failed {
                    result: Box::new(RowResult::from_error(&err, &hop)),
                    requiretls_missing: false,
                };
            }
        }
    };
    let size = body.len() as u64;

    // An idle connection to one of the host's IPs, if one fits the message.
    let mut pooled = None;
    if ctx.config.idle_timeout > std::time::Duration::ZERO {
        let candidates: Vec<String> = if plan.by_name {
            vec![String::new()]
        } else {
            ips.iter().map(ToString::to_string).collect()
        };
        for ip in candidates {
            if let Some(client) = ctx.pool.take(
                &plan.key(host, &ip),
                envelope,
                size,
                ctx.config.idle_timeout,
            ) {
                pooled = Some((client, ip));
                break;
            }
        }
    }
    let mut reused = pooled.is_some();
    let (mut client, ip) = match pooled {
        Some(found) => found,
        None => match connect(ctx, plan, host, &ips, dialed).await {
            Ok(found) => found,
            Err((err, ip)) => {
                hop.ip = ip;
                let mut result = RowResult::from_error(&err, &hop);
                dual_stack_downgrade(plan, dual_stack, &mut result);
                return HostOutcome::Failed {
                    result: Box::new(result),
                    requiretls_missing: requiretls_missing(&err),
                };
            }
        },
    };
    if !reused && plan.direct {
        let seen = (client.tls().is_some(), client.extensions().requiretls);
        record_domain_tls(ctx, plan, seen).await;
    }
    let key = plan.key(host, &ip);

    let n = envelope.recipients.len();
    let mut results: Vec<Option<RowResult>> = vec![None; n];
    let mut pending: Vec<usize> = (0..n).collect();
    loop {
        let hop = Hop::of(&client, &host_name, &ip);
        let mut sub = envelope.clone();
        sub.recipients = pending
            .iter()
            .filter_map(|&i| envelope.recipients.get(i).cloned())
            .collect();
        match client.deliver(&sub, body).await {
            Ok(delivery) => {
                let mut again = Vec::new();
                for (&index, outcome) in pending.iter().zip(&delivery.recipients) {
                    let r = match outcome {
                        RecipientOutcome::Delivered(resp) => {
                            RowResult::from_response(resp, true, delivery.dsn_params_dropped, &hop)
                        }
                        RecipientOutcome::Failed(resp) => {
                            RowResult::from_response(resp, false, false, &hop)
                        }
                        RecipientOutcome::NotAttempted(NotAttempted::MailMaxReached) => {
                            again.push(index);
                            continue;
                        }
                        RecipientOutcome::NotAttempted(NotAttempted::SessionEnded { reason }) => {
                            RowResult::failure(false, 0, None, reason, &hop)
                        }
                    };
                    if let Some(slot) = results.get_mut(index) {
                        *slot = Some(r);
                    }
                }
                if again.is_empty() {
                    break;
                }
                // MAILMAX reached: the rest go over a new connection.
                close_all(vec![client]);
                match connect(ctx, plan, host, &ips, dialed).await {
                    Ok((c, _)) => {
                        client = c;
                        reused = false;
                        pending = again;
                    }
                    Err((err, _)) => {
                        let r = RowResult::from_error(&err, &hop);
                        for index in again {
                            if let Some(slot) = results.get_mut(index) {
                                *slot = Some(r.clone());
                            }
                        }
                        return finish(results, plan, dual_stack, &hop);
                    }
                }
            }
            Err(err) => {
                if reused && err.ends_connection() {
                    // The pooled connection went stale; a fresh one gets the message.
                    close_all(vec![client]);
                    match connect(ctx, plan, host, &ips, dialed).await {
                        Ok((c, _)) => {
                            client = c;
                            reused = false;
                            continue;
                        }
                        Err((err, _)) => {
                            return HostOutcome::Failed {
                                result: Box::new(RowResult::from_error(&err, &hop)),
                                requiretls_missing: requiretls_missing(&err),
                            };
                        }
                    }
                }
                let mut result = RowResult::from_error(&err, &hop);
                dual_stack_downgrade(plan, dual_stack, &mut result);
                let missing = requiretls_missing(&err);
                release(ctx, key, client);
                if results.iter().any(Option::is_some) {
                    for slot in results.iter_mut().filter(|s| s.is_none()) {
                        *slot = Some(result.clone());
                    }
                    return finish(results, plan, dual_stack, &hop);
                }
                return HostOutcome::Failed {
                    result: Box::new(result),
                    requiretls_missing: missing,
                };
            }
        }
    }
    let hop = Hop::of(&client, &host_name, &ip);
    release(ctx, key, client);
    finish(results, plan, dual_stack, &hop)
}

fn finish(
    results: Vec<Option<RowResult>>,
    plan: &Plan,
    dual_stack: bool,
    hop: &Hop,
) -> HostOutcome {
    HostOutcome::Results(
        results
            .into_iter()
            .map(|r| {
                let mut r = r.unwrap_or_else(|| {
                    RowResult::failure(false, 0, None, "no result from the server", hop)
                });
                dual_stack_downgrade(plan, dual_stack, &mut r);
                r
            })
            .collect(),
    )
}

/// Keeps a usable connection for the next message, closes others.
fn release(ctx: &Ctx, key: PoolKey, client: Client) {
    if client.can_reuse() && ctx.config.idle_timeout > std::time::Duration::ZERO && !ctx.stopping()
    {
        ctx.pool.put(key, client);
    } else {
        close_all(vec![client]);
    }
}

/// Dials the host (by IP, or by name through a proxy) and sets up the
/// session; when the TLS handshake fails and the configuration allows it,
/// the same IP is dialed again for a plaintext session.
async fn connect(
    ctx: &Ctx,
    plan: &Plan,
    host: &Host,
    ips: &[IpAddr],
    dialed: &mut DialedIps,
) -> Result<(Client, String), (smtpclient::Error, String)> {
    let timeout = ctx.config.dial_timeout;
    let (stream, ip) = dial(plan, host, ips, dialed, timeout)
        .await
        .map_err(|e| (e, String::new()))?;
    let ip_text = ip.map(|i| i.to_string()).unwrap_or_default();
    match Client::connect(stream, plan.config.clone()).await {
        Ok(client) => Ok((client, ip_text)),
        Err(err) if err.plaintext_fallback_allowed() => {
            tracing::debug!(target: "queue", host = %host, ip = %ip_text, error = %err, "tls failed, falling back to plaintext");
            let retry_ips: Vec<IpAddr> = ip.into_iter().collect();
            let (stream, _) = dial(plan, host, &retry_ips, dialed, timeout)
                .await
                .map_err(|e| (e, ip_text.clone()))?;
            let config = plan.config.without_tls();
            match Client::connect(stream, config).await {
                Ok(client) => Ok((client, ip_text)),
                Err(err) => Err((err, ip_text)),
            }
        }
        Err(err) => Err((err, ip_text)),
    }
}

async fn dial(
    plan: &Plan,
    host: &Host,
    ips: &[IpAddr],
    dialed: &mut DialedIps,
    timeout: std::time::Duration,
) -> Result<(smtpclient::BoxStream, Option<IpAddr>), smtpclient::Error> {
    if plan.by_name {
        let name = host.to_string();
        let stream = dial_name(plan.dialer.as_ref(), &name, plan.port, timeout).await?;
        Ok((stream, None))
    } else {
        let (stream, ip) =
            dial_host(plan.dialer.as_ref(), host, ips, plan.port, dialed, timeout).await?;
        Ok((stream, Some(ip)))
    }
}

async fn record_domain_tls(ctx: &Ctx, plan: &Plan, (starttls, requiretls): (bool, bool)) {
    let store = ctx.store.clone();
    let domain = plan.recipient_domain.clone();
    let done =
        tokio::task::spawn_blocking(move || store.domain_tls_record(&domain, starttls, requiretls))
            .await;
    match done {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            tracing::warn!(target: "queue", error = %err, "recording the recipient domain's tls");
        }
        Err(err) => {
            tracing::warn!(target: "queue", error = %err, "recording the recipient domain's tls");
        }
    }
}

/// Rows' dialed IPs merged into the client's form.
pub(crate) fn dialed_from_rows<'a>(
    maps: impl Iterator<Item = &'a BTreeMap<String, Vec<String>>>,
) -> DialedIps {
    let mut merged: std::collections::HashMap<String, Vec<IpAddr>> = Default::default();
    for map in maps {
        for (host, ips) in map {
            let list = merged.entry(host.clone()).or_default();
            for ip in ips.iter().filter_map(|s| s.parse::<IpAddr>().ok()) {
                if !list.contains(&ip) {
                    list.push(ip);
                }
            }
        }
    }
    DialedIps::from_map(merged)
}

/// The client's dialed IPs in the store's form.
pub(crate) fn dialed_to_map(dialed: &DialedIps) -> BTreeMap<String, Vec<String>> {
    dialed
        .as_map()
        .iter()
        .map(|(h, ips)| (h.clone(), ips.iter().map(ToString::to_string).collect()))
        .collect()
}
