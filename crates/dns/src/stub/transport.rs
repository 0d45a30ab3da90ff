//! One query/response exchange with one server, over UDP or TCP.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use super::message::answers_query;

/// Why an exchange gave no usable response.
pub(crate) type ExchangeError = String;

/// Largest DNS message: TCP's two-byte length and UDP's maximum both bound it.
const MAX_MESSAGE: usize = 65535;

/// Sends `query` over UDP and waits for a matching response until
/// `timeout`. Datagrams that do not answer the query (wrong id or question,
/// undecodable with another id) are ignored, as they may be forged or late
/// answers to earlier queries.
pub(crate) async fn udp_exchange(
    server: SocketAddr,
    query: &Message,
    wire: &[u8],
    timeout: Duration,
) -> Result<Message, ExchangeError> {
    let deadline = Instant::now() + timeout;
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("udp bind: {e}"))?;
    // Connecting filters datagrams from other sources and surfaces ICMP
    // port-unreachable as an error instead of a timeout.
    socket
        .connect(server)
        .await
        .map_err(|e| format!("udp connect to {server}: {e}"))?;
    socket
        .send(wire)
        .await
        .map_err(|e| format!("udp send to {server}: {e}"))?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let n = match timeout_at(deadline, socket.recv(&mut buf)).await {
            Err(_) => return Err(format!("timeout waiting for {server}")),
            Ok(Err(e)) => return Err(format!("udp receive from {server}: {e}")),
            Ok(Ok(n)) => n,
        };
        let data = buf.get(..n).unwrap_or_default();
        match Message::from_vec(data) {
            Ok(response) if answers_query(query, &response) => return Ok(response),
            Ok(response) => {
                tracing::debug!(target: "dns", %server, id = response.metadata.id, "ignoring response that does not match the query");
            }
            Err(e) if data.get(..2) == Some(&query.metadata.id.to_be_bytes()[..]) => {
                return Err(format!("malformed response from {server}: {e}"));
            }
            Err(_) => {
                tracing::debug!(target: "dns", %server, "ignoring undecodable datagram");
            }
        }
    }
}

/// Sends `query` over TCP (two-byte length prefix, RFC 1035 §4.2.2).
pub(crate) async fn tcp_exchange(
    server: SocketAddr,
    query: &Message,
    wire: &[u8],
    timeout: Duration,
) -> Result<Message, ExchangeError> {
    let deadline = Instant::now() + timeout;
    let len = u16::try_from(wire.len()).map_err(|_| "query too large for tcp".to_owned())?;
    let io = async {
        let mut stream = TcpStream::connect(server)
            .await
            .map_err(|e| format!("tcp connect to {server}: {e}"))?;
        let mut out = Vec::with_capacity(wire.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(wire);
        stream
            .write_all(&out)
            .await
            .map_err(|e| format!("tcp send to {server}: {e}"))?;
        let mut len_buf = [0u8; 2];
        stream
            .read_exact(&mut len_buf)
            .await
            .map_err(|e| format!("tcp receive from {server}: {e}"))?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len_buf))];
        stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| format!("tcp receive from {server}: {e}"))?;
        let response = Message::from_vec(&buf)
            .map_err(|e| format!("malformed response from {server}: {e}"))?;
        if !answers_query(query, &response) {
            return Err(format!(
                "tcp response from {server} does not match the query"
            ));
        }
        Ok(response)
    };
    match timeout_at(deadline, io).await {
        Ok(result) => result,
        Err(_) => Err(format!("timeout waiting for {server} over tcp")),
    }
}
