//! Buffered, bounded reading of commands and message data, and batched
//! writing of replies: replies are flushed only when the server needs more
//! input, so a pipelined batch of commands gets its replies in one write.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_rustls::server::TlsStream;

use crate::error::ServeError;

/// How much is read from the connection at once.
const READ_CHUNK: usize = 16 * 1024;
/// Message data without a line end is passed on once this much is buffered.
const PARTIAL_DATA: usize = 8 * 1024;

/// The connection, before or after TLS.
pub(crate) enum Conn<S> {
    Plain(S),
    Tls(Box<TlsStream<S>>),
    /// Only while a handshake has the stream.
    Gone,
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "connection lost during TLS setup",
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Conn<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Gone => Poll::Ready(Err(gone())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Conn<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Conn::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// One command line, or why there is none.
pub(crate) enum LineRead {
    /// The line without CR LF.
    Line(Vec<u8>),
    /// The line was longer than allowed; it has been skipped.
    TooLong,
    /// The client closed the connection.
    Eof,
}

/// Message data read up to the end marker.
pub(crate) struct DataRead {
    /// The unstuffed data (incomplete when `too_large`).
    pub data: Vec<u8>,
    /// More than the allowed size was sent.
    pub too_large: bool,
}

pub(crate) struct Io<S> {
    pub conn: Conn<S>,
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Io<S> {
    pub fn new(conn: Conn<S>) -> Io<S> {
        Io {
            conn,
            rbuf: Vec::new(),
            rpos: 0,
            wbuf: Vec::new(),
        }
    }

    /// Queues bytes for the next flush.
    pub fn queue(&mut self, bytes: &[u8]) {
        self.wbuf.extend_from_slice(bytes);
    }

    /// Writes queued replies.
    pub async fn flush(&mut self, timeout: Duration) -> Result<(), ServeError> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let write = async {
            self.conn.write_all(&self.wbuf).await?;
            self.conn.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(result) => result?,
            Err(_) => return Err(ServeError::Timeout { what: "writing" }),
        }
        self.wbuf.clear();
        Ok(())
    }

    /// Octets received but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.rbuf.len().saturating_sub(self.rpos)
    }

    /// Drops input received but not consumed; returns how much.
    pub fn discard_input(&mut self) -> usize {
        let n = self.buffered();
        self.rbuf.clear();
        self.rpos = 0;
        n
    }

    fn available(&self) -> &[u8] {
        self.rbuf.get(self.rpos..).unwrap_or(&[])
    }

    /// Flushes replies, then reads more input. Returns 0 at EOF.
    async fn fill(&mut self, timeout: Duration, what: &'static str) -> Result<usize, ServeError> {
        self.flush(timeout).await?;
        if self.rpos > 0 {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        self.rbuf.reserve(READ_CHUNK);
        // read_buf appends into spare capacity, so a cancelled read (e.g. by
        // a shutdown signal) leaves the buffer as it was.
        match tokio::time::timeout(timeout, self.conn.read_buf(&mut self.rbuf)).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(ServeError::Timeout { what }),
        }
    }

    /// Reads one line of at most `max` octets including its line end.
    pub async fn read_line(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<LineRead, ServeError> {
        let mut skipping = false;
        loop {
            let avail = self.available();
            if let Some(i) = avail.iter().position(|b| *b == b'\n') {
                let raw = avail.get(..i).unwrap_or(&[]);
                let line = raw.strip_suffix(b"\r").unwrap_or(raw).to_vec();
                self.rpos += i + 1;
                if skipping || i + 1 > max {
                    return Ok(LineRead::TooLong);
                }
                return Ok(LineRead::Line(line));
            }
            if avail.len() > max {
                // Bounded: drop what we have and skip to the line end.
                skipping = true;
                self.rpos = self.rbuf.len();
            }
            if self.fill(timeout, "a command").await? == 0 {
                return Ok(LineRead::Eof);
            }
        }
    }

    /// Reads exactly `size` octets (a BDAT chunk), appending them to `keep`
    /// when given and discarding them otherwise.
    pub async fn read_chunk(
        &mut self,
        size: u64,
        mut keep: Option<&mut Vec<u8>>,
        timeout: Duration,
    ) -> Result<(), ServeError> {
        let mut remaining = size;
        loop {
            let avail = self.available();
            let take = usize::try_from(remaining)
                .unwrap_or(usize::MAX)
                .min(avail.len());
            if let Some(keep) = keep.as_deref_mut() {
                keep.extend_from_slice(avail.get(..take).unwrap_or(&[]));
            }
            self.rpos += take;
            remaining -= take as u64;
            if remaining == 0 {
                return Ok(());
            }
            if self.fill(timeout, "a BDAT chunk").await? == 0 {
                return Err(ServeError::Closed {
                    state: "reading a BDAT chunk",
                });
            }
        }
    }

    /// Reads DATA content up to CR LF . CR LF, undoing dot-stuffing. Keeps at
    /// most `max` octets; the rest is read and dropped.
    ///
    /// Only CR LF . CR LF ends the data (a bare LF never does, against SMTP
    /// smuggling), and lines ending in a bare LF are stored with CR LF, as
    /// Postfix's `smtpd_forbid_bare_newline = normalize` does: the stored
    /// message is canonical and a relayed copy is dot-stuffed correctly.
    pub async fn read_data(&mut self, max: u64, timeout: Duration) -> Result<DataRead, ServeError> {
        let mut out = DataRead {
            data: Vec::new(),
            too_large: false,
        };
        let mut line_start = true;
        loop {
            let avail = self.available();
            let (piece_len, complete) = match avail.iter().position(|b| *b == b'\n') {
                Some(i) => (i + 1, true),
                None if avail.len() >= PARTIAL_DATA => {
                    // Keep a trailing CR: its LF may be in the next read.
                    let keep = usize::from(avail.last() == Some(&b'\r'));
                    (avail.len() - keep, false)
                }
                None => (0, false),
            };
            if piece_len > 0 {
                let piece = avail.get(..piece_len).unwrap_or(&[]);
                if line_start && complete && piece == b".\r\n" {
                    self.rpos += piece_len;
                    return Ok(out);
                }
                let content = match piece.split_first() {
                    Some((b'.', rest)) if line_start => rest,
                    _ => piece,
                };
                let bare_lf = complete && !content.ends_with(b"\r\n");
                let added = content.len() + usize::from(bare_lf);
                if !out.too_large {
                    if (out.data.len() + added) as u64 > max {
                        out.too_large = true;
                        out.data = Vec::new();
                    } else if bare_lf {
                        let body = content.strip_suffix(b"\n").unwrap_or(content);
                        out.data.extend_from_slice(body);
                        out.data.extend_from_slice(b"\r\n");
                    } else {
                        out.data.extend_from_slice(content);
                    }
                }
                self.rpos += piece_len;
                line_start = complete;
                continue;
            }
            if self.fill(timeout, "message data").await? == 0 {
                return Err(ServeError::Closed {
                    state: "reading message data",
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const T: Duration = Duration::from_secs(5);

    async fn io_with(input: &[u8]) -> Io<tokio::io::DuplexStream> {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        b.write_all(input).await.unwrap();
        drop(b);
        Io::new(Conn::Plain(a))
    }

    #[tokio::test]
    async fn data_is_unstuffed_and_ends_at_dot_line() {
        let mut io = io_with(b"a\r\n..b\r\n.\r\nNOOP\r\n").await;
        let d = io.read_data(100, T).await.unwrap();
        assert_eq!(d.data, b"a\r\n.b\r\n");
        assert!(!d.too_large);
        assert!(matches!(io.read_line(100, T).await.unwrap(), LineRead::Line(l) if l == b"NOOP"));
    }

    #[tokio::test]
    async fn bare_lf_does_not_end_data_and_is_normalized() {
        let mut io = io_with(b"a\n.\nMAIL FROM:<x@y.example>\r\n.\r\n").await;
        let d = io.read_data(100, T).await.unwrap();
        assert_eq!(d.data, b"a\r\n\r\nMAIL FROM:<x@y.example>\r\n");
    }

    #[tokio::test]
    async fn long_lines_are_passed_in_pieces_and_size_is_bounded() {
        let mut input = vec![b'x'; 20_000];
        input.extend_from_slice(b"\r\n.\r\n");
        let mut io = io_with(&input).await;
        let d = io.read_data(30_000, T).await.unwrap();
        assert_eq!(d.data.len(), 20_002);
        let mut io = io_with(&input).await;
        let d = io.read_data(10_000, T).await.unwrap();
        assert!(d.too_large);
        assert!(d.data.is_empty());
    }

    #[tokio::test]
    async fn too_long_command_line_is_skipped() {
        let mut input = vec![b'A'; 5000];
        input.extend_from_slice(b"\r\nQUIT\r\n");
        let mut io = io_with(&input).await;
        assert!(matches!(
            io.read_line(512, T).await.unwrap(),
            LineRead::TooLong
        ));
        assert!(matches!(io.read_line(512, T).await.unwrap(), LineRead::Line(l) if l == b"QUIT"));
        assert!(matches!(io.read_line(512, T).await.unwrap(), LineRead::Eof));
    }
}
