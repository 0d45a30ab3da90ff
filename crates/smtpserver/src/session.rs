//! One SMTP conversation: command sequencing, extension checks, the
//! transaction, and calls into the handler.

use std::time::Duration;

use smtp::{Address, Body, MailParams, RcptParams, Reply};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tracing::{debug, trace, warn};

use crate::command::{ClientCommand, parse_command};
use crate::config::Mode;
use crate::error::ServeError;
use crate::handler::Handler;
use crate::io::{Io, LineRead};
use crate::received::{ReceivedInfo, received_header};
use crate::replies::{self, bad_sequence, code, reply, unsupported_param};
use crate::server::Server;
use crate::time::{format_rfc3339, parse_rfc3339};
use crate::types::{Envelope, FutureRelease, Hello, Message, Recipient, Session};

/// What to do after a command.
pub(crate) enum Flow {
    Continue,
    Quit,
    Drop(&'static str),
}

struct Transaction {
    envelope: Envelope,
    /// Chunks received so far with BDAT; `None` until the first BDAT.
    bdat: Option<Vec<u8>>,
}

pub(crate) struct Conversation<'a, H, S> {
    pub server: &'a Server<H>,
    pub io: Io<S>,
    pub session: Session,
    tx: Option<Transaction>,
    bad_commands: u32,
    transactions: u32,
    sasl_done: bool,
    pub bindings: sasl::ChannelBindings,
}

impl<'a, H: Handler, S: AsyncRead + AsyncWrite + Unpin> Conversation<'a, H, S> {
    pub fn new(server: &'a Server<H>, io: Io<S>, session: Session) -> Self {
        Conversation {
            server,
            io,
            session,
            tx: None,
            bad_commands: 0,
            transactions: 0,
            sasl_done: false,
            bindings: sasl::ChannelBindings::default(),
        }
    }

    fn timeout(&self) -> Duration {
        self.server.config.timeouts.command
    }

    /// Queues a reply (written when input runs out or before closing).
    pub fn send(&mut self, verb: &str, reply: &Reply) {
        let wire = reply.to_wire();
        trace!(target: "smtpserver", session = %self.session.id, "S: {}", wire.trim_end());
        self.server.metrics.command(verb, reply.code);
        self.io.queue(wire.as_bytes());
    }

    /// Sends an error reply and counts it; too many end the session.
    fn error(&mut self, verb: &str, reply: &Reply) -> Flow {
        self.send(verb, reply);
        self.bad_commands += 1;
        if self.bad_commands >= self.server.config.max_bad_commands {
            let bye = replies::reply(421, code(4, 7, 0), "too many errors, closing connection");
            self.send(verb, &bye);
            return Flow::Drop("too many errors");
        }
        Flow::Continue
    }

    /// The greeting and command loop.
    pub async fn run(&mut self) -> Result<(), ServeError> {
        let result = self.command_loop().await;
        if let Err(ServeError::Timeout { what }) = &result {
            debug!(target: "smtpserver", session = %self.session.id, what, "timeout");
            let bye = reply(421, code(4, 4, 2), "timeout, closing connection");
            self.send("", &bye);
            let _ = self.io.flush(Duration::from_secs(5)).await;
        }
        result
    }

    async fn command_loop(&mut self) -> Result<(), ServeError> {
        match self.server.handler.connect(&self.session).await {
            Err(refusal) => {
                self.send("", &refusal);
                self.io.flush(self.timeout()).await?;
                return Err(ServeError::Dropped {
                    reason: "refused by handler",
                });
            }
            Ok(identity) => self.session.identity = identity,
        }
        let greeting = Reply::new(
            220,
            &format!("{} ESMTP", self.server.config.hostname.ascii()),
        );
        self.send("", &greeting);
        loop {
            let max = self.server.config.max_line_len;
            let timeout = self.timeout();
            let line = match self.server.shutdown.clone() {
                None => self.io.read_line(max, timeout).await?,
                Some(mut rx) => {
                    let read = tokio::select! {
                        line = self.io.read_line(max, timeout) => Some(line),
                        _ = crate::server::shutdown_requested(&mut rx) => None,
                    };
                    match read {
                        Some(line) => line?,
                        None => {
                            let bye = reply(421, code(4, 3, 2), "server shutting down");
                            self.send("", &bye);
                            self.io.flush(timeout).await?;
                            return Err(ServeError::Dropped {
                                reason: "server shutting down",
                            });
                        }
                    }
                }
            };
            let flow = match line {
                LineRead::Eof => {
                    return Err(ServeError::Closed {
                        state: "waiting for a command",
                    });
                }
                LineRead::TooLong => {
                    let r = reply(500, code(5, 5, 2), "line too long");
                    self.error("", &r)
                }
                LineRead::Line(line) => {
                    self.trace_line(&line);
                    match parse_command(&line) {
                        Ok(command) => self.dispatch(command).await?,
                        Err(e) => {
                            debug!(target: "smtpserver", session = %self.session.id, error = %e, "bad command");
                            self.error("", &e.reply())
                        }
                    }
                }
            };
            match flow {
                Flow::Continue => {}
                Flow::Quit => {
                    self.close().await?;
                    return Ok(());
                }
                Flow::Drop(reason) => {
                    self.close().await?;
                    return Err(ServeError::Dropped { reason });
                }
            }
        }
    }

    /// Writes what is queued and closes our side (TLS close_notify included).
    async fn close(&mut self) -> Result<(), ServeError> {
        self.io.flush(self.timeout()).await?;
        // The client may already be gone; closing is best effort.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.io.conn.shutdown()).await;
        Ok(())
    }

    fn trace_line(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        if text.len() >= 5
            && text
                .get(..5)
                .is_some_and(|v| v.eq_ignore_ascii_case("AUTH "))
        {
            let mechanism = text.split(' ').nth(1).unwrap_or("");
            trace!(target: "smtpserver", session = %self.session.id, "C: AUTH {mechanism} ***");
        } else {
            trace!(target: "smtpserver", session = %self.session.id, "C: {text}");
        }
    }

    async fn dispatch(&mut self, command: ClientCommand) -> Result<Flow, ServeError> {
        let verb = command.verb();
        Ok(match command {
            ClientCommand::Ehlo(name) => self.hello(name, true),
            ClientCommand::Helo(name) => self.hello(name, false),
            ClientCommand::StartTls => return self.starttls().await,
            ClientCommand::Auth {
                mechanism,
                initial_response,
            } => return self.auth(&mechanism, initial_response).await,
            ClientCommand::Mail {
                from,
                params,
                utf8_path,
            } => self.mail(from, params, utf8_path).await,
            ClientCommand::Rcpt {
                to,
                params,
                utf8_path,
            } => self.rcpt(to, params, utf8_path).await,
            ClientCommand::Data => return self.data().await,
            ClientCommand::Bdat { size, last } => return self.bdat(size, last).await,
            ClientCommand::Rset => {
                self.tx = None;
                self.send(verb, &replies::ok("reset"));
                Flow::Continue
            }
            ClientCommand::Noop => {
                self.send(verb, &replies::ok("ok"));
                Flow::Continue
            }
            ClientCommand::Quit => {
                let bye = reply(221, code(2, 0, 0), "bye");
                self.send(verb, &bye);
                Flow::Quit
            }
            ClientCommand::Vrfy => {
                let r = reply(252, code(2, 5, 0), "cannot verify, but will try to deliver");
                self.send(verb, &r);
                Flow::Continue
            }
            ClientCommand::Expn => {
                let r = reply(502, code(5, 5, 1), "EXPN not available");
                self.send(verb, &r);
                Flow::Continue
            }
            ClientCommand::Help => {
                let r = reply(
                    214,
                    code(2, 0, 0),
                    "commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT",
                );
                self.send(verb, &r);
                Flow::Continue
            }
        })
    }

    fn hello(&mut self, name: String, extended: bool) -> Flow {
        self.tx = None;
        self.session.hello = Some(Hello { name, extended });
        let hostname = self.server.config.hostname.ascii().to_string();
        if !extended {
            self.send("HELO", &Reply::new(250, &hostname));
            return Flow::Continue;
        }
        let lines = self.ehlo_lines(hostname);
        self.send("EHLO", &Reply { code: 250, lines });
        Flow::Continue
    }

    fn sasl_session(&self) -> sasl::SessionInfo {
        sasl::SessionInfo {
            tls: self.session.tls.is_some(),
            channel_bindings: self.bindings.clone(),
        }
    }

    fn ehlo_lines(&self, hostname: String) -> Vec<String> {
        let config = &self.server.config;
        let announce = &config.announce;
        let tls = self.session.tls.is_some();
        let mut lines = vec![hostname];
        if announce.pipelining {
            lines.push("PIPELINING".into());
        }
        if announce.size {
            lines.push(format!("SIZE {}", config.max_message_size));
        }
        if announce.eight_bit_mime {
            lines.push("8BITMIME".into());
        }
        if announce.smtputf8 {
            lines.push("SMTPUTF8".into());
        }
        if announce.enhanced_status_codes {
            lines.push("ENHANCEDSTATUSCODES".into());
        }
        if config.tls.is_some() && !tls {
            lines.push("STARTTLS".into());
        }
        if announce.requiretls && tls {
            lines.push("REQUIRETLS".into());
        }
        if !self.sasl_done {
            let mechanisms = config.sasl.advertised(&self.sasl_session());
            if !mechanisms.is_empty() {
                let names: Vec<&str> = mechanisms.iter().map(|m| m.name()).collect();
                lines.push(format!("AUTH {}", names.join(" ")));
            }
        }
        if let Some(max) = announce.future_release {
            let until = self.server.clock.now() + max;
            lines.push(format!(
                "FUTURERELEASE {} {}",
                max.as_secs(),
                format_rfc3339(until)
            ));
        }
        if announce.limits {
            let mut limits = format!("LIMITS RCPTMAX={}", config.max_recipients);
            if let Some(max) = config.max_transactions {
                limits.push_str(&format!(" MAILMAX={max}"));
            }
            lines.push(limits);
        }
        if announce.dsn {
            lines.push("DSN".into());
        }
        if announce.chunking {
            lines.push("CHUNKING".into());
        }
        lines
    }

    async fn starttls(&mut self) -> Result<Flow, ServeError> {
        let Some(settings) = self.server.config.tls.clone() else {
            return Ok(self.error(
                "STARTTLS",
                &reply(502, code(5, 5, 1), "STARTTLS not available"),
            ));
        };
        if self.session.tls.is_some() {
            return Ok(self.error("STARTTLS", &bad_sequence("already using TLS")));
        }
        self.send("STARTTLS", &reply(220, code(2, 0, 0), "ready to start TLS"));
        self.io.flush(self.timeout()).await?;
        // Anything the client sent after STARTTLS arrived in plaintext and
        // could have been injected by a man in the middle (CVE-2011-0411).
        let injected = self.io.discard_input();
        if injected > 0 {
            warn!(target: "smtpserver", session = %self.session.id, octets = injected,
                "discarding plaintext sent after STARTTLS");
        }
        self.start_tls(&settings, false).await?;
        // RFC 3207 §4.2: forget everything learned before TLS.
        self.session.hello = None;
        self.tx = None;
        if self.sasl_done {
            self.session.identity = None;
            self.sasl_done = false;
        }
        Ok(Flow::Continue)
    }

    pub async fn start_tls(
        &mut self,
        settings: &crate::config::TlsSettings,
        implicit: bool,
    ) -> Result<(), ServeError> {
        let timeout = self.server.config.timeouts.tls_handshake;
        match crate::tls::handshake(&mut self.io, settings, timeout, implicit).await {
            Ok((info, bindings)) => {
                debug!(target: "smtpserver", session = %self.session.id, version = %info.version,
                    cipher = %info.cipher, "tls established");
                self.server.metrics.tls_handshake(true);
                self.session.tls = Some(info);
                self.bindings = bindings;
                Ok(())
            }
            Err(e) => {
                debug!(target: "smtpserver", session = %self.session.id, error = %e, "tls handshake failed");
                self.server.metrics.tls_handshake(false);
                Err(e)
            }
        }
    }

    async fn auth(&mut self, name: &str, initial: Option<String>) -> Result<Flow, ServeError> {
        crate::auth::run(self, name, initial).await
    }

    pub fn sasl_state(&self) -> (bool, bool, sasl::SessionInfo) {
        (self.tx.is_some(), self.sasl_done, self.sasl_session())
    }

    pub fn authenticated(&mut self, identity: crate::types::Identity) {
        self.session.identity = Some(identity);
        self.sasl_done = true;
    }

    pub fn count_error(&mut self, verb: &str, reply: &Reply) -> Flow {
        self.error(verb, reply)
    }

    fn check_mail_params(&self, params: &MailParams) -> Result<Option<FutureRelease>, Reply> {
        let config = &self.server.config;
        let announce = &config.announce;
        match params.body {
            Some(Body::BinaryMime) => {
                return Err(unsupported_param("BODY=BINARYMIME not supported"));
            }
            Some(Body::EightBitMime) if !announce.eight_bit_mime => {
                return Err(unsupported_param("BODY=8BITMIME not supported"));
            }
            _ => {}
        }
        if params.smtputf8 && !announce.smtputf8 {
            return Err(unsupported_param("SMTPUTF8 not supported"));
        }
        if params
            .size
            .is_some_and(|size| size > config.max_message_size)
        {
            return Err(replies::too_large());
        }
        if params.requiretls {
            if !announce.requiretls {
                return Err(unsupported_param("REQUIRETLS not supported"));
            }
            if self.session.tls.is_none() {
                return Err(reply(
                    530,
                    code(5, 7, 10),
                    "REQUIRETLS only allowed on TLS connections",
                ));
            }
        }
        if (params.ret.is_some() || params.envid.is_some()) && !announce.dsn {
            return Err(unsupported_param("DSN not supported"));
        }
        if let Some((keyword, _)) = params.other.first() {
            return Err(unsupported_param(&format!(
                "unsupported parameter {keyword}"
            )));
        }
        if params.hold_for.is_none() && params.hold_until.is_none() {
            return Ok(None);
        }
        let Some(max) = announce.future_release else {
            return Err(unsupported_param("FUTURERELEASE not supported"));
        };
        let now = self.server.clock.now();
        if let Some(secs) = params.hold_for {
            if secs > max.as_secs() {
                return Err(reply(
                    501,
                    code(5, 5, 4),
                    &format!("HOLDFOR exceeds the maximum of {} seconds", max.as_secs()),
                ));
            }
            return Ok(Some(FutureRelease {
                at: now + Duration::from_secs(secs),
                request: format!("for;{secs}"),
            }));
        }
        let text = params.hold_until.as_deref().unwrap_or("");
        let Some(at) = parse_rfc3339(text) else {
            return Err(reply(
                501,
                code(5, 5, 4),
                "HOLDUNTIL is not an RFC 3339 date-time",
            ));
        };
        if at > now + max {
            return Err(reply(
                501,
                code(5, 5, 4),
                &format!("HOLDUNTIL is more than {} seconds ahead", max.as_secs()),
            ));
        }
        Ok(Some(FutureRelease {
            at,
            request: format!("until;{}", format_rfc3339(at)),
        }))
    }

    fn utf8_refusal(&self) -> Reply {
        let text = if self.server.config.announce.smtputf8 {
            "non-ASCII address needs the SMTPUTF8 parameter"
        } else {
            "non-ASCII addresses not supported"
        };
        reply(553, code(5, 6, 7), text)
    }

    async fn mail(&mut self, from: Option<Address>, params: MailParams, utf8: bool) -> Flow {
        const V: &str = "MAIL";
        if self.session.hello.is_none() {
            return self.error(V, &bad_sequence("send EHLO or HELO first"));
        }
        if self.tx.is_some() {
            return self.error(V, &bad_sequence("nested MAIL command"));
        }
        if self
            .server
            .config
            .max_transactions
            .is_some_and(|max| self.transactions >= max)
        {
            let r = reply(
                451,
                code(4, 5, 3),
                "too many transactions on this connection",
            );
            self.send(V, &r);
            return Flow::Continue;
        }
        if self.server.config.mode == Mode::Submission && self.session.identity.is_none() {
            return self.error(V, &replies::auth_required());
        }
        let future_release = match self.check_mail_params(&params) {
            Ok(release) => release,
            Err(r) => return self.error(V, &r),
        };
        if utf8 && !params.smtputf8 {
            let r = self.utf8_refusal();
            return self.error(V, &r);
        }
        if let Err(r) = self
            .server
            .handler
            .mail_from(&self.session, from.as_ref(), &params)
            .await
        {
            self.send(V, &r);
            return Flow::Continue;
        }
        self.transactions += 1;
        self.tx = Some(Transaction {
            envelope: Envelope {
                mail_from: from,
                params,
                recipients: Vec::new(),
                future_release,
            },
            bdat: None,
        });
        self.send(V, &reply(250, code(2, 1, 0), "sender ok"));
        Flow::Continue
    }

    async fn rcpt(&mut self, to: Address, params: RcptParams, utf8: bool) -> Flow {
        const V: &str = "RCPT";
        let Some(tx) = &self.tx else {
            return self.error(V, &bad_sequence("send MAIL first"));
        };
        if tx.bdat.is_some() {
            return self.error(V, &bad_sequence("RCPT after BDAT"));
        }
        if tx.envelope.recipients.len() >= self.server.config.max_recipients {
            self.send(V, &replies::too_many_recipients());
            return Flow::Continue;
        }
        if (params.notify.is_some() || params.orcpt.is_some()) && !self.server.config.announce.dsn {
            return self.error(V, &unsupported_param("DSN not supported"));
        }
        if let Some((keyword, _)) = params.other.first() {
            let r = unsupported_param(&format!("unsupported parameter {keyword}"));
            return self.error(V, &r);
        }
        if utf8 && !tx.envelope.params.smtputf8 {
            let r = self.utf8_refusal();
            return self.error(V, &r);
        }
        if let Err(r) = self
            .server
            .handler
            .rcpt_to(&self.session, &tx.envelope, &to, &params)
            .await
        {
            self.send(V, &r);
            return Flow::Continue;
        }
        if let Some(tx) = &mut self.tx {
            tx.envelope.recipients.push(Recipient {
                address: to,
                params,
            });
        }
        self.send(V, &reply(250, code(2, 1, 5), "recipient ok"));
        Flow::Continue
    }

    async fn data(&mut self) -> Result<Flow, ServeError> {
        const V: &str = "DATA";
        match &self.tx {
            None => return Ok(self.error(V, &bad_sequence("send MAIL first"))),
            Some(tx) if tx.bdat.is_some() => {
                return Ok(self.error(V, &bad_sequence("DATA after BDAT")));
            }
            Some(tx) if tx.envelope.recipients.is_empty() => {
                let r = reply(554, code(5, 5, 1), "no valid recipients");
                return Ok(self.error(V, &r));
            }
            Some(_) => {}
        }
        self.send(V, &Reply::new(354, "go ahead, end with <CRLF>.<CRLF>"));
        let max = self.server.config.max_message_size;
        let timeout = self.server.config.timeouts.data_block;
        let read = self.io.read_data(max, timeout).await?;
        if read.too_large {
            self.tx = None;
            self.server.metrics.message(552, max);
            self.send(V, &replies::too_large());
            return Ok(Flow::Continue);
        }
        self.finish(V, read.data).await;
        Ok(Flow::Continue)
    }

    async fn bdat(&mut self, size: u64, last: bool) -> Result<Flow, ServeError> {
        const V: &str = "BDAT";
        let timeout = self.server.config.timeouts.data_block;
        // The chunk follows the command whatever the answer: read it to stay
        // in sync with the client.
        let refusal = if !self.server.config.announce.chunking {
            Some(reply(502, code(5, 5, 1), "CHUNKING not available"))
        } else {
            match &self.tx {
                None => Some(bad_sequence("send MAIL first")),
                Some(tx) if tx.envelope.recipients.is_empty() => {
                    Some(reply(554, code(5, 5, 1), "no valid recipients"))
                }
                Some(_) => None,
            }
        };
        if let Some(r) = refusal {
            self.io.read_chunk(size, None, timeout).await?;
            return Ok(self.error(V, &r));
        }
        let max = self.server.config.max_message_size;
        let have = self
            .tx
            .as_ref()
            .and_then(|tx| tx.bdat.as_ref())
            .map_or(0, |b| b.len() as u64);
        if have.saturating_add(size) > max {
            self.io.read_chunk(size, None, timeout).await?;
            self.tx = None;
            self.server.metrics.message(552, max);
            self.send(V, &replies::too_large());
            return Ok(Flow::Continue);
        }
        let mut buf = self
            .tx
            .as_mut()
            .and_then(|tx| tx.bdat.take())
            .unwrap_or_default();
        self.io.read_chunk(size, Some(&mut buf), timeout).await?;
        if !last {
            if let Some(tx) = &mut self.tx {
                tx.bdat = Some(buf);
            }
            let r = reply(250, code(2, 0, 0), &format!("{size} octets received"));
            self.send(V, &r);
            return Ok(Flow::Continue);
        }
        self.finish(V, buf).await;
        Ok(Flow::Continue)
    }

    /// Hands a complete message to the handler and sends its reply.
    async fn finish(&mut self, verb: &str, data: Vec<u8>) {
        let Some(tx) = self.tx.take() else {
            return;
        };
        let envelope = tx.envelope;
        let config = &self.server.config;
        let smtputf8 = envelope.params.smtputf8;
        let for_recipient = match envelope.recipients.as_slice() {
            [only] => Some(if smtputf8 {
                only.address.to_utf8_wire()
            } else {
                only.address
                    .to_ascii_wire()
                    .unwrap_or_else(|| only.address.to_utf8_wire())
            }),
            _ => None,
        };
        let (helo, extended) = match &self.session.hello {
            Some(h) => (h.name.as_str(), h.extended),
            None => ("unknown", false),
        };
        let by = if smtputf8 {
            config.hostname.unicode()
        } else {
            config.hostname.ascii()
        };
        let id = self.server.ids.next_id();
        let received = received_header(&ReceivedInfo {
            helo,
            remote_ip: self.session.peer.remote_ip,
            by,
            local_ip: self.session.peer.local_ip,
            extended,
            smtputf8,
            tls: self.session.tls.as_ref(),
            authenticated: self.sasl_done,
            requiretls: envelope.params.requiretls,
            id: &id,
            for_recipient: for_recipient.as_deref(),
            date: self.server.clock.now(),
        });
        let has_8bit = data.iter().any(|b| *b >= 0x80);
        let message = Message {
            envelope,
            received,
            data,
            has_8bit,
        };
        let size = message.size();
        debug!(target: "smtpserver", session = %self.session.id, id = %id, size,
            recipients = message.envelope.recipients.len(), "message received");
        let answer = self.server.handler.data(&self.session, message).await;
        self.server.metrics.message(answer.code, size);
        self.send(verb, &answer);
    }
}
