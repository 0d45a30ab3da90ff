//! A small scanner over the top-level header section of a raw message, for
//! the checks that need header names exactly as written.

/// The header fields before the first empty line: (name, unfolded value
/// without the leading space and line ends). Lines without a colon are
/// skipped; scanning stops at the end of the header section.
pub(crate) fn top_headers(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some((_, value)) = out.last_mut() {
                value.extend_from_slice(line);
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, rest) = line.split_at(colon);
        let value = rest.get(1..).unwrap_or_default();
        let start = value
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t'))
            .unwrap_or(value.len());
        let name = String::from_utf8_lossy(name).trim_end().to_string();
        out.push((name, value.get(start..).unwrap_or_default().to_vec()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolds_and_stops_at_the_body() {
        let h = top_headers(b"A: 1\r\nB:\t two\r\n  three\r\nnot a header\r\n\r\nC: body\r\n");
        assert_eq!(
            h,
            vec![
                ("A".to_string(), b"1".to_vec()),
                ("B".to_string(), b"two  three".to_vec())
            ]
        );
    }
}
