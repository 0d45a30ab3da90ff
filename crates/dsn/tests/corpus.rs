#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
//! Scores `dsn::analyze` on the vendored Sisimai bounce corpus exactly as the
//! corpus README describes, prints the shares and asserts the targets.
//!
//! Sisimai's reason classes map onto ours like this (the README's table):
//!
//! | ours        | Sisimai |
//! |-------------|---------|
//! | userUnknown | userunknown, hasmoved, suspend |
//! | mailboxFull | mailboxfull, exceedlimit |
//! | policy      | filtered, spamdetected, policyviolation, blocked, rejected, badreputation, requireptr, virusdetected, contenterror, norelaying, notaccept, authfailure, speeding, toomanyconn |
//! | hostUnknown | hostunknown |
//! | expired     | expired |
//! | tooLarge    | mesgtoobig |
//! | security    | securityerror, failedstarttls |
//! | other       | networkerror, systemerror, mailererror, syntaxerror, notcompliantrfc |
//!
//! Rows with reason feedback, vacation or delivered must yield no failure;
//! onhold and undefined rows are not scored.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dsn::{Reason, analyze};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn ours(sisimai: &str) -> Option<Reason> {
    Some(match sisimai {
        "userunknown" | "hasmoved" | "suspend" => Reason::UserUnknown,
        "mailboxfull" | "exceedlimit" => Reason::MailboxFull,
        "filtered" | "spamdetected" | "policyviolation" | "blocked" | "rejected"
        | "badreputation" | "requireptr" | "virusdetected" | "contenterror" | "norelaying"
        | "notaccept" | "authfailure" | "speeding" | "toomanyconn" => Reason::Policy,
        "hostunknown" => Reason::HostUnknown,
        "expired" => Reason::Expired,
        "mesgtoobig" => Reason::TooLarge,
        "securityerror" | "failedstarttls" => Reason::Security,
        "networkerror" | "systemerror" | "mailererror" | "syntaxerror" | "notcompliantrfc" => {
            Reason::Other
        }
        _ => return None,
    })
}

fn tsv(name: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(data().join(name))
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn file_path(file: &str) -> PathBuf {
    let p = data().join("eml").join(file);
    if p.exists() { p } else { data().join(file) }
}

/// Whether an expected status is Sisimai's own invention (X.0.9NN) or the
/// unspecific X.0.0, for which only the class is compared.
fn class_only(expected: &str) -> bool {
    let parts: Vec<&str> = expected.split('.').collect();
    matches!(parts.as_slice(), [_, "0", d] if *d == "0" || (d.len() == 3 && d.starts_with('9')))
}

#[derive(Default)]
struct Score {
    scored: usize,
    ok: usize,
}

impl Score {
    fn add(&mut self, ok: bool) {
        self.scored += 1;
        self.ok += usize::from(ok);
    }
    fn share(&self) -> f64 {
        if self.scored == 0 {
            1.0
        } else {
            self.ok as f64 / self.scored as f64
        }
    }
}

#[test]
fn corpus_scores_meet_targets_and_non_bounces_never_fail() {
    let expected = tsv("expected.tsv");
    let cross = tsv("sisimai-perl-crosscheck.tsv");
    let mut cross_by_file: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for row in &cross {
        cross_by_file
            .entry(row[0].as_str())
            .or_default()
            .push(row[1].as_str());
    }
    let mut rows_by_file: BTreeMap<&str, Vec<&Vec<String>>> = BTreeMap::new();
    for row in &expected {
        rows_by_file.entry(row[0].as_str()).or_default().push(row);
    }

    let (mut rcpt, mut status, mut reason) = (Score::default(), Score::default(), Score::default());
    // printed for information only: Sisimai's hard_bounce column
    let mut hard = Score::default();
    let mut non_bounce_failures = Vec::new();
    let mut misses = Vec::new();
    for (file, rows) in &rows_by_file {
        let bytes = std::fs::read(file_path(file)).unwrap();
        let a = analyze(&bytes);
        for (pos, row) in rows.iter().enumerate() {
            let exp_reason = row[5].as_str();
            if matches!(exp_reason, "feedback" | "vacation" | "delivered") {
                if a.failures().count() > 0 {
                    non_bounce_failures.push(format!("{file}: {:?}", a.kind));
                }
                continue;
            }
            if matches!(exp_reason, "onhold" | "undefined") {
                continue;
            }
            let got = a.recipients.get(pos);
            if let Some(want) = cross_by_file
                .get(file)
                .and_then(|v| v.get(pos))
                .filter(|w| w.contains('@'))
            {
                let ok = got
                    .and_then(|g| g.recipient.as_deref())
                    .is_some_and(|g| g.eq_ignore_ascii_case(want));
                rcpt.add(ok);
                if !ok {
                    misses.push(format!(
                        "rcpt   {file}#{pos}: want {want}, got {:?}",
                        got.map(|g| &g.recipient)
                    ));
                }
            }
            let exp_status = row[3].as_str();
            if !exp_status.is_empty() {
                let got_status = got
                    .and_then(|g| g.status.as_ref())
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                let ok = got_status.get(..1) == exp_status.get(..1)
                    && (class_only(exp_status) || got_status == exp_status);
                status.add(ok);
                if !ok {
                    misses.push(format!(
                        "status {file}#{pos}: want {exp_status}, got {got_status}"
                    ));
                }
            }
            if let Some(g) = got {
                hard.add(g.hard == (row[6] == "true"));
            }
            if let Some(want) = ours(exp_reason) {
                let ok = got.is_some_and(|g| g.reason == want);
                reason.add(ok);
                if !ok {
                    misses.push(format!(
                        "reason {file}#{pos}: want {want} ({exp_reason}), got {:?} from {:?}",
                        got.map(|g| g.reason),
                        got.and_then(|g| g.diagnostic.as_deref())
                            .map(|d| d.chars().take(160).collect::<String>())
                    ));
                }
            }
        }
    }
    let not_bounce = analyze(&std::fs::read(data().join("is-not-bounce-01.eml")).unwrap());
    if not_bounce.failures().count() > 0 {
        non_bounce_failures.push(format!("is-not-bounce-01.eml: {:?}", not_bounce.kind));
    }

    for m in &misses {
        println!("{m}");
    }
    println!(
        "recipient {}/{} = {:.1}%, status {}/{} = {:.1}%, reason {}/{} = {:.1}%",
        rcpt.ok,
        rcpt.scored,
        rcpt.share() * 100.0,
        status.ok,
        status.scored,
        status.share() * 100.0,
        reason.ok,
        reason.scored,
        reason.share() * 100.0
    );
    println!(
        "hard-bounce flag agrees with Sisimai on {}/{} = {:.1}% (information, not a target)",
        hard.ok,
        hard.scored,
        hard.share() * 100.0
    );
    assert!(
        non_bounce_failures.is_empty(),
        "non-bounces reported failures: {non_bounce_failures:?}"
    );
    assert!(rcpt.share() >= 0.95, "recipient share {:.3}", rcpt.share());
    assert!(status.share() >= 0.95, "status share {:.3}", status.share());
    assert!(reason.share() >= 0.90, "reason share {:.3}", reason.share());
}
