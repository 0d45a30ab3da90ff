//! Webhooks in the binary: the config sections that become endpoints, the
//! poster task of `serve` and `localserve`, and `postel hook ...`.
//!
//! ```toml
//! [accounts.alice]
//! addresses = ["alice@example.org"]
//! webhook_retention = "7d"
//!
//! [[accounts.alice.webhooks]]
//! id = "app"                      # default "webhook<N>"
//! url = "https://app.example/hooks"
//! authorization = "Bearer s3cret" # optional, sent verbatim
//! events = ["delivered", "failed", "incoming"]   # empty: all
//! mode = "final"                  # "all" (default) or "final" (no delayed)
//! secret = "whsec_..."            # or secrets = [new, old] during a rotation
//! concurrency = 1
//!
//! # The reference's forms, each one endpoint ("outgoing", "incoming"):
//! [accounts.alice.outgoing_webhook]
//! url = "https://app.example/out"
//! events = ["failed"]
//! [accounts.alice.incoming_webhook]
//! url = "https://app.example/in"
//! ```

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use queue::webhook::{
    Endpoint, EventKind, HookRecord, Poster, PosterOptions, WebhookSettings, generate_secret,
    validate_secret, webhook_test,
};
use queue::{Retention, SqliteStore, Store};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use webapi::webhook::OutgoingEvent;

use crate::config::values::Span;
use crate::config::{Config, KeyPath};

/// One `[[accounts.NAME.webhooks]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Endpoint id, unique in the account (default `webhook<N>`, from 1).
    pub id: Option<String>,
    /// http or https URL.
    pub url: String,
    /// Sent verbatim as the Authorization header.
    pub authorization: Option<String>,
    /// Event names (outgoing events and `incoming`); empty = all.
    #[serde(default)]
    pub events: Vec<String>,
    /// "all" (default) or "final" (everything except delayed).
    pub mode: Option<String>,
    /// The signing secret, `whsec_` + base64 of at least 24 bytes.
    pub secret: Option<String>,
    /// Several secrets, the current first (a rotation signs with each).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Requests in flight at most (default 1).
    pub concurrency: Option<usize>,
}

/// The reference's `OutgoingWebhook`: endpoint "outgoing".
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutgoingWebhookConfig {
    /// http or https URL.
    pub url: String,
    /// Sent verbatim as the Authorization header.
    pub authorization: Option<String>,
    /// Outgoing event names; empty = all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Signing secret.
    pub secret: Option<String>,
}

/// The reference's `IncomingWebhook`: endpoint "incoming".
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingWebhookConfig {
    /// http or https URL.
    pub url: String,
    /// Sent verbatim as the Authorization header.
    pub authorization: Option<String>,
    /// Signing secret.
    pub secret: Option<String>,
}

/// The top-level `[webhooks]` section.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Requests in flight over all endpoints (default 10).
    pub max_in_flight: Option<usize>,
}

/// The default of [`WebhooksConfig::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 10;

/// The default time retired hooks are kept.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Whether `url` is an absolute http or https URL with a host.
pub(crate) fn is_http_url(url: &str) -> bool {
    let rest = match url.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            rest
        }
        _ => return false,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    !host.is_empty()
        && !host.starts_with(':')
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn check_url(url: &str, path: &KeyPath, out: &mut Vec<(KeyPath, String)>) {
    if !is_http_url(url) {
        out.push((
            path.key("url"),
            format!("invalid value {url:?}: expected an http or https URL"),
        ));
    }
}

fn check_secret(secret: &str, path: KeyPath, out: &mut Vec<(KeyPath, String)>) {
    if let Err(e) = validate_secret(secret) {
        out.push((
            path,
            format!("{e} (generate one with `postel hook secret`)"),
        ));
    }
}

fn check_events(
    events: &[String],
    incoming_allowed: bool,
    path: &KeyPath,
    out: &mut Vec<(KeyPath, String)>,
) {
    for e in events {
        match EventKind::parse(e) {
            Some(EventKind::Incoming) if !incoming_allowed => out.push((
                path.key("events"),
                format!("{e:?} is not an outgoing event"),
            )),
            Some(_) => {}
            None => out.push((
                path.key("events"),
                format!(
                    "unknown event {e:?}: expected one of delivered, suppressed, delayed, failed, relayed, expanded, canceled, unrecognized{}",
                    if incoming_allowed { ", incoming" } else { "" }
                ),
            )),
        }
    }
}

/// The webhook problems of a config (part of its validation).
pub fn validate(c: &Config) -> Vec<(KeyPath, String)> {
    let mut out = Vec::new();
    if c.webhooks.max_in_flight == Some(0) {
        out.push((
            KeyPath::keys(&["webhooks", "max_in_flight"]),
            "must be at least 1".into(),
        ));
    }
    for (name, a) in &c.accounts {
        let base = KeyPath::keys(&["accounts", name]);
        let mut ids = BTreeSet::new();
        for (i, w) in a.webhooks.iter().enumerate() {
            let path = base.key("webhooks").index(i);
            check_url(&w.url, &path, &mut out);
            check_events(&w.events, true, &path, &mut out);
            if let Some(m) = &w.mode
                && m != "all"
                && m != "final"
            {
                out.push((
                    path.key("mode"),
                    format!("invalid value {m:?}: expected \"all\" or \"final\""),
                ));
            }
            if let Some(s) = &w.secret {
                check_secret(s, path.key("secret"), &mut out);
            }
            for (j, s) in w.secrets.iter().enumerate() {
                check_secret(s, path.key("secrets").index(j), &mut out);
            }
            if w.secret.is_some() && !w.secrets.is_empty() {
                out.push((
                    path.key("secrets"),
                    "give secret or secrets, not both".into(),
                ));
            }
            if w.concurrency == Some(0) {
                out.push((path.key("concurrency"), "must be at least 1".into()));
            }
            let id = endpoint_id(w, i);
            if id.is_empty() || !ids.insert(id.clone()) {
                out.push((
                    path.key("id"),
                    format!("endpoint id {id:?} is empty or used twice"),
                ));
            }
        }
        if let Some(w) = &a.outgoing_webhook {
            let path = base.key("outgoing_webhook");
            check_url(&w.url, &path, &mut out);
            check_events(&w.events, false, &path, &mut out);
            if let Some(s) = &w.secret {
                check_secret(s, path.key("secret"), &mut out);
            }
            if !ids.insert("outgoing".into()) {
                out.push((path, "endpoint id \"outgoing\" is used twice".into()));
            }
        }
        if let Some(w) = &a.incoming_webhook {
            let path = base.key("incoming_webhook");
            check_url(&w.url, &path, &mut out);
            if let Some(s) = &w.secret {
                check_secret(s, path.key("secret"), &mut out);
            }
            if !ids.insert("incoming".into()) {
                out.push((path, "endpoint id \"incoming\" is used twice".into()));
            }
        }
    }
    out
}

fn endpoint_id(w: &WebhookConfig, index: usize) -> String {
    w.id.clone()
        .unwrap_or_else(|| format!("webhook{}", index + 1))
}

fn kinds(events: &[String]) -> BTreeSet<EventKind> {
    events.iter().filter_map(|e| EventKind::parse(e)).collect()
}

/// The endpoints and retention a (validated) config asks for.
pub fn settings(c: &Config) -> WebhookSettings {
    let mut s = WebhookSettings {
        retention: Retention {
            default: DEFAULT_RETENTION,
            accounts: Default::default(),
        },
        ..WebhookSettings::default()
    };
    for (name, a) in &c.accounts {
        if let Some(Span(keep)) = a.webhook_retention {
            s.retention.accounts.insert(name.clone(), keep);
        }
        let mut endpoints = Vec::new();
        for (i, w) in a.webhooks.iter().enumerate() {
            let mut e = Endpoint::new(&endpoint_id(w, i), &w.url);
            e.authorization = w.authorization.clone();
            e.events = kinds(&w.events);
            e.final_only = w.mode.as_deref() == Some("final");
            e.secrets = w.secret.iter().chain(&w.secrets).cloned().collect();
            e.concurrency = w.concurrency.unwrap_or(1);
            endpoints.push(e);
        }
        if let Some(w) = &a.outgoing_webhook {
            let mut e = Endpoint::new("outgoing", &w.url);
            e.authorization = w.authorization.clone();
            e.events = if w.events.is_empty() {
                OutgoingEvent::ALL
                    .into_iter()
                    .map(EventKind::Outgoing)
                    .collect()
            } else {
                kinds(&w.events)
            };
            e.secrets = w.secret.iter().cloned().collect();
            endpoints.push(e);
        }
        if let Some(w) = &a.incoming_webhook {
            let mut e = Endpoint::new("incoming", &w.url);
            e.authorization = w.authorization.clone();
            e.events = [EventKind::Incoming].into();
            e.secrets = w.secret.iter().cloned().collect();
            endpoints.push(e);
        }
        for e in &endpoints {
            if e.secrets.is_empty() {
                tracing::warn!(target: "postel", account = %name, endpoint = %e.id, "webhook endpoint without a secret: requests are not signed");
            }
        }
        if !endpoints.is_empty() {
            s.accounts.insert(name.clone(), endpoints);
        }
    }
    s
}

/// The localserve endpoint for `--webhook-url`: every event including
/// incoming mail, signed with the secret kept in `<dir>/webhook-secret`
/// (created on first use). Returns the endpoint; its secret is printed.
pub fn localserve_endpoint(dir: &std::path::Path, url: &str) -> anyhow::Result<Endpoint> {
    let mut problems = Vec::new();
    check_url(url, &KeyPath::keys(&["webhook_url"]), &mut problems);
    if !problems.is_empty() {
        bail!("--webhook-url {url:?} is not an http or https URL");
    }
    let path = dir.join("webhook-secret");
    let secret = match std::fs::read_to_string(&path) {
        Ok(s) if validate_secret(s.trim()).is_ok() => s.trim().to_string(),
        _ => {
            let s = generate_secret();
            std::fs::write(&path, format!("{s}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
            s
        }
    };
    let mut e = Endpoint::new("localserve", url);
    e.secrets = vec![secret];
    Ok(e)
}

/// Starts the poster of `store`'s hooks until `shutdown` turns true.
pub fn spawn(
    store: Arc<SqliteStore>,
    max_in_flight: usize,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let options = PosterOptions {
        max_in_flight: max_in_flight.max(1),
        ..PosterOptions::default()
    };
    let poster = Poster::new(store, Arc::new(queue::SystemClock), options)
        .context("starting the webhook poster")?;
    Ok(tokio::spawn(poster.run(async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    })))
}

fn time(t: std::time::SystemTime) -> String {
    smtpserver::format_rfc3339(t)
}

/// A hook as the admin commands show it in JSON.
pub fn hook_json(h: &HookRecord) -> Value {
    json!({
        "id": h.id,
        "account": h.account,
        "endpoint": h.endpoint_id,
        "webhook_id": h.webhook_id,
        "queue_msg_id": h.queue_msg_id,
        "sequence": h.sequence,
        "event": h.event,
        "url": h.url,
        "authorization": h.authorization,
        "submitted": time(h.submitted),
        "attempts": h.attempts,
        "next_attempt": h.next_attempt.map(time),
        "success": h.success,
        "superseded_by": h.superseded_by,
        "replay_of": h.replay_of,
        "last_activity": h.last_activity.map(time),
        "payload": serde_json::from_str::<Value>(&h.payload).unwrap_or(Value::String(h.payload.clone())),
        "results": h.results.iter().map(|r| json!({
            "start": time(r.start()),
            "duration_ms": r.duration_ms,
            "url": r.url,
            "success": r.success,
            "code": r.code,
            "error": r.error,
            "response": r.response,
        })).collect::<Vec<_>>(),
    })
}

fn state(h: &HookRecord) -> String {
    match (h.success, h.superseded_by) {
        (None, _) => match h.next_attempt {
            Some(t) => format!("pending, next {}", time(t)),
            None => "pending".into(),
        },
        (Some(true), _) => "posted".into(),
        (Some(false), 0) => "gave up".into(),
        (Some(false), by) => format!("superseded by {by}"),
    }
}

/// `postel hook list`.
pub fn list(
    store: &dyn Store,
    account: &str,
    retired: bool,
    after: i64,
    limit: usize,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let hooks = store.hooks_list(account, retired, after, limit)?;
    if as_json {
        let v: Vec<Value> = hooks.iter().map(hook_json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    if hooks.is_empty() {
        writeln!(out, "no hooks")?;
    }
    for h in &hooks {
        let last = h.results.last().map(|r| {
            if r.error.is_empty() {
                format!(" last: {}", r.code)
            } else {
                format!(" last: {}", r.error)
            }
        });
        writeln!(
            out,
            "{} {} {}/{} msg {} {} attempts {} {}{}",
            h.id,
            h.event,
            h.account,
            h.endpoint_id,
            h.queue_msg_id,
            h.url,
            h.attempts,
            state(h),
            last.unwrap_or_default()
        )?;
    }
    Ok(())
}

/// `postel hook retry`.
pub fn retry(store: &dyn Store, id: i64, out: &mut dyn Write) -> anyhow::Result<()> {
    store.hook_retry("", id)?;
    writeln!(out, "hook {id} is due now")?;
    Ok(())
}

/// `postel hook replay`.
pub fn replay(store: &dyn Store, id: i64, out: &mut dyn Write) -> anyhow::Result<()> {
    let new_id = store.hook_replay("", id)?;
    writeln!(out, "hook {id} replayed as hook {new_id}")?;
    Ok(())
}

/// `postel hook cancel`.
pub fn cancel(store: &dyn Store, id: i64, out: &mut dyn Write) -> anyhow::Result<()> {
    store.hook_cancel("", id)?;
    writeln!(out, "hook {id} canceled")?;
    Ok(())
}

/// `postel hook test`: posts a sample signed event to an endpoint of the
/// config now.
pub async fn test(
    settings: &WebhookSettings,
    account: &str,
    endpoint: &str,
    event: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let endpoints = settings
        .accounts
        .get(account)
        .with_context(|| format!("account {account:?} has no webhook endpoints"))?;
    let e = if endpoint.is_empty() {
        endpoints.first()
    } else {
        endpoints.iter().find(|e| e.id == endpoint)
    }
    .with_context(|| format!("account {account:?} has no webhook endpoint {endpoint:?}"))?;
    let kind = EventKind::parse(event).with_context(|| format!("unknown event {event:?}"))?;
    let r = webhook_test(e, kind).await?;
    writeln!(
        out,
        "{} {}: status {}{}{}",
        e.id,
        e.url,
        r.status_code,
        if r.error.is_empty() {
            String::new()
        } else {
            format!(", {}", r.error)
        },
        if r.response.is_empty() {
            String::new()
        } else {
            format!(", response {:?}", r.response)
        }
    )?;
    if r.status_code / 100 != 2 {
        bail!("the endpoint did not answer 2xx");
    }
    Ok(())
}

/// `postel hook secret`: a new signing secret.
pub fn secret(out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "{}", generate_secret())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "hostname = \"mail.example.org\"\ndata_dir = \"/tmp/postel\"\n\
        [domains.\"example.org\"]\n[accounts.alice]\naddresses = [\"alice@example.org\"]\n";
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn err(source: &str) -> String {
        match Config::parse("postel.toml", source) {
            Ok(_) => panic!("config was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn endpoints_and_reference_forms_become_settings() {
        let c = Config::parse(
            "postel.toml",
            &format!(
                "{HEAD}webhook_retention = \"1d\"\n\
                 [[accounts.alice.webhooks]]\nurl = \"https://app.example/h\"\nauthorization = \"Bearer x\"\n\
                 events = [\"failed\", \"incoming\"]\nmode = \"final\"\nsecrets = [\"{SECRET}\", \"{SECRET}\"]\nconcurrency = 4\n\
                 [[accounts.alice.webhooks]]\nid = \"second\"\nurl = \"http://127.0.0.1:9/x\"\n\
                 [accounts.alice.outgoing_webhook]\nurl = \"https://app.example/out\"\n\
                 [accounts.alice.incoming_webhook]\nurl = \"https://app.example/in\"\nsecret = \"{SECRET}\"\n\
                 [webhooks]\nmax_in_flight = 50\n"
            ),
        )
        .unwrap();
        assert_eq!(c.webhooks.max_in_flight, Some(50));
        let s = settings(&c);
        assert_eq!(
            s.retention.accounts.get("alice"),
            Some(&Duration::from_secs(86400))
        );
        assert_eq!(s.retention.default, DEFAULT_RETENTION);
        let eps = &s.accounts["alice"];
        let ids: Vec<&str> = eps.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, vec!["webhook1", "second", "outgoing", "incoming"]);
        let first = &eps[0];
        assert_eq!(first.authorization.as_deref(), Some("Bearer x"));
        assert_eq!(
            first.events,
            [
                EventKind::Outgoing(OutgoingEvent::Failed),
                EventKind::Incoming
            ]
            .into()
        );
        assert!(first.final_only);
        assert_eq!(first.secrets, vec![SECRET.to_string(), SECRET.to_string()]);
        assert_eq!(first.concurrency, 4);
        assert!(eps[1].events.is_empty() && eps[1].secrets.is_empty());
        assert_eq!(eps[1].concurrency, 1);
        assert!(eps[2].wants(EventKind::Outgoing(OutgoingEvent::Delayed)));
        assert!(!eps[2].wants(EventKind::Incoming));
        assert!(eps[3].wants(EventKind::Incoming));
        assert!(!eps[3].wants(EventKind::Outgoing(OutgoingEvent::Delivered)));
    }

    #[test]
    fn bad_webhook_values_name_file_line_and_key() {
        assert_eq!(
            err(&format!(
                "{HEAD}[[accounts.alice.webhooks]]\nurl = \"ftp://x\"\n"
            )),
            "postel.toml:7: accounts.alice.webhooks[0].url: invalid value \"ftp://x\": expected an http or https URL"
        );
        assert_eq!(
            err(&format!(
                "{HEAD}[[accounts.alice.webhooks]]\nurl = \"https://x\"\nevents = [\"bounced\"]\n"
            )),
            "postel.toml:8: accounts.alice.webhooks[0].events: unknown event \"bounced\": expected one of delivered, suppressed, delayed, failed, relayed, expanded, canceled, unrecognized, incoming"
        );
        assert_eq!(
            err(&format!(
                "{HEAD}[[accounts.alice.webhooks]]\nurl = \"https://x\"\nsecret = \"whsec_c2hvcnQ=\"\n"
            )),
            "postel.toml:8: accounts.alice.webhooks[0].secret: webhook secret has 5 bytes of key, at least 24 are needed (generate one with `postel hook secret`)"
        );
        assert_eq!(
            err(&format!(
                "{HEAD}[[accounts.alice.webhooks]]\nurl = \"https://x\"\nmode = \"some\"\n"
            )),
            "postel.toml:8: accounts.alice.webhooks[0].mode: invalid value \"some\": expected \"all\" or \"final\""
        );
        assert_eq!(
            err(&format!(
                "{HEAD}[accounts.alice.outgoing_webhook]\nurl = \"https://x\"\nevents = [\"incoming\"]\n"
            )),
            "postel.toml:8: accounts.alice.outgoing_webhook.events: \"incoming\" is not an outgoing event"
        );
    }

    #[test]
    fn localserve_secret_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = localserve_endpoint(dir.path(), "http://127.0.0.1:8000/hook").unwrap();
        let b = localserve_endpoint(dir.path(), "http://127.0.0.1:8000/hook").unwrap();
        assert_eq!(a.secrets, b.secrets);
        assert!(validate_secret(&a.secrets[0]).is_ok());
        assert!(a.events.is_empty());
        assert!(localserve_endpoint(dir.path(), "127.0.0.1:8000").is_err());
    }

    #[test]
    fn hook_commands_list_cancel_and_replay() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("q.db"), Default::default()).unwrap();
        let mut settings = WebhookSettings::default();
        settings.accounts.insert(
            "alice".into(),
            vec![Endpoint::new("app", "http://127.0.0.1:9/h")],
        );
        store.set_webhooks(settings);
        let incoming = webapi::webhook::Incoming::default();
        let id = store.queue_incoming_hook("alice", &incoming).unwrap()[0];
        let run = |f: &dyn Fn(&mut Vec<u8>) -> anyhow::Result<()>| {
            let mut out = Vec::new();
            f(&mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let pending = run(&|o| list(&store, "", false, 0, 0, false, o));
        assert!(
            pending.starts_with(&format!(
                "{id} incoming alice/app msg 0 http://127.0.0.1:9/h attempts 0 pending, next "
            )),
            "{pending}"
        );
        assert_eq!(
            run(&|o| cancel(&store, id, o)),
            format!("hook {id} canceled\n")
        );
        let retired = run(&|o| list(&store, "alice", true, 0, 0, false, o));
        assert_eq!(
            retired,
            format!(
                "{id} incoming alice/app msg 0 http://127.0.0.1:9/h attempts 0 gave up last: canceled by admin\n"
            )
        );
        assert_eq!(
            run(&|o| replay(&store, id, o)),
            format!("hook {id} replayed as hook {}\n", id + 1)
        );
        let json: Value =
            serde_json::from_str(&run(&|o| list(&store, "", false, 0, 0, true, o))).unwrap();
        assert_eq!(json[0]["replay_of"], id);
        assert_eq!(json[0]["event"], "incoming");
        assert_eq!(
            run(&|o| list(&store, "bob", false, 0, 0, false, o)),
            "no hooks\n"
        );
    }

    #[test]
    fn url_check_wants_a_scheme_and_a_host() {
        assert!(is_http_url("http://127.0.0.1:8080/x"));
        assert!(is_http_url("HTTPS://user@app.example"));
        assert!(!is_http_url("https:///path"));
        assert!(!is_http_url("https://:80/"));
        assert!(!is_http_url("https://a b/"));
    }
}
