//! The AUTH command (RFC 4954) over the sasl crate's server; each SASL step
//! runs on a blocking thread because password checks run PBKDF2.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sasl::{Mechanism, SaslError, ServerStep};
use smtp::Reply;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{debug, trace};

use crate::error::ServeError;
use crate::handler::{Handler, SharedCredentials};
use crate::io::LineRead;
use crate::replies::{bad_sequence, code, reply};
use crate::session::{Conversation, Flow};

const V: &str = "AUTH";

fn mechanism(name: &str) -> Option<Mechanism> {
    Mechanism::ALL
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
}

fn decode(text: &str) -> Option<Vec<u8>> {
    if text == "=" {
        return Some(Vec::new());
    }
    BASE64.decode(text).ok()
}

/// Runs one SASL step off the async threads.
async fn blocking(
    server: sasl::Server,
    store: SharedCredentials,
    response: Option<Vec<u8>>,
    first: bool,
) -> Result<(sasl::Server, ServerStep), ServeError> {
    let task = tokio::task::spawn_blocking(move || {
        let mut server = server;
        let step = if first {
            server.start(response.as_deref(), &*store)
        } else {
            server.step(response.as_deref().unwrap_or(&[]), &*store)
        };
        (server, step)
    });
    task.await
        .map_err(|e| ServeError::Io(std::io::Error::other(format!("sasl task failed: {e}"))))
}

pub(crate) async fn run<H, S>(
    c: &mut Conversation<'_, H, S>,
    name: &str,
    initial: Option<String>,
) -> Result<Flow, ServeError>
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (in_transaction, done, session_info) = c.sasl_state();
    if c.session.hello.is_none() {
        return Ok(c.count_error(V, &bad_sequence("send EHLO first")));
    }
    if done {
        return Ok(c.count_error(V, &bad_sequence("already authenticated")));
    }
    if in_transaction {
        return Ok(c.count_error(V, &bad_sequence("AUTH not allowed during a transaction")));
    }
    let Some(mech) = mechanism(name) else {
        let r = reply(504, code(5, 5, 4), "unrecognized authentication mechanism");
        return Ok(c.count_error(V, &r));
    };
    let server = match sasl::Server::new(mech, &c.server.config.sasl, &session_info) {
        Ok(server) => server,
        Err(SaslError::PlaintextWithoutTls(_)) => {
            let r = reply(
                538,
                code(5, 7, 11),
                "encryption required for requested authentication mechanism",
            );
            return Ok(c.count_error(V, &r));
        }
        Err(_) => {
            let r = reply(504, code(5, 5, 4), "authentication mechanism not available");
            return Ok(c.count_error(V, &r));
        }
    };
    let store = match c.server.handler.credentials(&c.session).await {
        Ok(store) => store,
        Err(r) => {
            c.send(V, &r);
            return Ok(Flow::Continue);
        }
    };
    let initial = match initial.as_deref().map(decode) {
        None => None,
        Some(Some(bytes)) => Some(bytes),
        Some(None) => {
            let r = reply(501, code(5, 5, 2), "initial response is not base64");
            return Ok(c.count_error(V, &r));
        }
    };
    let (mut server, mut step) = blocking(server, store.clone(), initial, true).await?;
    loop {
        match step {
            ServerStep::Challenge(challenge) => {
                let line = format!("334 {}\r\n", BASE64.encode(&challenge));
                trace!(target: "smtpserver", session = %c.session.id, "S: 334 ***");
                c.io.queue(line.as_bytes());
                let timeout = c.server.config.timeouts.command;
                let response = match c
                    .io
                    .read_line(c.server.config.max_line_len, timeout)
                    .await?
                {
                    LineRead::Eof => {
                        return Err(ServeError::Closed {
                            state: "in an AUTH exchange",
                        });
                    }
                    LineRead::TooLong => {
                        let r = reply(500, code(5, 5, 6), "authentication line too long");
                        return Ok(c.count_error(V, &r));
                    }
                    LineRead::Line(line) => line,
                };
                trace!(target: "smtpserver", session = %c.session.id, "C: ***");
                if response == b"*" {
                    let r = reply(501, code(5, 0, 0), "authentication aborted");
                    c.server.metrics.auth(mech.name(), false);
                    return Ok(c.count_error(V, &r));
                }
                let Some(bytes) = std::str::from_utf8(&response).ok().and_then(decode) else {
                    let r = reply(501, code(5, 5, 2), "response is not base64");
                    return Ok(c.count_error(V, &r));
                };
                (server, step) = blocking(server, store.clone(), Some(bytes), false).await?;
            }
            ServerStep::Success {
                authcid, authzid, ..
            } => {
                let mapped = c
                    .server
                    .handler
                    .authenticated(&c.session, &authcid, authzid.as_deref())
                    .await;
                return Ok(match mapped {
                    Ok(identity) => {
                        debug!(target: "smtpserver", session = %c.session.id, mechanism = mech.name(),
                            account = %identity.account, "authenticated");
                        c.server.metrics.auth(mech.name(), true);
                        c.authenticated(identity);
                        c.send(V, &reply(235, code(2, 7, 0), "authentication successful"));
                        Flow::Continue
                    }
                    Err(r) => failed(c, mech, Some(&authcid), r).await,
                });
            }
            ServerStep::Failure(e) if e.is_authentication_failure() => {
                let user = match &e {
                    SaslError::AuthenticationFailed(user) => Some(user.clone()),
                    _ => None,
                };
                let r = reply(535, code(5, 7, 8), "authentication credentials invalid");
                return Ok(failed(c, mech, user.as_deref(), r).await);
            }
            ServerStep::Failure(e) => {
                debug!(target: "smtpserver", session = %c.session.id, error = %e, "malformed AUTH exchange");
                c.server.metrics.auth(mech.name(), false);
                let r = reply(501, code(5, 5, 2), "malformed authentication exchange");
                return Ok(c.count_error(V, &r));
            }
        }
    }
}

async fn failed<H, S>(
    c: &mut Conversation<'_, H, S>,
    mech: Mechanism,
    user: Option<&str>,
    r: Reply,
) -> Flow
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    c.session.auth_failures += 1;
    debug!(target: "smtpserver", session = %c.session.id, mechanism = mech.name(),
        failures = c.session.auth_failures, "authentication failed");
    c.server.metrics.auth(mech.name(), false);
    c.server
        .handler
        .auth_failed(&c.session, mech.name(), user)
        .await;
    c.send(V, &r);
    if c.session.auth_failures >= c.server.config.max_auth_failures {
        let bye = reply(421, code(4, 7, 0), "too many authentication failures");
        c.send(V, &bye);
        return Flow::Drop("too many authentication failures");
    }
    Flow::Continue
}
