//! One claimed batch (its attempt already registered): check suppression,
//! pick the transport, deliver, record the outcome, write the DSNs.

use std::collections::BTreeMap;
use std::sync::Arc;

use smtp::{Class, EnhancedCode, Host};
use smtpclient::gather::gather_destinations;
use smtpclient::{AuthConfig, ClientConfig, Envelope, Recipient, TlsMode, Verification};

use super::Ctx;
use super::config::{SmtpTransport, Transport};
use super::report::{self, DsnInput, DsnKind};
use super::transport::{Families, Hop, Plan, RowResult, dialed_from_rows, dialed_to_map, run_plan};
use crate::model::*;
use crate::store::{Store, StoreError};

/// The text of a suppressed recipient's result.
pub const SUPPRESSED_ERROR: &str = "address is on suppression list";

/// A claimed batch with what its delivery reads from the store: the body
/// and, per row, whether the recipient is suppressed.
pub(crate) struct Prepared {
    batch: Batch,
    read: Result<(Vec<u8>, Vec<SuppressionLookup>), StoreError>,
}

/// One row's suppression list lookup.
type SuppressionLookup = Result<Option<Suppression>, StoreError>;

/// Reads the body and the suppression list for a claimed batch. Blocking:
/// the scheduler runs it in the blocking call that claimed the batch, so a
/// delivery needs no store round trip of its own before it dials.
pub(crate) fn prepare(store: &dyn Store, batch: Batch) -> Prepared {
    let read = match batch.rows.first() {
        None => Ok((Vec::new(), Vec::new())),
        Some(first) => store.body(first.body_id).map(|body| {
            let suppressed = batch
                .rows
                .iter()
                .map(|r| store.suppression_lookup(&r.account, &r.recipient))
                .collect();
            (body, suppressed)
        }),
    };
    Prepared { batch, read }
}

impl Prepared {
    /// The ids of the batch's rows.
    pub fn ids(&self) -> Vec<i64> {
        self.batch.rows.iter().map(|r| r.id).collect()
    }
}

/// A batch whose SMTP part is over: what recording its outcome needs.
pub(crate) struct Attempted {
    rows: Vec<QueuedMessage>,
    results: Vec<RowResult>,
    dialed_maps: Vec<BTreeMap<String, Vec<String>>>,
    body: Vec<u8>,
}

/// Delivers one batch; [`record_outcome`] then writes its DSNs and
/// records the outcome. Split in two so the scheduler can hand the
/// delivery slot (the connection is back in the pool) to the next batch
/// while the outcome is being committed: the next claim and this
/// completion then share one commit. The batch comes from
/// [`crate::Store::claim_and_begin`], so its attempt is already on disk and a
/// crash cannot cause hammering.
pub(crate) async fn deliver_batch(ctx: Arc<Ctx>, prepared: Prepared) -> Option<Attempted> {
    let Prepared { batch, read } = prepared;
    let rows = batch.rows;
    let first = rows.first()?;
    let body_id = first.body_id;
    let (body, suppressed) = match read {
        Ok((body, suppressed)) => (Some(body), suppressed),
        Err(err) => {
            tracing::error!(target: "queue", error = %err, body_id, "reading body");
            (None, Vec::new())
        }
    };

    let mut results: Vec<Option<RowResult>> = vec![None; rows.len()];
    let mut dialed_maps: Vec<BTreeMap<String, Vec<String>>> = vec![BTreeMap::new(); rows.len()];
    let mut pending = Vec::new();
    let mut suppressed = suppressed.into_iter();
    for (i, slot) in results.iter_mut().enumerate() {
        if body.is_none() {
            *slot = Some(RowResult::failure(
                false,
                0,
                None,
                "message body missing from the store",
                &Hop::default(),
            ));
            continue;
        }
        match suppressed.next() {
            Some(Ok(Some(_))) => {
                let mut r = RowResult::failure(true, 0, None, SUPPRESSED_ERROR, &Hop::default());
                r.outcome = Outcome::Suppressed;
                *slot = Some(r);
            }
            Some(Ok(None)) => pending.push(i),
            Some(Err(err)) => {
                *slot = Some(RowResult::failure(
                    false,
                    0,
                    None,
                    &format!("checking the suppression list: {err}"),
                    &Hop::default(),
                ));
            }
            None => {
                *slot = Some(RowResult::failure(
                    false,
                    0,
                    None,
                    "checking the suppression list: no answer",
                    &Hop::default(),
                ));
            }
        }
    }

    // Rows going through the same transport with the same TLS requirement
    // go in one session.
    let mut groups: BTreeMap<(String, Option<bool>), Vec<usize>> = BTreeMap::new();
    for &i in &pending {
        if let Some(row) = rows.get(i) {
            let name = transport_name(&ctx, row);
            groups.entry((name, row.require_tls)).or_default().push(i);
        }
    }
    let body = body.unwrap_or_default();
    for ((name, _), members) in groups {
        let group: Vec<&QueuedMessage> = members.iter().filter_map(|&i| rows.get(i)).collect();
        let (group_results, dialed) = deliver_group(&ctx, &name, &group, &body).await;
        for (&i, r) in members.iter().zip(group_results) {
            if let (Some(slot), Some(map)) = (results.get_mut(i), dialed_maps.get_mut(i)) {
                *slot = Some(r);
                *map = dialed.clone();
            }
        }
    }

    let results: Vec<RowResult> = results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                RowResult::failure(false, 0, None, "not attempted", &Hop::default())
            })
        })
        .collect();
    Some(Attempted {
        rows,
        results,
        dialed_maps,
        body,
    })
}

/// Writes the DSNs of an attempted batch and records its outcome. Errors
/// are logged; rows whose outcome could not be recorded stay leased until
/// the lease runs out and are due again after the backoff their
/// registered attempt set.
pub(crate) async fn record_outcome(ctx: Arc<Ctx>, attempted: Attempted) {
    let Attempted {
        rows,
        results,
        dialed_maps,
        body,
    } = attempted;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    // The DSN goes into the mailbox before the outcome is recorded, so the
    // webhook queued in the same transaction as the outcome can name it
    // (DSNMsgID). A crash in between leaves the row leased with its attempt
    // registered: it is tried again later and may give a second DSN, never
    // a webhook without its DSN id.
    let mut dsn_ids = vec![0i64; rows.len()];
    for ((row, r), slot) in rows.iter().zip(&results).zip(dsn_ids.iter_mut()) {
        let expected = report::expected_completion(row, &r.outcome);
        if let Some(kind) = report::dsn_for(row, &expected, r.relayed) {
            *slot = write_dsn(&ctx, row, &r.result, kind, &body)
                .await
                .unwrap_or(0);
        }
    }
    let completions: Vec<Completion> = rows
        .iter()
        .zip(&results)
        .zip(dialed_maps)
        .zip(&dsn_ids)
        .map(|(((row, r), dialed_ips), &dsn_msg_id)| Completion {
            id: row.id,
            outcome: r.outcome.clone(),
            result: r.result.clone(),
            dialed_ips,
            dsn_msg_id,
        })
        .collect();
    // Recorded together with the outcomes of deliveries ending meanwhile.
    let completed = match ctx.completer.complete(&ctx.store, completions).await {
        Ok(c) => c,
        Err(err) => {
            tracing::error!(target: "queue", error = %err, ?ids, "recording outcome");
            return;
        }
    };
    for (((row, r), done), dsn_id) in rows.iter().zip(&results).zip(completed).zip(dsn_ids) {
        log_outcome(row, r, &done);
        if done == Completed::Gone && dsn_id != 0 {
            tracing::warn!(target: "queue", id = row.id, dsn_id, "row removed by an admin while its DSN was written");
        }
    }
}

fn log_outcome(row: &QueuedMessage, r: &RowResult, done: &Completed) {
    tracing::info!(
        target: "queue",
        id = row.id,
        attempts = row.attempts,
        recipient = %row.recipient,
        host = %r.result.mx_host,
        code = r.result.code,
        enhanced = %r.result.enhanced_code,
        error = %r.result.error,
        outcome = ?done,
        "delivery attempt done"
    );
}

/// The transport name for a row: its explicit one, else the routes, else
/// direct (""). Routes see the attempts made before this one.
fn transport_name(ctx: &Ctx, row: &QueuedMessage) -> String {
    if !row.transport.is_empty() {
        return row.transport.clone();
    }
    ctx.config
        .routes
        .select(
            &row.account,
            &row.sender_domain,
            &row.recipient_domain,
            row.attempts.saturating_sub(1),
        )
        .unwrap_or_default()
        .to_string()
}

fn enhanced(code: u16, subject: u16, detail: u16) -> EnhancedCode {
    let class = if code >= 500 {
        Class::Permanent
    } else {
        Class::Transient
    };
    EnhancedCode::new(class, subject, detail)
}

fn all(n: usize, r: RowResult) -> Vec<RowResult> {
    vec![r; n]
}

/// Delivers rows sharing a transport in one session where possible.
async fn deliver_group(
    ctx: &Ctx,
    name: &str,
    rows: &[&QueuedMessage],
    body: &[u8],
) -> (Vec<RowResult>, BTreeMap<String, Vec<String>>) {
    let n = rows.len();
    let mut dialed = dialed_from_rows(rows.iter().map(|r| &r.dialed_ips));
    let Some(first) = rows.first() else {
        return (Vec::new(), BTreeMap::new());
    };
    let transport = if name.is_empty() {
        Transport::Direct {
            disable_ipv4: false,
            disable_ipv6: false,
        }
    } else {
        match ctx.config.transports.get(name) {
            Some(t) => t.clone(),
            None => {
                let r = RowResult::failure(
                    false,
                    0,
                    None,
                    &format!("cannot find transport {name:?}"),
                    &Hop::default(),
                );
                return (all(n, r), BTreeMap::new());
            }
        }
    };
    if let Transport::Fail(f) = &transport {
        let e = enhanced(f.code, f.enhanced.0, f.enhanced.1);
        let mut r = RowResult::failure(f.code >= 500, f.code, Some(e), &f.message, &Hop::default());
        r.result.reply_lines = vec![format!("{e} {}", f.message)];
        return (all(n, r), BTreeMap::new());
    }
    let require_tls = first.require_tls == Some(true);
    if require_tls && !verifies_pkix(&transport) {
        // No MTA-STS or DANE yet, so direct delivery has no verified TLS.
        let r = RowResult::failure(
            true,
            554,
            Some(EnhancedCode::new(Class::Permanent, 7, 30)),
            "missing required tls verification mechanism",
            &Hop::default(),
        );
        return (all(n, r), BTreeMap::new());
    }

    let envelope = match build_envelope(rows, body, &transport) {
        Ok(e) => e,
        Err(err) => {
            let r = RowResult::failure(true, 0, None, &err, &Hop::default());
            return (all(n, r), BTreeMap::new());
        }
    };
    let plan = match make_plan(ctx, name, &transport, first).await {
        Ok(plan) => plan,
        Err(r) => return (all(n, *r), BTreeMap::new()),
    };
    let results = run_plan(ctx, &plan, &envelope, body, &mut dialed).await;
    (results, dialed_to_map(&dialed))
}

/// Whether the transport delivers only over PKIX-verified TLS.
fn verifies_pkix(t: &Transport) -> bool {
    match t {
        Transport::Submissions(_) => true,
        Transport::Smtp(s) | Transport::Submission(s) => {
            !s.no_starttls && !s.starttls_insecure_skip_verify
        }
        // A local simulation: nothing leaves the machine.
        Transport::Localserve { .. } => true,
        Transport::Direct { .. } | Transport::Socks(_) | Transport::Fail(_) => false,
    }
}

fn build_envelope(rows: &[&QueuedMessage], body: &[u8], t: &Transport) -> Result<Envelope, String> {
    let first = rows.first().ok_or("no rows")?;
    let reverse_path = first
        .sender_address()
        .map_err(|e| format!("bad sender address {:?}: {e}", first.sender))?;
    let mut recipients = Vec::with_capacity(rows.len());
    for row in rows {
        let address = row
            .recipient_address()
            .map_err(|e| format!("bad recipient address {:?}: {e}", row.recipient))?;
        recipients.push(Recipient {
            address,
            notify: Some(row.dsn.notify),
            orcpt: Some(row.dsn.orcpt.clone()),
        });
    }
    Ok(Envelope {
        reverse_path,
        recipients,
        ret: first.dsn.ret,
        envid: (!first.dsn.envid.is_empty()).then(|| first.dsn.envid.clone()),
        requires_smtputf8: first.smtputf8,
        requires_8bitmime: first.has_8bit,
        require_tls: first.require_tls == Some(true) && !matches!(t, Transport::Localserve { .. }),
        size: Some(body.len() as u64),
    })
}

fn base_config(ctx: &Ctx, ehlo: &str) -> ClientConfig {
    ClientConfig {
        ehlo_name: ehlo.into(),
        timeouts: ctx.config.timeouts,
        ..ClientConfig::default()
    }
}

fn auth_config(s: &SmtpTransport) -> Option<AuthConfig> {
    let auth = s.auth.as_ref()?;
    let mut config = AuthConfig::new(&auth.username, &auth.password);
    config.options.allowed = if auth.mechanisms.is_empty() {
        vec![
            sasl::Mechanism::ScramSha256Plus,
            sasl::Mechanism::ScramSha256,
            sasl::Mechanism::ScramSha1Plus,
            sasl::Mechanism::ScramSha1,
            sasl::Mechanism::CramMd5,
        ]
    } else {
        auth.mechanisms
            .iter()
            .filter_map(|m| m.parse::<sasl::Mechanism>().ok())
            .collect()
    };
    // Listing PLAIN for a transport is the explicit choice to send it, also
    // to a server without TLS (NoSTARTTLS).
    config.options.plaintext_without_tls = s.no_starttls
        && config
            .options
            .allowed
            .iter()
            .any(|m| m.sends_plaintext_password());
    Some(config)
}

async fn make_plan(
    ctx: &Ctx,
    name: &str,
    transport: &Transport,
    row: &QueuedMessage,
) -> Result<Plan, Box<RowResult>> {
    let mut plan = Plan {
        transport: name.to_string(),
        hosts: Vec::new(),
        port: ctx.config.direct_port,
        by_name: false,
        dialer: ctx.dialer.clone(),
        config: base_config(ctx, &ctx.config.hostname),
        direct: false,
        families: Families::default(),
        recipient_domain: row.recipient_domain.clone(),
        first_attempt: row.attempts <= 1,
    };
    match transport {
        Transport::Direct {
            disable_ipv4,
            disable_ipv6,
        } => {
            plan.direct = true;
            plan.families = Families {
                no_v4: *disable_ipv4,
                no_v6: *disable_ipv6,
            };
            plan.config.tls = TlsMode::Opportunistic {
                plaintext_fallback_allowed: true,
            };
            plan.hosts = destinations(ctx, row).await?;
        }
        Transport::Socks(s) => {
            plan.direct = true;
            plan.by_name = true;
            plan.dialer = (ctx.socks)(s);
            plan.config.ehlo_name = if s.remote_hostname.is_empty() {
                ctx.config.hostname.clone()
            } else {
                s.remote_hostname.clone()
            };
            plan.config.tls = TlsMode::Opportunistic {
                plaintext_fallback_allowed: true,
            };
            plan.hosts = destinations(ctx, row).await?;
        }
        Transport::Smtp(s) | Transport::Submission(s) | Transport::Submissions(s) => {
            let (default_port, immediate) = match transport {
                Transport::Submissions(_) => (465, true),
                Transport::Submission(_) => (587, false),
                _ => (25, false),
            };
            let host = Host::parse(&s.host).map_err(|e| {
                Box::new(RowResult::failure(
                    false,
                    0,
                    None,
                    &format!("transport {name:?} has a bad host {:?}: {e}", s.host),
                    &Hop::default(),
                ))
            })?;
            plan.port = if s.port == 0 { default_port } else { s.port };
            plan.config.server_name = Some(s.host.clone());
            plan.config.auth = auth_config(s);
            (plan.config.tls, plan.config.verification) = if immediate {
                (TlsMode::Immediate, ctx.config.pkix.clone())
            } else if s.no_starttls {
                (TlsMode::Skip, Verification::AnyCertificate)
            } else if s.starttls_insecure_skip_verify {
                (TlsMode::RequiredStartTls, Verification::AnyCertificate)
            } else {
                (TlsMode::RequiredStartTls, ctx.config.pkix.clone())
            };
            plan.hosts = vec![host];
        }
        Transport::Localserve { address } => {
            plan.port = address.port();
            plan.config.tls = TlsMode::Skip;
            plan.hosts = vec![Host::Ip(address.ip())];
        }
        Transport::Fail(_) => {}
    }
    Ok(plan)
}

/// The MX hosts of the row's recipient domain (or its IP literal).
async fn destinations(ctx: &Ctx, row: &QueuedMessage) -> Result<Vec<Host>, Box<RowResult>> {
    let address = row.recipient_address().map_err(|e| {
        Box::new(RowResult::failure(
            true,
            0,
            None,
            &format!("bad recipient address {:?}: {e}", row.recipient),
            &Hop::default(),
        ))
    })?;
    match address.host() {
        Host::Ip(ip) => Ok(vec![Host::Ip(*ip)]),
        Host::Domain(domain) => match gather_destinations(ctx.resolver.as_ref(), domain).await {
            Ok(d) => Ok(d.hosts),
            Err(err) => {
                let err = smtpclient::Error::from(err);
                Err(Box::new(RowResult::from_error(&err, &Hop::default())))
            }
        },
    }
}

/// Writes a DSN into the sender account's Inbox, or the postmaster's;
/// returns its mailbox id.
async fn write_dsn(
    ctx: &Ctx,
    row: &QueuedMessage,
    result: &AttemptResult,
    kind: DsnKind,
    body: &[u8],
) -> Option<i64> {
    let now = ctx.clock.now();
    let raw = match report::compose(&DsnInput {
        hostname: &ctx.config.hostname,
        row,
        result,
        kind,
        body,
        now,
    }) {
        Ok(raw) => raw,
        Err(err) => {
            tracing::error!(target: "queue", id = row.id, error = %err, "composing dsn");
            return None;
        }
    };
    let store = ctx.mailbox.clone();
    let postmaster = (
        ctx.config.postmaster_account.clone(),
        ctx.config.postmaster_mailbox.clone(),
    );
    let row_copy = row.clone();
    let id = row.id;
    let done = tokio::task::spawn_blocking(move || {
        report::store_dsn_id(store.as_ref(), &postmaster, &row_copy, raw, now)
    })
    .await;
    match done {
        Ok(Ok(msg_id)) => {
            tracing::debug!(target: "queue", id, kind = ?kind, msg_id, "dsn written");
            Some(msg_id)
        }
        Ok(Err(errors)) => {
            let (first, second) = *errors;
            tracing::error!(target: "queue", id, error = %first, fallback_error = %second, "writing dsn");
            None
        }
        Err(err) => {
            tracing::error!(target: "queue", id, error = %err, "writing dsn");
            None
        }
    }
}
