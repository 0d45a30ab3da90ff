//! Message data on the wire: DATA with dot-stuffing, BDAT without.

use std::borrow::Cow;

/// Appends the DATA form of `message` to `out`: every line ends in CRLF
/// (a bare LF becomes CRLF, a missing final line ending is added), a line
/// starting with "." gets another ".", and the terminating ".\r\n" follows.
///
/// Returns how many input bytes were consumed: it stops after the first
/// line that makes `out` reach `limit` bytes, so large messages go out in
/// blocks; call again with the rest until everything is consumed (the
/// terminator is appended only with the last block).
pub(crate) fn dot_stuff_block(message: &[u8], out: &mut Vec<u8>, limit: usize) -> usize {
    let mut pos = 0;
    while pos < message.len() {
        let rest = message.get(pos..).unwrap_or_default();
        let (line, consumed) = match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => (rest.get(..nl).unwrap_or_default(), nl + 1),
            None => (rest, rest.len()),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        pos += consumed;
        if out.len() >= limit {
            break;
        }
    }
    if pos >= message.len() {
        out.extend_from_slice(b".\r\n");
    }
    pos
}

/// The message with CRLF line endings (and a final CRLF) as BDAT sends it:
/// borrowed when it already has them.
pub(crate) fn normalize_crlf(message: &[u8]) -> Cow<'_, [u8]> {
    if is_crlf_clean(message) {
        return Cow::Borrowed(message);
    }
    let mut out = Vec::with_capacity(message.len() + message.len() / 32 + 2);
    let mut pos = 0;
    while pos < message.len() {
        let rest = message.get(pos..).unwrap_or_default();
        let (line, consumed) = match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => (rest.get(..nl).unwrap_or_default(), nl + 1),
            None => (rest, rest.len()),
        };
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.extend_from_slice(b"\r\n");
        pos += consumed;
    }
    Cow::Owned(out)
}

/// Every LF is preceded by CR and the message is empty or ends in CRLF.
fn is_crlf_clean(message: &[u8]) -> bool {
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        return false;
    }
    let mut prev = 0u8;
    for &b in message {
        if b == b'\n' && prev != b'\r' {
            return false;
        }
        prev = b;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuff(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let used = dot_stuff_block(message, &mut out, usize::MAX);
        assert_eq!(used, message.len());
        out
    }

    #[test]
    fn leading_dots_are_doubled_and_terminator_added() {
        assert_eq!(
            stuff(b"Subject: x\r\n\r\n.hidden\r\n..two\r\nmid.dle\r\n.\r\n"),
            b"Subject: x\r\n\r\n..hidden\r\n...two\r\nmid.dle\r\n..\r\n.\r\n".to_vec()
        );
    }

    #[test]
    fn bare_lf_becomes_crlf_and_final_line_ending_is_added() {
        assert_eq!(stuff(b"a\nb\r\nc"), b"a\r\nb\r\nc\r\n.\r\n".to_vec());
        assert_eq!(stuff(b".x"), b"..x\r\n.\r\n".to_vec());
    }

    #[test]
    fn empty_message_is_just_the_terminator() {
        assert_eq!(stuff(b""), b".\r\n".to_vec());
    }

    #[test]
    fn blocks_end_on_line_boundaries_and_concatenate() {
        let message = b"line one\r\n.line two\r\nline three\r\n";
        let mut out = Vec::new();
        let mut pos = 0;
        let mut blocks = 0;
        while pos < message.len() || blocks == 0 {
            let before = out.len();
            pos += dot_stuff_block(&message[pos..], &mut out, before + 5);
            blocks += 1;
        }
        assert_eq!(blocks, 3);
        assert_eq!(
            out,
            b"line one\r\n..line two\r\nline three\r\n.\r\n".to_vec()
        );
    }

    #[test]
    fn normalize_keeps_clean_messages_borrowed() {
        assert!(matches!(normalize_crlf(b"a\r\nb\r\n"), Cow::Borrowed(_)));
        assert_eq!(normalize_crlf(b"a\nb").as_ref(), b"a\r\nb\r\n");
        assert_eq!(normalize_crlf(b"").as_ref(), b"");
    }
}
