//! Byte streams the client runs SMTP over.

use tokio::io::{AsyncRead, AsyncWrite};

/// A bidirectional byte stream: a TCP connection, a SOCKS5 tunnel, or an
/// in-memory pipe in tests. Anything that is `AsyncRead + AsyncWrite` works.
pub trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncStream for T {}

/// A boxed stream, as a [`Dialer`](crate::dial::Dialer) returns it.
pub type BoxStream = Box<dyn AsyncStream>;
