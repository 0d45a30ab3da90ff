//! SMTP AUTH (RFC 4954) driving a [`sasl::Client`].
//!
//! The initial response goes on the AUTH line ("=" when empty), challenges
//! come as base64 in 334 replies, and an exchange the client cannot continue
//! is aborted with "*" (the server should answer 501). Payloads are never
//! logged: the protocol trace shows "***".

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sasl::{Mechanism, SessionInfo};
use smtp::{Command, Reply};

use crate::error::Error;
use crate::session::Client;

/// Authenticates as configured; returns the mechanism used (`None` when no
/// AUTH is configured).
pub(crate) async fn authenticate(client: &mut Client) -> Result<Option<Mechanism>, Error> {
    let Some(auth) = client.config.auth.clone() else {
        return Ok(None);
    };
    let session = SessionInfo {
        tls: client.tls().is_some(),
        channel_bindings: client.bindings.clone(),
    };
    let offered = client.extensions.auth.clone();
    let mut sasl = match sasl::Client::start(&offered, auth.credentials, &auth.options, &session) {
        Ok(Some(sasl)) => sasl,
        Ok(None) => {
            client.botched = true;
            return Err(Error::Auth {
                mechanism: "none".to_string(),
                reason: format!(
                    "no usable mechanism: server offers {offered:?}, allowed {:?}, tls {}",
                    auth.options
                        .allowed
                        .iter()
                        .map(|m| m.name())
                        .collect::<Vec<_>>(),
                    session.tls
                ),
            });
        }
        Err(err) => {
            client.botched = true;
            return Err(Error::Auth {
                mechanism: "none".to_string(),
                reason: err.to_string(),
            });
        }
    };
    let mechanism = sasl.mechanism();
    let auth_error = |reason: String| Error::Auth {
        mechanism: mechanism.name().to_string(),
        reason,
    };
    let timeout = client.config.timeouts.command;

    let (line, shown) = match sasl.initial_response() {
        Some(ir) if ir.is_empty() => (format!("AUTH {mechanism} ="), format!("AUTH {mechanism} =")),
        Some(ir) => (
            format!("AUTH {mechanism} {}", BASE64.encode(ir)),
            format!("AUTH {mechanism} ***"),
        ),
        None => (format!("AUTH {mechanism}"), format!("AUTH {mechanism}")),
    };
    let mut reply = client
        .command_as(&line, &shown, Command::Auth, timeout)
        .await?;
    loop {
        match reply.code {
            235 => {
                if let Err(err) = sasl.finish(None) {
                    // The server claims success without having proven itself
                    // (SCRAM): do not trust this session.
                    client.botched = true;
                    return Err(auth_error(err.to_string()));
                }
                tracing::debug!(target: "smtpclient", mechanism = %mechanism, "authenticated");
                return Ok(Some(mechanism));
            }
            334 => {
                let challenge = match decode_challenge(&reply) {
                    Ok(challenge) => challenge,
                    Err(reason) => return Err(abort(client, auth_error(reason)).await),
                };
                let response = match sasl.step(&challenge) {
                    Ok(step) => BASE64.encode(step.response()),
                    Err(err) => return Err(abort(client, auth_error(err.to_string())).await),
                };
                reply = client
                    .command_as(&response, "***", Command::Auth, timeout)
                    .await?;
            }
            _ => {
                client.botched = reply.code == 421 || reply.is_intermediate();
                return Err(client.rejected(Command::Auth, reply));
            }
        }
    }
}

fn decode_challenge(reply: &Reply) -> Result<Vec<u8>, String> {
    let text = reply.lines.first().map_or("", |l| l.trim());
    BASE64
        .decode(text)
        .map_err(|err| format!("challenge is not base64 ({err})"))
}

/// Cancels the exchange with "*"; the server should answer 501. Any other
/// answer leaves the session in an unknown state.
async fn abort(client: &mut Client, err: Error) -> Error {
    let timeout = client.config.timeouts.command;
    match client.command("*", Command::Auth, timeout).await {
        Ok(reply) if reply.code == 501 => {}
        Ok(_) | Err(_) => client.botched = true,
    }
    err
}
