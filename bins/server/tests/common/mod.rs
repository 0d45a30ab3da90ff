//! Shared test helpers: a line-level SMTP client that returns replies as
//! they are on the wire.
#![allow(dead_code)]

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Raw {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    pub async fn connect(addr: std::net::SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (r, w) = stream.into_split();
        let mut raw = Raw {
            reader: BufReader::new(r),
            writer: w,
        };
        let greeting = raw.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        raw
    }

    /// One reply, all lines joined with "\n", without CRLF.
    pub async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).await.unwrap();
            assert!(n > 0, "connection closed after {lines:?}");
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                break;
            }
        }
        lines.join("\n")
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    /// EHLO and AUTH PLAIN.
    pub async fn login(&mut self, user: &str, password: &str) {
        let ehlo = self.cmd("EHLO client.example").await;
        assert!(ehlo.starts_with("250"), "{ehlo}");
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        let r = self.cmd(&format!("AUTH PLAIN {token}")).await;
        assert_eq!(r, "235 2.7.0 authentication successful");
    }

    /// DATA with the message (lines in CRLF form, dot-stuffing left to the caller).
    pub async fn data(&mut self, message: &str) -> String {
        let r = self.cmd("DATA").await;
        assert!(r.starts_with("354"), "{r}");
        self.writer.write_all(message.as_bytes()).await.unwrap();
        self.writer.write_all(b".\r\n").await.unwrap();
        self.reply().await
    }
}
