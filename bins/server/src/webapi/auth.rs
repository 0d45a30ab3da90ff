//! HTTP Basic logins: the mailbox store checks the password against the
//! SCRAM-SHA-256 keys (successful checks cached, so a busy client does not
//! pay PBKDF2 per request) behind its per-IP limiter of failed attempts.

use std::net::IpAddr;

use mailbox::{AuthError, MailboxStore};
use tracing::info;
use webapi::server::{AuthFailure, Session};

use super::WebApi;

impl WebApi {
    pub(crate) async fn login(
        &self,
        ip: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<Session, AuthFailure> {
        let mailbox = self.mailbox.clone();
        let (login, pass) = (username.to_string(), password.to_string());
        let result = tokio::task::spawn_blocking(move || mailbox.authenticate(ip, &login, &pass))
            .await
            .map_err(|e| AuthFailure::Internal(format!("login task: {e}")))?;
        match result {
            Ok(account) => {
                let name = account.name.clone();
                self.accounts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.clone(), account);
                Ok(Session {
                    account: name,
                    login: username.to_string(),
                    ip,
                })
            }
            Err(AuthError::BadCredentials { .. }) => {
                info!(target: "postel", remote = %ip, username, "web API login failed");
                Err(AuthFailure::BadCredentials)
            }
            Err(AuthError::Disabled { .. }) => Err(AuthFailure::Disabled),
            Err(AuthError::RateLimited { .. }) => Err(AuthFailure::TooManyAttempts),
            Err(e) => Err(AuthFailure::Internal(e.to_string())),
        }
    }
}
