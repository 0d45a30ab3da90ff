//! The session: greeting, EHLO, STARTTLS, AUTH, and the command plumbing
//! the rest of the client builds on.

use std::time::Duration;

use sasl::{ChannelBindings, Mechanism};
use smtp::{Command, EnhancedCode, Extensions, Reply};
use tokio::time::Instant;

use crate::config::{ClientConfig, TlsMode};
use crate::error::{Error, Requirement};
use crate::io::Conn;
use crate::metrics::TlsOutcome;
use crate::stream::BoxStream;
use crate::tls::{self, CertCheck, TlsInfo};

/// An SMTP session, ready to deliver messages.
///
/// Made by [`Client::connect`] over an already-connected stream (see
/// [`crate::dial`]); delivers any number of messages with
/// [`Client::deliver`] while [`Client::can_reuse`] holds; ends with
/// [`Client::quit`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), smtpclient::Error> {
/// use smtpclient::{Client, ClientConfig, Envelope, TlsMode};
/// use testkit::script::Script;
///
/// let (stream, server) = Script::new()
///     .send("220 mx.example ESMTP")
///     .expect("EHLO client.example")
///     .send("250-mx.example\n250 PIPELINING")
///     .expect_pipelined(&["MAIL FROM:<a@example.org>", "RCPT TO:<b@example.com>", "DATA"])
///     .send("250 ok\n250 ok\n354 go on")
///     .read_data(b"Subject: hi\r\n\r\nhello\r\n.\r\n")
///     .send("250 queued")
///     .expect("QUIT")
///     .send("221 bye")
///     .start();
///
/// let config = ClientConfig {
///     ehlo_name: "client.example".into(),
///     tls: TlsMode::Skip,
///     ..ClientConfig::default()
/// };
/// let mut client = Client::connect(Box::new(stream), config).await?;
/// let envelope = Envelope::new(
///     Some("a@example.org".parse().unwrap()),
///     vec!["b@example.com".parse().unwrap()],
/// );
/// let delivery = client.deliver(&envelope, b"Subject: hi\r\n\r\nhello\r\n").await?;
/// assert!(delivery.recipients[0].is_delivered());
/// client.quit().await?;
/// server.finish().await;
/// # Ok(())
/// # }
/// ```
pub struct Client {
    pub(crate) conn: Conn,
    pub(crate) config: ClientConfig,
    greeting: Reply,
    pub(crate) extensions: Extensions,
    tls: Option<TlsInfo>,
    pub(crate) bindings: ChannelBindings,
    authenticated: Option<Mechanism>,
    /// A transaction was started and not finished: RSET before the next.
    pub(crate) need_rset: bool,
    /// The server ended the session (421 or end of input).
    pub(crate) closed: bool,
    /// A local or protocol failure left the session out of sync.
    pub(crate) botched: bool,
    /// MAIL FROM commands sent on this connection.
    pub(crate) transactions: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("greeting", &self.greeting)
            .field("extensions", &self.extensions)
            .field("tls", &self.tls)
            .field("authenticated", &self.authenticated)
            .field("transactions", &self.transactions)
            .field("closed", &self.closed)
            .field("botched", &self.botched)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Sets up a session over `stream`: TLS first in [`TlsMode::Immediate`],
    /// the 220 greeting, EHLO (HELO when EHLO gets 500-504), STARTTLS as the
    /// mode says followed by a second EHLO, and AUTH when configured.
    ///
    /// A greeting other than 220 fails (permanently for 5xx). On error the
    /// stream is dropped.
    pub async fn connect(stream: BoxStream, config: ClientConfig) -> Result<Client, Error> {
        let mut client = Client {
            conn: Conn::new(stream),
            config,
            greeting: Reply::new(220, ""),
            extensions: Extensions::parse(&[]),
            tls: None,
            bindings: ChannelBindings::default(),
            authenticated: None,
            need_rset: false,
            closed: false,
            botched: false,
            transactions: 0,
        };
        if client.config.tls == TlsMode::Immediate {
            client.handshake().await?;
        }
        client.read_greeting().await?;
        client.hello(true).await?;
        match client.config.tls {
            TlsMode::Skip | TlsMode::Immediate => {}
            TlsMode::Opportunistic {
                plaintext_fallback_allowed,
            } => {
                if client.extensions.starttls {
                    client.starttls(plaintext_fallback_allowed).await?;
                } else {
                    client.config.metrics.tls(TlsOutcome::NotOffered);
                    tracing::debug!(target: "smtpclient", "STARTTLS not offered, continuing without TLS");
                }
            }
            TlsMode::RequiredStartTls => client.starttls(false).await?,
        }
        if client.config.auth.is_some() {
            client.authenticate().await?;
        }
        Ok(client)
    }

    async fn read_greeting(&mut self) -> Result<(), Error> {
        let timeout = self.config.timeouts.greeting;
        let reply = self
            .read(Command::Greeting, timeout, Instant::now())
            .await?;
        if reply.code != 220 {
            self.botched = true;
            if reply.is_transient() || reply.is_permanent() {
                return Err(self.rejected(Command::Greeting, reply));
            }
            return Err(Error::Protocol {
                command: Command::Greeting,
                reason: format!("greeting must be 220, got {}", reply.code),
            });
        }
        self.greeting = reply;
        Ok(())
    }

    /// EHLO, or HELO when the server does not know EHLO and `allow_helo`.
    async fn hello(&mut self, allow_helo: bool) -> Result<(), Error> {
        let timeout = self.config.timeouts.command;
        let line = format!("EHLO {}", self.config.ehlo_name);
        let reply = self.command(&line, Command::Ehlo, timeout).await?;
        if reply.code == 250 {
            self.extensions = Extensions::parse(&reply.lines);
            return Ok(());
        }
        if allow_helo && (500..=504).contains(&reply.code) {
            let line = format!("HELO {}", self.config.ehlo_name);
            let reply = self.command(&line, Command::Helo, timeout).await?;
            if reply.code == 250 {
                self.extensions = Extensions::parse(&[]);
                return Ok(());
            }
            return Err(self.fail(Command::Helo, reply));
        }
        Err(self.fail(Command::Ehlo, reply))
    }

    /// STARTTLS, handshake and second EHLO. With `continue_on_refusal`, a
    /// refused STARTTLS command leaves the session in plaintext.
    async fn starttls(&mut self, continue_on_refusal: bool) -> Result<(), Error> {
        let timeout = self.config.timeouts.command;
        let reply = self.command("STARTTLS", Command::StartTls, timeout).await?;
        if reply.code != 220 {
            self.config.metrics.tls(TlsOutcome::Refused);
            if continue_on_refusal && reply.code != 421 && !reply.is_success() {
                tracing::info!(
                    target: "smtpclient",
                    code = reply.code,
                    "STARTTLS refused, continuing without TLS as allowed"
                );
                return Ok(());
            }
            if !self.extensions.starttls && reply.code != 421 {
                tracing::debug!(target: "smtpclient", reply = %reply, "STARTTLS not offered and refused");
                self.botched = true;
                return Err(Error::Unsupported {
                    requirement: Requirement::StartTls,
                });
            }
            return Err(self.fail(Command::StartTls, reply));
        }
        self.handshake().await?;
        self.hello(false).await
    }

    async fn handshake(&mut self) -> Result<(), Error> {
        let stream = self.conn.take_stream(Command::StartTls).inspect_err(|_| {
            self.botched = true;
        })?;
        match tls::handshake(stream, &self.config, self.config.timeouts.tls_handshake).await {
            Ok(established) => {
                self.conn.set_stream(established.stream);
                self.tls = Some(established.info);
                self.bindings = established.bindings;
                self.config.metrics.tls(TlsOutcome::Success);
                Ok(())
            }
            Err(err) => {
                self.botched = true;
                self.config.metrics.tls(TlsOutcome::Failure);
                tracing::debug!(target: "smtpclient", error = %err, "TLS handshake failed");
                Err(err)
            }
        }
    }

    /// Runs AUTH as configured (see [`crate::auth`]).
    async fn authenticate(&mut self) -> Result<(), Error> {
        let mechanism = crate::auth::authenticate(self).await?;
        self.authenticated = mechanism;
        Ok(())
    }

    /// What the server announced in its (last) EHLO reply; empty after HELO.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The TLS session, if there is one.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// How the server certificate was checked ([`CertCheck::None`] without TLS).
    pub fn cert_check(&self) -> CertCheck {
        self.tls.as_ref().map_or(CertCheck::None, |t| t.cert_check)
    }

    /// The text of the greeting's first line (for TLS reporting and logs).
    pub fn greeting(&self) -> &str {
        self.greeting.lines.first().map_or("", String::as_str)
    }

    /// The full 220 greeting.
    pub fn greeting_reply(&self) -> &Reply {
        &self.greeting
    }

    /// The mechanism AUTH succeeded with, if AUTH was done.
    pub fn authenticated(&self) -> Option<Mechanism> {
        self.authenticated
    }

    /// How many transactions (MAIL FROM commands) this connection has had.
    pub fn transactions(&self) -> u32 {
        self.transactions
    }

    /// Whether another message can be delivered on this connection: not
    /// broken, not closed by the server (421), and below the server's
    /// LIMITS MAILMAX.
    pub fn can_reuse(&self) -> bool {
        !self.closed && !self.botched && !self.mail_max_reached()
    }

    pub(crate) fn mail_max_reached(&self) -> bool {
        self.extensions
            .limits
            .as_ref()
            .and_then(|l| l.mail_max)
            .is_some_and(|max| self.transactions >= max)
    }

    /// Whether an error has made the session unusable (it is not in sync
    /// with the server, or the server closed it).
    pub fn is_broken(&self) -> bool {
        self.closed || self.botched
    }

    pub(crate) fn check_usable(&self) -> Result<(), Error> {
        if self.botched {
            return Err(Error::Unusable {
                reason: "an earlier error broke the session".into(),
            });
        }
        if self.closed {
            return Err(Error::Unusable {
                reason: "the server closed the session".into(),
            });
        }
        Ok(())
    }

    /// Sends NOOP and expects 250: a cheap check before reusing a pooled connection.
    pub async fn noop(&mut self) -> Result<(), Error> {
        self.check_usable()?;
        let reply = self
            .command("NOOP", Command::Noop, self.config.timeouts.command)
            .await?;
        if reply.code != 250 {
            return Err(self.fail(Command::Noop, reply));
        }
        Ok(())
    }

    /// Ends the session: QUIT (waiting at most the QUIT timeout for the
    /// reply) unless the session is broken, then closes the stream.
    pub async fn quit(mut self) -> Result<(), Error> {
        let result = if self.botched || self.closed {
            Ok(())
        } else {
            match self
                .command("QUIT", Command::Quit, self.config.timeouts.quit)
                .await
            {
                Ok(reply) if reply.code == 221 => Ok(()),
                Ok(reply) => Err(self.rejected(Command::Quit, reply)),
                Err(err) => Err(err),
            }
        };
        self.conn.shutdown(self.config.timeouts.quit).await;
        result
    }

    // ---- plumbing

    /// The enhanced code of a reply, when the server announced ENHANCEDSTATUSCODES.
    pub(crate) fn enhanced(&self, reply: &Reply) -> Option<EnhancedCode> {
        if self.extensions.enhanced_status_codes {
            reply.enhanced_code()
        } else {
            None
        }
    }

    pub(crate) fn rejected(&self, command: Command, reply: Reply) -> Error {
        let enhanced = self.enhanced(&reply);
        Error::Rejected {
            command,
            reply,
            enhanced,
        }
    }

    /// A failure reply that ends the setup: the session is not usable after it.
    fn fail(&mut self, command: Command, reply: Reply) -> Error {
        self.botched = true;
        self.rejected(command, reply)
    }

    /// Logs a command line at TRACE.
    pub(crate) fn trace_command(line: &str) {
        tracing::trace!(target: "smtpclient", "LC: {line}");
    }

    /// Writes one command and reads its reply.
    pub(crate) async fn command(
        &mut self,
        line: &str,
        command: Command,
        timeout: Duration,
    ) -> Result<Reply, Error> {
        self.command_as(line, line, command, timeout).await
    }

    /// Like [`Client::command`], tracing `shown` instead of the line
    /// (credentials are never logged).
    pub(crate) async fn command_as(
        &mut self,
        line: &str,
        shown: &str,
        command: Command,
        timeout: Duration,
    ) -> Result<Reply, Error> {
        Self::trace_command(shown);
        self.conn.queue_line(line);
        let start = Instant::now();
        self.flush(command, timeout).await?;
        self.read(command, timeout, start).await
    }

    /// Sends what is queued. When writing fails, the server may have said
    /// why before closing: a failure reply waiting in the input is returned
    /// instead of the write error.
    pub(crate) async fn flush(&mut self, command: Command, timeout: Duration) -> Result<(), Error> {
        match self.conn.flush(command, timeout).await {
            Ok(()) => Ok(()),
            Err(err) => Err(self.explain_write_error(command, err).await),
        }
    }

    /// Writes message data; on failure like [`Client::flush`].
    pub(crate) async fn write_data(
        &mut self,
        bytes: &[u8],
        command: Command,
        timeout: Duration,
    ) -> Result<(), Error> {
        match self.conn.write_all(bytes, command, timeout).await {
            Ok(()) => Ok(()),
            Err(err) => Err(self.explain_write_error(command, err).await),
        }
    }

    async fn explain_write_error(&mut self, command: Command, err: Error) -> Error {
        self.botched = true;
        if matches!(err, Error::Io { .. }) {
            let wait = self.config.timeouts.command.min(Duration::from_secs(5));
            if let Ok(reply) = self.conn.read_reply(command, wait).await
                && (reply.is_transient() || reply.is_permanent())
            {
                self.closed = true;
                return self.rejected(command, reply);
            }
        }
        err
    }

    /// Reads a reply, reporting it to logs and metrics. A read failure
    /// breaks the session; a 421 closes it.
    pub(crate) async fn read(
        &mut self,
        command: Command,
        timeout: Duration,
        start: Instant,
    ) -> Result<Reply, Error> {
        match self.conn.read_reply(command, timeout).await {
            Ok(reply) => {
                let took = start.elapsed();
                let enhanced = self.enhanced(&reply);
                tracing::debug!(
                    target: "smtpclient",
                    command = %command,
                    code = reply.code,
                    enhanced = enhanced.map(tracing::field::display),
                    duration_ms = took.as_millis() as u64,
                    "reply"
                );
                self.config
                    .metrics
                    .command(command, reply.code, enhanced, took);
                if reply.code == 421 {
                    self.closed = true;
                }
                Ok(reply)
            }
            Err(err) => {
                self.botched = true;
                if matches!(err, Error::Closed { .. }) {
                    self.closed = true;
                }
                Err(err)
            }
        }
    }
}
