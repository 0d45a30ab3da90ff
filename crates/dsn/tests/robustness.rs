#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The parsers are pure functions of untrusted bytes: they must never panic,
//! whatever arrives. These properties are also the fuzzing entry points
//! (`dsn::parse`, `dsn::parse_status`, `dsn::analyze`).

use std::path::PathBuf;

use proptest::prelude::*;

fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(load)
}

fn load() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/eml");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

fn exercise(bytes: &[u8]) {
    let _ = dsn::parse(bytes);
    let a = dsn::analyze(bytes);
    // a non-bounce never reports a failure
    if a.kind != dsn::MessageKind::Bounce {
        assert_eq!(a.failures().count(), 0);
    }
    let text = String::from_utf8_lossy(bytes);
    let _ = dsn::parse_status(&text, false);
    let _ = dsn::parse_status(&text, true);
    let _ = dsn::classify(None, None, &text);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn report_shaped_text_never_panics(
        fields in proptest::collection::vec(
            (
                prop_oneof![
                    Just("Final-Recipient"), Just("Original-Recipient"), Just("Action"), Just("Status"),
                    Just("Diagnostic-Code"), Just("Reporting-MTA"), Just("Remote-MTA"), Just("Arrival-Date"),
                    Just("Will-Retry-Until"), Just("X-Other"),
                ],
                "[ -~\u{e9}\u{5c0f}]{0,40}",
                any::<bool>(),
            ),
            0..24,
        )
    ) {
        let mut body = String::new();
        for (name, value, blank) in fields {
            body.push_str(&format!("{name}: {value}\r\n"));
            if blank {
                body.push_str("\r\n");
            }
        }
        let msg = format!(
            "From: MAILER-DAEMON@mx.example\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n{body}\r\n--b--\r\n"
        );
        exercise(msg.as_bytes());
    }

    #[test]
    fn mutated_corpus_messages_never_panic(
        index in 0usize..1000,
        cut in 0usize..100_000,
        flips in proptest::collection::vec((0usize..100_000, any::<u8>()), 0..16),
    ) {
        let all = corpus();
        let mut m = all[index % all.len()].clone();
        for (pos, byte) in flips {
            if !m.is_empty() {
                let n = m.len();
                m[pos % n] = byte;
            }
        }
        m.truncate(cut % (m.len() + 1));
        exercise(&m);
    }
}

#[test]
fn every_corpus_prefix_of_one_message_is_handled() {
    let all = corpus();
    let m = &all[0];
    for end in (0..m.len()).step_by(7) {
        exercise(&m[..end]);
    }
}

/// Found by fuzzing: corrupt MIME nesting trips a `debug_assert!` inside
/// mail-parser 0.11.9; the crate must still return, in debug builds too.
#[test]
fn corrupt_mime_nesting_found_by_fuzzing_does_not_panic() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz-crash-mail-parser-nesting.eml");
    let bytes = std::fs::read(path).unwrap();
    // what comes out differs between debug and release builds of
    // mail-parser; that something comes out is the point
    exercise(&bytes);
}
