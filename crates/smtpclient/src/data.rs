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
    // Runs of ordinary lines (CRLF-terminated, not starting with '.') are
    // copied as one slice; only a line that needs a byte added or changed is
    // copied on its own. Line ends are found with memchr, so a typical
    // message costs one vectorised scan and a few large copies.
    let mut pos = 0; // start of the next line
    let mut pending = 0; // start of the bytes not yet copied to `out`
    while pos < message.len() {
        let rest = message.get(pos..).unwrap_or_default();
        let (end, next) = match memchr::memchr(b'\n', rest) {
            Some(nl) => (pos + nl, pos + nl + 1),
            None => (message.len(), message.len()),
        };
        let ends_in_cr = end > pos && message.get(end - 1) == Some(&b'\r');
        let crlf_terminated = ends_in_cr && next > end;
        let leading_dot = message.get(pos) == Some(&b'.');
        if leading_dot || !crlf_terminated {
            out.extend_from_slice(message.get(pending..pos).unwrap_or_default());
            if leading_dot {
                out.push(b'.');
            }
            let content_end = if ends_in_cr { end - 1 } else { end };
            out.extend_from_slice(message.get(pos..content_end).unwrap_or_default());
            out.extend_from_slice(b"\r\n");
            pending = next;
        }
        pos = next;
        if out.len() + (pos - pending) >= limit {
            break;
        }
    }
    out.extend_from_slice(message.get(pending..pos).unwrap_or_default());
    if pos >= message.len() {
        out.extend_from_slice(b".\r\n");
    }
    pos
}

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

    /// The straightforward line-by-line form, as an oracle for the fast one.
    fn stuff_line_by_line(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, line) in message.split(|&b| b == b'\n').enumerate() {
            let last = i == message.split(|&b| b == b'\n').count() - 1;
            if last && line.is_empty() {
                break;
            }
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        out
    }

    proptest::proptest! {
        #[test]
        fn fast_stuffing_matches_line_by_line(
            message in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'.', b'\r', b'\n', b' ']), 0..200),
            limit in 1usize..64,
        ) {
            proptest::prop_assert_eq!(stuff(&message), stuff_line_by_line(&message));
            // In blocks, as the DATA writer calls it: each call stops after
            // the line that reaches `limit`, the next continues there.
            let mut out = Vec::new();
            let mut pos = 0;
            loop {
                let mut block = Vec::new();
                pos += dot_stuff_block(&message[pos..], &mut block, limit);
                out.extend_from_slice(&block);
                if pos >= message.len() {
                    break;
                }
            }
            proptest::prop_assert_eq!(out, stuff_line_by_line(&message));
        }
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
