//! Delivering one message to many recipients: preconditions, pipelined or
//! step-by-step transactions, RCPTMAX/MAILMAX, and retrying recipients the
//! server deferred because of their number.

use std::borrow::Cow;
use std::collections::VecDeque;

use smtp::{Address, Body, Command, MailParams, RcptParams, Reply};
use tokio::time::Instant;

use crate::data::{dot_stuff_block, normalize_crlf};
use crate::envelope::{Delivery, Envelope, NotAttempted, RecipientOutcome, Response};
use crate::error::{Error, Requirement};
use crate::session::Client;

/// Message data goes out in blocks of about this size (each with the data
/// block timeout); a BDAT chunk up to this size rides in the command batch.
const BLOCK: usize = 128 * 1024;

/// The message data in the form the transaction sends it.
enum Payload<'a> {
    /// DATA: dot-stuffed while writing.
    Data(&'a [u8]),
    /// BDAT: one chunk with CRLF line endings.
    Bdat(Cow<'a, [u8]>),
}

/// Command lines made once per delivery.
struct Prepared<'a> {
    mail: String,
    rcpts: Vec<String>,
    payload: Payload<'a>,
}

/// What one transaction decided.
struct TxResult {
    outcomes: Vec<(usize, RecipientOutcome)>,
    /// Deferred because of their number (452/552 after an accepted one).
    retry: Vec<usize>,
    /// The session ended during the transaction.
    ended: Option<Error>,
}

enum TxError {
    /// MAIL FROM was refused: it would be for every recipient.
    Mail(Error, Response),
    /// The session failed before any recipient got an answer.
    Session(Error),
}

/// Where a transaction stands while replies come in.
struct Progress {
    accepted: Vec<usize>,
    outcomes: Vec<(usize, RecipientOutcome)>,
    retry: Vec<usize>,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            accepted: Vec::new(),
            outcomes: Vec::new(),
            retry: Vec::new(),
        }
    }

    /// Every accepted recipient gets the same outcome.
    fn settle_accepted(&mut self, outcome: &RecipientOutcome) {
        for index in self.accepted.drain(..) {
            self.outcomes.push((index, outcome.clone()));
        }
    }

    /// The session ended: accepted recipients and those without an answer
    /// are not delivered.
    fn end(mut self, unanswered: &[usize], err: Error) -> TxResult {
        let outcome = RecipientOutcome::NotAttempted(NotAttempted::SessionEnded {
            reason: err.to_string(),
        });
        self.settle_accepted(&outcome);
        for &index in unanswered {
            self.outcomes.push((index, outcome.clone()));
        }
        TxResult {
            outcomes: self.outcomes,
            retry: self.retry,
            ended: Some(err),
        }
    }

    fn done(self) -> TxResult {
        TxResult {
            outcomes: self.outcomes,
            retry: self.retry,
            ended: None,
        }
    }
}

/// The address as it goes in a path: U-labels and UTF-8 only in an SMTPUTF8 transaction.
fn path(address: &Address, utf8: bool) -> String {
    if utf8 {
        return address.to_utf8_wire();
    }
    address
        .to_ascii_wire()
        .unwrap_or_else(|| address.to_utf8_wire())
}

impl Client {
    /// Delivers `message` to the envelope's recipients.
    ///
    /// Checked before anything is sent: the message fits the server's SIZE
    /// (else a permanent [`Error::Unsupported`]), 8BITMIME is offered when
    /// needed (permanent), SMTPUTF8 when needed (temporary), REQUIRETLS when
    /// requested and the session is TLS (temporary).
    ///
    /// With PIPELINING, MAIL, all RCPTs and DATA (or BDAT with a small
    /// message) go out in one write. LIMITS RCPTMAX splits the recipients
    /// into several transactions; recipients answered 452 or 552 after one
    /// was accepted are retried in a following transaction; MAILMAX stops
    /// before a transaction the server would not take
    /// ([`NotAttempted::MailMaxReached`]). DSN parameters are sent only when
    /// DSN is offered ([`Delivery::dsn_params_dropped`] otherwise). CHUNKING
    /// means BDAT, else DATA with dot-stuffing; line endings become CRLF.
    ///
    /// Returns `Err` when no recipient got an answer: a precondition failed,
    /// MAIL FROM was refused, or the session broke first. Otherwise every
    /// recipient has an outcome; see [`Delivery`].
    pub async fn deliver(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Delivery, Error> {
        self.check_usable()?;
        if self.mail_max_reached() {
            return Err(Error::Unusable {
                reason: format!(
                    "the server's MAILMAX of {} transactions is reached",
                    self.transactions
                ),
            });
        }
        if envelope.recipients.is_empty() {
            return Err(Error::Envelope {
                reason: "no recipients".to_string(),
            });
        }
        let prepared = self.prepare(envelope, message)?;
        let dsn_params_dropped = envelope.has_dsn_params() && !self.extensions.dsn;
        if dsn_params_dropped {
            tracing::debug!(target: "smtpclient", "server does not offer DSN, DSN parameters dropped");
        }

        let count = envelope.recipients.len();
        let mut outcomes: Vec<Option<RecipientOutcome>> = vec![None; count];
        let mut pending: VecDeque<usize> = (0..count).collect();
        let rcpt_max = self
            .extensions
            .limits
            .as_ref()
            .and_then(|l| l.rcpt_max)
            .map(|max| usize::try_from(max).unwrap_or(usize::MAX).max(1));
        let mut transactions = 0;
        let mut ended: Option<Error> = None;

        while !pending.is_empty() && !self.closed && !self.botched {
            if self.mail_max_reached() {
                for index in pending.drain(..) {
                    set(
                        &mut outcomes,
                        index,
                        RecipientOutcome::NotAttempted(NotAttempted::MailMaxReached),
                    );
                }
                break;
            }
            let take = rcpt_max.map_or(pending.len(), |max| max.min(pending.len()));
            let batch: Vec<usize> = pending.drain(..take).collect();
            transactions += 1;
            match self.transaction(&prepared, &batch).await {
                Ok(tx) => {
                    for (index, outcome) in tx.outcomes {
                        set(&mut outcomes, index, outcome);
                    }
                    for index in tx.retry.into_iter().rev() {
                        pending.push_front(index);
                    }
                    if let Some(err) = tx.ended {
                        ended = Some(err);
                        break;
                    }
                }
                Err(TxError::Mail(err, response)) => {
                    if !any_answer(&outcomes) {
                        return Err(err);
                    }
                    for index in batch.into_iter().chain(pending.drain(..)) {
                        set(
                            &mut outcomes,
                            index,
                            RecipientOutcome::Failed(response.clone()),
                        );
                    }
                    break;
                }
                Err(TxError::Session(err)) => {
                    ended = Some(err);
                    break;
                }
            }
        }

        if let Some(err) = ended.take() {
            if !any_answer(&outcomes) {
                return Err(err);
            }
            ended = Some(err);
        }
        let reason = ended.as_ref().map_or_else(
            || "the server closed the session".to_string(),
            Error::to_string,
        );
        let recipients = outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| {
                    RecipientOutcome::NotAttempted(NotAttempted::SessionEnded {
                        reason: reason.clone(),
                    })
                })
            })
            .collect();
        Ok(Delivery {
            recipients,
            dsn_params_dropped,
            transactions,
            error: ended,
        })
    }

    /// Checks the preconditions and builds the command lines.
    fn prepare<'a>(&self, envelope: &Envelope, message: &'a [u8]) -> Result<Prepared<'a>, Error> {
        let ext = &self.extensions;
        let payload = if ext.chunking {
            Payload::Bdat(normalize_crlf(message))
        } else {
            Payload::Data(message)
        };
        let size = envelope.size.unwrap_or(match &payload {
            Payload::Data(m) => m.len() as u64,
            Payload::Bdat(m) => m.len() as u64,
        });
        if envelope.requires_8bitmime && !ext.eight_bit_mime {
            return Err(Error::Unsupported {
                requirement: Requirement::EightBitMime,
            });
        }
        let utf8 = envelope.needs_smtputf8();
        if utf8 && !ext.smtputf8 {
            return Err(Error::Unsupported {
                requirement: Requirement::SmtpUtf8,
            });
        }
        if envelope.require_tls && (!ext.requiretls || self.tls().is_none()) {
            return Err(Error::Unsupported {
                requirement: Requirement::RequireTls,
            });
        }
        if let Some(limit) = ext.size
            && limit > 0
            && size > limit
        {
            return Err(Error::Unsupported {
                requirement: Requirement::Size { size, limit },
            });
        }

        let dsn = ext.dsn;
        let params = MailParams {
            size: ext.size.map(|_| size),
            body: ext.eight_bit_mime.then_some(if envelope.requires_8bitmime {
                Body::EightBitMime
            } else {
                Body::SevenBit
            }),
            smtputf8: utf8,
            requiretls: envelope.require_tls,
            ret: if dsn { envelope.ret } else { None },
            envid: if dsn { envelope.envid.clone() } else { None },
            hold_for: None,
            hold_until: None,
            auth: None,
            other: Vec::new(),
        };
        let from = envelope
            .reverse_path
            .as_ref()
            .map_or_else(String::new, |a| path(a, utf8));
        let mail = format!("MAIL FROM:<{from}>{}", params.to_wire());
        let rcpts = envelope
            .recipients
            .iter()
            .map(|r| {
                let params = if dsn {
                    RcptParams {
                        notify: r.notify,
                        orcpt: r.orcpt.clone(),
                        other: Vec::new(),
                    }
                    .to_wire()
                } else {
                    String::new()
                };
                format!("RCPT TO:<{}>{params}", path(&r.address, utf8))
            })
            .collect();
        Ok(Prepared {
            mail,
            rcpts,
            payload,
        })
    }

    fn response(&self, command: Command, reply: &Reply) -> Response {
        Response {
            command,
            code: reply.code,
            enhanced: self.enhanced(reply),
            lines: reply.lines.clone(),
            permanent: reply.is_permanent() && !(command == Command::RcptTo && reply.code == 552),
        }
    }

    /// Records a RCPT reply. Returns false when no further RCPT should be
    /// sent (a deferral after an accepted recipient, without pipelining).
    fn rcpt_reply(&self, index: usize, reply: &Reply, progress: &mut Progress) -> bool {
        if reply.is_success() {
            progress.accepted.push(index);
            return true;
        }
        if matches!(reply.code, 452 | 552) && !progress.accepted.is_empty() {
            tracing::debug!(target: "smtpclient", code = reply.code, "recipient deferred to a following transaction");
            progress.retry.push(index);
            return false;
        }
        progress.outcomes.push((
            index,
            RecipientOutcome::Failed(self.response(Command::RcptTo, reply)),
        ));
        true
    }

    async fn transaction(
        &mut self,
        p: &Prepared<'_>,
        batch: &[usize],
    ) -> Result<TxResult, TxError> {
        if self.extensions.pipelining {
            self.pipelined(p, batch).await
        } else {
            self.stepwise(p, batch).await
        }
    }

    async fn rset(&mut self, start: Instant) -> Result<(), TxError> {
        let timeout = self.config.timeouts.command;
        let reply = self
            .read(Command::Rset, timeout, start)
            .await
            .map_err(TxError::Session)?;
        if reply.code != 250 {
            self.botched = true;
            return Err(TxError::Session(self.rejected(Command::Rset, reply)));
        }
        self.need_rset = false;
        Ok(())
    }

    /// Handles the MAIL FROM reply; Err when refused.
    fn mail_reply(&self, reply: Reply) -> Result<(), TxError> {
        if reply.is_success() {
            return Ok(());
        }
        if reply.code == 421 || !(reply.is_transient() || reply.is_permanent()) {
            return Err(TxError::Session(self.rejected(Command::MailFrom, reply)));
        }
        let response = self.response(Command::MailFrom, &reply);
        Err(TxError::Mail(
            self.rejected(Command::MailFrom, reply),
            response,
        ))
    }

    async fn pipelined(&mut self, p: &Prepared<'_>, batch: &[usize]) -> Result<TxResult, TxError> {
        let timeouts = self.config.timeouts;
        let rset = self.need_rset;
        if rset {
            self.queue("RSET");
        }
        self.queue(&p.mail);
        for &index in batch {
            if let Some(line) = p.rcpts.get(index) {
                self.queue(line);
            }
        }
        let mut big_chunk = None;
        match &p.payload {
            Payload::Data(_) => self.queue("DATA"),
            Payload::Bdat(chunk) => {
                self.queue(&format!("BDAT {} LAST", chunk.len()));
                if chunk.len() <= BLOCK {
                    self.conn.wbuf.extend_from_slice(chunk);
                } else {
                    big_chunk = Some(chunk.as_ref());
                }
            }
        }
        self.need_rset = true;
        self.transactions += 1;
        let start = Instant::now();
        self.flush(Command::MailFrom, timeouts.mail)
            .await
            .map_err(TxError::Session)?;
        if let Some(chunk) = big_chunk {
            self.write_blocks(chunk, Command::Bdat)
                .await
                .map_err(TxError::Session)?;
        }
        if rset {
            self.rset(start).await?;
        }
        let mail = self
            .read(Command::MailFrom, timeouts.mail, start)
            .await
            .map_err(TxError::Session)?;
        if let Err(err) = self.mail_reply(mail) {
            // Read the rest of the batch's replies to stay in sync; the
            // server may close instead, which is no news after the refusal.
            self.drain_after_refusal(batch.len(), p, start).await;
            return Err(err);
        }

        let mut progress = Progress::new();
        for (position, &index) in batch.iter().enumerate() {
            let reply = match self.read(Command::RcptTo, timeouts.rcpt, start).await {
                Ok(reply) if reply.code == 421 => self.rejected(Command::RcptTo, reply),
                Ok(reply) => {
                    self.rcpt_reply(index, &reply, &mut progress);
                    continue;
                }
                Err(err) => err,
            };
            let unanswered = batch.get(position..).unwrap_or_default();
            return Ok(progress.end(unanswered, reply));
        }

        match &p.payload {
            Payload::Data(message) => self.data_after_pipeline(message, progress, start).await,
            Payload::Bdat(_) => {
                let reply = self.read(Command::Bdat, timeouts.data_end, start).await;
                Ok(self.final_reply(Command::Bdat, reply, progress))
            }
        }
    }

    /// After a refused MAIL FROM in a pipeline: read the RCPT and DATA/BDAT
    /// replies, answering a (wrong) 354 with a lone ".".
    async fn drain_after_refusal(&mut self, rcpts: usize, p: &Prepared<'_>, start: Instant) {
        let timeouts = self.config.timeouts;
        for _ in 0..rcpts {
            if self
                .read(Command::RcptTo, timeouts.rcpt, start)
                .await
                .is_err()
            {
                return;
            }
        }
        let command = match p.payload {
            Payload::Data(_) => Command::Data,
            Payload::Bdat(_) => Command::Bdat,
        };
        if let Ok(reply) = self.read(command, timeouts.data_command, start).await
            && reply.code == 354
        {
            self.resync_data().await;
        }
    }

    /// DATA got 354 though no recipient was accepted: end it with a lone ".".
    async fn resync_data(&mut self) {
        Self::trace_command(".");
        self.conn.queue_line(".");
        let timeouts = self.config.timeouts;
        if self.flush(Command::Data, timeouts.data_block).await.is_ok() {
            let _ = self
                .read(Command::Data, timeouts.data_end, Instant::now())
                .await;
        }
    }

    async fn data_after_pipeline(
        &mut self,
        message: &[u8],
        progress: Progress,
        start: Instant,
    ) -> Result<TxResult, TxError> {
        let timeouts = self.config.timeouts;
        let reply = self.read(Command::Data, timeouts.data_command, start).await;
        if progress.accepted.is_empty() {
            // Nothing to send. A server that closes now has said all it
            // had to say in its RCPT replies.
            match reply {
                Ok(reply) if reply.code == 354 => self.resync_data().await,
                Ok(_) => {}
                Err(_) => {
                    self.closed = true;
                }
            }
            return Ok(progress.done());
        }
        let reply = match reply {
            Ok(reply) => reply,
            Err(err) => return Ok(progress.end(&[], err)),
        };
        self.data_reply(message, reply, progress).await
    }

    /// Continues after the reply to DATA with accepted recipients.
    async fn data_reply(
        &mut self,
        message: &[u8],
        reply: Reply,
        mut progress: Progress,
    ) -> Result<TxResult, TxError> {
        if reply.code != 354 {
            if reply.is_transient() || reply.is_permanent() {
                let outcome = RecipientOutcome::Failed(self.response(Command::Data, &reply));
                progress.settle_accepted(&outcome);
                return Ok(progress.done());
            }
            self.botched = true;
            let err = Error::Protocol {
                command: Command::Data,
                reason: format!("expected 354 to DATA, got {}", reply.code),
            };
            return Ok(progress.end(&[], err));
        }
        if let Err(err) = self.write_dot_stuffed(message).await {
            return Ok(progress.end(&[], err));
        }
        let start = Instant::now();
        let reply = self
            .read(Command::Data, self.config.timeouts.data_end, start)
            .await;
        Ok(self.final_reply(Command::Data, reply, progress))
    }

    /// The reply to the end of the message data decides the accepted recipients.
    fn final_reply(
        &mut self,
        command: Command,
        reply: Result<Reply, Error>,
        mut progress: Progress,
    ) -> TxResult {
        let reply = match reply {
            Ok(reply) => reply,
            Err(err) => {
                if progress.accepted.is_empty() {
                    self.closed = true;
                    return progress.done();
                }
                return progress.end(&[], err);
            }
        };
        if progress.accepted.is_empty() {
            // BDAT sent in the pipeline for nobody: its refusal is expected.
            return progress.done();
        }
        self.need_rset = !reply.is_success();
        let response = self.response(command, &reply);
        let outcome = if reply.is_success() {
            RecipientOutcome::Delivered(response)
        } else {
            RecipientOutcome::Failed(response)
        };
        progress.settle_accepted(&outcome);
        progress.done()
    }

    async fn stepwise(&mut self, p: &Prepared<'_>, batch: &[usize]) -> Result<TxResult, TxError> {
        let timeouts = self.config.timeouts;
        if self.need_rset {
            self.queue("RSET");
            let start = Instant::now();
            self.flush(Command::Rset, timeouts.command)
                .await
                .map_err(TxError::Session)?;
            self.rset(start).await?;
        }
        self.need_rset = true;
        self.transactions += 1;
        let mail = self
            .command(&p.mail, Command::MailFrom, timeouts.mail)
            .await
            .map_err(TxError::Session)?;
        self.mail_reply(mail)?;

        let mut progress = Progress::new();
        for (position, &index) in batch.iter().enumerate() {
            let line = p.rcpts.get(index).map_or("", String::as_str);
            let err = match self.command(line, Command::RcptTo, timeouts.rcpt).await {
                Ok(reply) if reply.code == 421 => self.rejected(Command::RcptTo, reply),
                Ok(reply) => {
                    if !self.rcpt_reply(index, &reply, &mut progress) {
                        progress
                            .retry
                            .extend(batch.get(position + 1..).unwrap_or_default());
                        break;
                    }
                    continue;
                }
                Err(err) => err,
            };
            let unanswered = batch.get(position..).unwrap_or_default();
            return Ok(progress.end(unanswered, err));
        }
        if progress.accepted.is_empty() {
            return Ok(progress.done());
        }

        match &p.payload {
            Payload::Data(message) => {
                let reply = match self
                    .command("DATA", Command::Data, timeouts.data_command)
                    .await
                {
                    Ok(reply) => reply,
                    Err(err) => return Ok(progress.end(&[], err)),
                };
                self.data_reply(message, reply, progress).await
            }
            Payload::Bdat(chunk) => {
                self.queue(&format!("BDAT {} LAST", chunk.len()));
                let start = Instant::now();
                let written = if chunk.len() <= BLOCK {
                    self.conn.wbuf.extend_from_slice(chunk);
                    self.flush(Command::Bdat, timeouts.data_block).await
                } else {
                    match self.flush(Command::Bdat, timeouts.data_block).await {
                        Ok(()) => self.write_blocks(chunk, Command::Bdat).await,
                        Err(err) => Err(err),
                    }
                };
                if let Err(err) = written {
                    return Ok(progress.end(&[], err));
                }
                let reply = self.read(Command::Bdat, timeouts.data_end, start).await;
                Ok(self.final_reply(Command::Bdat, reply, progress))
            }
        }
    }

    fn queue(&mut self, line: &str) {
        Self::trace_command(line);
        self.conn.queue_line(line);
    }

    /// Writes message data as DATA needs it, block by block.
    async fn write_dot_stuffed(&mut self, message: &[u8]) -> Result<(), Error> {
        tracing::trace!(target: "smtpclient", "LC: (message data, {} octets)", message.len());
        let timeout = self.config.timeouts.data_block;
        let mut pos = 0;
        loop {
            self.conn.wbuf.clear();
            let rest = message.get(pos..).unwrap_or_default();
            pos += dot_stuff_block(rest, &mut self.conn.wbuf, BLOCK);
            self.flush(Command::Data, timeout).await?;
            if pos >= message.len() {
                return Ok(());
            }
        }
    }

    /// Writes a large BDAT chunk in blocks.
    async fn write_blocks(&mut self, chunk: &[u8], command: Command) -> Result<(), Error> {
        tracing::trace!(target: "smtpclient", "LC: (message data, {} octets)", chunk.len());
        let timeout = self.config.timeouts.data_block;
        for block in chunk.chunks(BLOCK) {
            self.write_data(block, command, timeout).await?;
        }
        Ok(())
    }
}

fn set(outcomes: &mut [Option<RecipientOutcome>], index: usize, outcome: RecipientOutcome) {
    if let Some(slot) = outcomes.get_mut(index) {
        *slot = Some(outcome);
    }
}

/// Whether any recipient has a server answer (not just "not attempted").
fn any_answer(outcomes: &[Option<RecipientOutcome>]) -> bool {
    outcomes.iter().any(|o| {
        matches!(
            o,
            Some(RecipientOutcome::Delivered(_) | RecipientOutcome::Failed(_))
        )
    })
}
