//! The policy hooks: every decision the engine does not make itself.

use std::future::Future;
use std::sync::Arc;

use sasl::CredentialStore;
use smtp::{Address, MailParams, RcptParams, Reply};

use crate::replies;
use crate::types::{Envelope, Identity, Message, Session};

/// A credential store shared with blocking threads (PBKDF2 runs there).
pub type SharedCredentials = Arc<dyn CredentialStore + Send + Sync>;

/// Policy for SMTP sessions. Implementations may write `async fn` for each
/// method. Replies returned by hooks are sent as they are, so give them
/// enhanced codes (see [`crate::replies`]).
///
/// ```
/// use smtpserver::{Handler, Message, Session, replies};
/// use smtp::Reply;
///
/// struct Accept;
/// impl Handler for Accept {
///     async fn data(&self, _session: &Session, message: Message) -> Reply {
///         replies::ok(&format!("queued {} octets", message.data.len()))
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// A client connected. `Err` refuses it with that reply (use 554, or 421
    /// for "come back later"); `Ok(Some(identity))` maps the connection to an
    /// account without AUTH (e.g. trusted networks in submission mode).
    /// Default: accept, no identity.
    fn connect(
        &self,
        _session: &Session,
    ) -> impl Future<Output = Result<Option<Identity>, Reply>> + Send {
        async { Ok(None) }
    }

    /// The credential store for an AUTH attempt, or a reply refusing AUTH
    /// (e.g. too many failures from this IP). Default: AUTH unavailable.
    fn credentials(
        &self,
        _session: &Session,
    ) -> impl Future<Output = Result<SharedCredentials, Reply>> + Send {
        async {
            Err(replies::reply(
                454,
                replies::code(4, 7, 0),
                "authentication not available",
            ))
        }
    }

    /// SASL succeeded for `authcid` (asking to act as `authzid`): map it to
    /// an account, or refuse with a reply (535 5.7.8 is usual). Default: the
    /// account is `authcid`; an authzid other than authcid is refused.
    fn authenticated(
        &self,
        _session: &Session,
        authcid: &str,
        authzid: Option<&str>,
    ) -> impl Future<Output = Result<Identity, Reply>> + Send {
        let result = match authzid {
            Some(z) if z != authcid => Err(replies::reply(
                535,
                replies::code(5, 7, 8),
                "not authorized to act as that identity",
            )),
            _ => Ok(Identity {
                account: authcid.to_string(),
                login: Some(authcid.to_string()),
            }),
        };
        async move { result }
    }

    /// An AUTH attempt failed (wrong credentials, not protocol errors), for
    /// rate limiting per IP. `username` is known for PLAIN, LOGIN and SCRAM.
    fn auth_failed(
        &self,
        _session: &Session,
        _mechanism: &str,
        _username: Option<&str>,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// MAIL FROM passed the engine's checks. Default: accept.
    fn mail_from(
        &self,
        _session: &Session,
        _from: Option<&Address>,
        _params: &MailParams,
    ) -> impl Future<Output = Result<(), Reply>> + Send {
        async { Ok(()) }
    }

    /// RCPT TO passed the engine's checks; `envelope` holds the transaction
    /// so far. Inbound handlers refuse relaying here ([`replies::relay_denied`]).
    /// Default: accept.
    fn rcpt_to(
        &self,
        _session: &Session,
        _envelope: &Envelope,
        _to: &Address,
        _params: &RcptParams,
    ) -> impl Future<Output = Result<(), Reply>> + Send {
        async { Ok(()) }
    }

    /// The message is complete: store it and answer (250 only once it is
    /// durable).
    fn data(&self, session: &Session, message: Message) -> impl Future<Output = Reply> + Send;
}
