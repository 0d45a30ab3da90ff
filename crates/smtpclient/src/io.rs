//! Buffered reading of replies and writing of commands, with time limits.

use std::time::Duration;

use smtp::{Command, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::Error;
use crate::stream::BoxStream;

/// More unparsed input than the largest reply `smtp::parse_reply` accepts
/// (128 lines of 4096 octets) means the peer is not speaking SMTP.
const MAX_PENDING_INPUT: usize = 600 * 1024;

/// How much is read per system call.
const READ_CHUNK: usize = 8 * 1024;

/// A connection with a read buffer for replies and a write buffer in which
/// commands are collected and sent together.
pub(crate) struct Conn {
    stream: Option<BoxStream>,
    rbuf: Vec<u8>,
    rpos: usize,
    /// Commands (and small message data) waiting for [`Conn::flush`].
    pub(crate) wbuf: Vec<u8>,
}

impl Conn {
    pub(crate) fn new(stream: BoxStream) -> Conn {
        Conn {
            stream: Some(stream),
            rbuf: Vec::with_capacity(READ_CHUNK),
            rpos: 0,
            wbuf: Vec::with_capacity(16 * 1024),
        }
    }

    fn stream(&mut self, command: Command) -> Result<&mut BoxStream, Error> {
        self.stream.as_mut().ok_or(Error::Unusable {
            reason: format!("no stream for {command} after a failed TLS handshake"),
        })
    }

    /// Takes the stream for a TLS handshake. Fails when the server already
    /// sent more bytes (they would be plaintext injected before TLS).
    pub(crate) fn take_stream(&mut self, command: Command) -> Result<BoxStream, Error> {
        if self.rpos < self.rbuf.len() {
            return Err(Error::Protocol {
                command,
                reason: "server sent data after its reply to STARTTLS, before the TLS handshake"
                    .to_string(),
            });
        }
        self.stream.take().ok_or(Error::Unusable {
            reason: "no stream for the TLS handshake".to_string(),
        })
    }

    pub(crate) fn set_stream(&mut self, stream: BoxStream) {
        self.stream = Some(stream);
        self.rbuf.clear();
        self.rpos = 0;
    }

    /// Queues a command line (CRLF added).
    pub(crate) fn queue_line(&mut self, line: &str) {
        self.wbuf.extend_from_slice(line.as_bytes());
        self.wbuf.extend_from_slice(b"\r\n");
    }

    /// Writes the write buffer in one go and empties it.
    pub(crate) async fn flush(&mut self, command: Command, timeout: Duration) -> Result<(), Error> {
        let mut wbuf = std::mem::take(&mut self.wbuf);
        let result = self.write_all(&wbuf, command, timeout).await;
        wbuf.clear();
        self.wbuf = wbuf;
        result
    }

    /// Writes bytes directly (message data), then flushes the stream.
    pub(crate) async fn write_all(
        &mut self,
        bytes: &[u8],
        command: Command,
        timeout: Duration,
    ) -> Result<(), Error> {
        let stream = self.stream(command)?;
        let write = async {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Err(_) => Err(Error::Timeout { command, timeout }),
            Ok(Err(source)) => Err(Error::Io { command, source }),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Reads one reply. End of input before a complete reply is [`Error::Closed`].
    pub(crate) async fn read_reply(
        &mut self,
        command: Command,
        timeout: Duration,
    ) -> Result<Reply, Error> {
        match tokio::time::timeout(timeout, self.read_reply_inner(command)).await {
            Err(_) => Err(Error::Timeout { command, timeout }),
            Ok(result) => result,
        }
    }

    async fn read_reply_inner(&mut self, command: Command) -> Result<Reply, Error> {
        loop {
            let pending = self.rbuf.get(self.rpos..).unwrap_or_default();
            if !pending.is_empty() {
                match smtp::parse_reply(pending) {
                    Ok(Some((reply, used))) => {
                        self.rpos += used;
                        if self.rpos >= self.rbuf.len() {
                            self.rbuf.clear();
                            self.rpos = 0;
                        }
                        for line in &reply.lines {
                            tracing::trace!(target: "smtpclient", "RS: {} {}", reply.code, line);
                        }
                        return Ok(reply);
                    }
                    Ok(None) => {}
                    Err(err) => {
                        return Err(Error::Protocol {
                            command,
                            reason: err.to_string(),
                        });
                    }
                }
                if pending.len() > MAX_PENDING_INPUT {
                    return Err(Error::Protocol {
                        command,
                        reason: format!("reply longer than {MAX_PENDING_INPUT} octets"),
                    });
                }
            }
            if self.rpos > 0 {
                self.rbuf.drain(..self.rpos);
                self.rpos = 0;
            }
            self.rbuf.reserve(READ_CHUNK);
            let Some(stream) = self.stream.as_mut() else {
                return Err(Error::Unusable {
                    reason: format!("no stream to read the reply to {command}"),
                });
            };
            let n = stream
                .read_buf(&mut self.rbuf)
                .await
                .map_err(|source| Error::Io { command, source })?;
            if n == 0 {
                return Err(Error::Closed { command });
            }
        }
    }

    /// Shuts the stream down (best effort).
    pub(crate) async fn shutdown(&mut self, timeout: Duration) {
        if let Some(mut stream) = self.stream.take() {
            let _ = tokio::time::timeout(timeout, stream.shutdown()).await;
        }
    }
}
