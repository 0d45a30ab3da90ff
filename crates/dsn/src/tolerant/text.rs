//! The shared extractor for text bounces: find where the list of failed
//! recipients starts (the family's phrase), where the returned original
//! begins, the recipient lines in between, and the words that follow each.

use super::family::{COMMON_END, FORMATS, Format};
use super::{BounceRecipient, Ctx, Raw, finish, scan};

/// Lines of the human text looked at.
const MAX_LINES: usize = 2000;
/// Lines of diagnostic text kept per recipient.
const MAX_DIAG_LINES: usize = 24;

fn is_end(line: &str, format: Option<&Format>) -> bool {
    let l = line.trim().to_ascii_lowercase();
    COMMON_END.iter().any(|e| l.starts_with(e))
        || format.is_some_and(|f| f.end.iter().any(|e| l.starts_with(e)))
        || FORMATS
            .iter()
            .any(|f| f.end.iter().any(|e| l.starts_with(e)))
}

/// Labels that may stand before a recipient address on its line.
const RECIPIENT_LABELS: &[&str] = &[
    "rcpt to",
    "recipient",
    "recipients",
    "to",
    "address",
    "failed recipient",
    "original-recipient",
    "final-recipient",
    "invalid recipient",
    "unknown recipient",
    "addressee",
];

/// Whether the address stands at the start of the line: only white space,
/// brackets, quotes, bullets, `>>>` or a recipient label before it.
fn at_line_start(line: &str, start: usize) -> bool {
    let before = line.get(..start).unwrap_or("");
    let stripped = before.trim_matches(|c: char| c.is_whitespace() || "<\"'*>-•:[(".contains(c));
    if stripped.is_empty() {
        return true;
    }
    // "Recipient: <a@b>", "RCPT To:<a@b>", "To: a@b"
    let label = before.trim_end().trim_end_matches(['<', '"']).trim_end();
    let Some(label) = label.strip_suffix(':') else {
        return false;
    };
    let label = label
        .trim_start_matches(|c: char| c.is_whitespace() || c == '>')
        .trim()
        .to_ascii_lowercase();
    RECIPIENT_LABELS.contains(&label.as_str())
}

/// The returned original when it is pasted into the text after a marker
/// line: the header lines from the first `Name: value` line on.
pub(super) fn inline_original(human: &str) -> Option<&str> {
    let mut offset = 0usize;
    let mut seen_end = false;
    for line in human.split_inclusive('\n') {
        if !seen_end && is_end(line, None) {
            seen_end = true;
            let l = line.trim().to_ascii_lowercase();
            let header_like = l
                .split_once(':')
                .is_some_and(|(n, _)| !n.is_empty() && !n.contains(' '));
            if !header_like {
                offset += line.len();
                continue;
            }
        }
        if seen_end {
            let t = line.trim_end();
            if t.split_once(':')
                .is_some_and(|(n, _)| !n.is_empty() && !n.contains(' ') && !n.starts_with('-'))
            {
                return human.get(offset..);
            }
        }
        offset += line.len();
    }
    None
}

fn excluded(ctx: &Ctx<'_>, addr: &str) -> bool {
    let a = addr.to_ascii_lowercase();
    ctx.exclude.contains(&a)
}

/// Recipients named by a text bounce.
pub(super) fn recipients(ctx: &Ctx<'_>, format: Option<&Format>) -> Vec<BounceRecipient> {
    let lines: Vec<&str> = ctx.human.lines().take(MAX_LINES).collect();
    let lower: Vec<String> = lines.iter().map(|l| l.to_ascii_lowercase()).collect();
    let starts: Vec<&str> = match format {
        Some(f) if !f.start.is_empty() => f.start.to_vec(),
        _ => FORMATS
            .iter()
            .flat_map(|f| f.start.iter().copied())
            .collect(),
    };
    let begin = lower
        .iter()
        .position(|l| starts.iter().any(|s| l.contains(s)))
        .unwrap_or(0);
    let end = lines
        .iter()
        .enumerate()
        .skip(begin + 1)
        .find(|(_, l)| is_end(l, format))
        .map_or(lines.len(), |(i, _)| i);

    // Recipient lines: an address at the start of a line.
    let mut found: Vec<(usize, String)> = Vec::new();
    for (i, line) in lines.iter().enumerate().take(end).skip(begin) {
        for f in scan::addresses(line) {
            if at_line_start(line, f.start)
                && !excluded(ctx, &f.address)
                && !found
                    .iter()
                    .any(|(_, a)| a.eq_ignore_ascii_case(&f.address))
            {
                found.push((i, f.address));
                break;
            }
        }
    }
    if found.is_empty() {
        // Any address in the region, then anywhere before the original.
        for range in [(begin, end), (0, end)] {
            for (i, line) in lines.iter().enumerate().take(range.1).skip(range.0) {
                if let Some(f) = scan::addresses(line)
                    .into_iter()
                    .find(|f| !excluded(ctx, &f.address))
                {
                    found.push((i, f.address));
                    break;
                }
            }
            if !found.is_empty() {
                break;
            }
        }
    }

    let mut out = Vec::new();
    for (n, (idx, addr)) in found.iter().enumerate() {
        let next = found.get(n + 1).map_or(end, |(j, _)| *j);
        let mut diag = String::new();
        if let Some(line) = lines.get(*idx) {
            let lower_line = line.to_ascii_lowercase();
            let pos = lower_line.find(&addr.to_ascii_lowercase()).unwrap_or(0) + addr.len();
            diag.push_str(
                line.get(pos..)
                    .unwrap_or("")
                    .trim_start_matches(['>', ':', ',', '"', ' ']),
            );
        }
        for line in lines
            .iter()
            .take(next.min(idx + 1 + MAX_DIAG_LINES))
            .skip(idx + 1)
        {
            diag.push(' ');
            diag.push_str(line.trim());
        }
        let vague = scan::reply_code(&diag).is_none() && scan::enhanced_code(&diag).is_none();
        if vague && n == 0 {
            // Notes, Domino, MailMarshal and James write the reason before the address.
            let mut before = String::new();
            for line in lines.iter().take(*idx) {
                before.push(' ');
                before.push_str(line.trim());
            }
            diag = format!("{} {}", before.trim(), diag.trim());
        }
        out.push(finish(
            Raw {
                recipient: Some(addr.clone()),
                diagnostic: Some(diag),
                ..Raw::default()
            },
            ctx,
        ));
    }
    out
}

/// Just the addresses a text bounce names, in order.
pub(super) fn recipient_names(ctx: &Ctx<'_>) -> Vec<String> {
    let lower = ctx.human.to_ascii_lowercase();
    let format = FORMATS
        .iter()
        .find(|f| f.detect.iter().any(|d| lower.contains(d)))
        .copied();
    recipients(ctx, format)
        .into_iter()
        .filter_map(|r| r.recipient)
        .collect()
}

/// The words near an address in the human text, for DSNs whose status part
/// has no usable Diagnostic-Code.
pub(super) fn context_for(ctx: &Ctx<'_>, addr: &str) -> Option<String> {
    let needle = addr.to_ascii_lowercase();
    // human_lower is human with ASCII letters lowered: byte offsets agree
    let pos = ctx.human_lower.find(&needle)?;
    let line_start = ctx.human_lower.get(..pos)?.rfind('\n').map_or(0, |p| p + 1);
    let rest = ctx.human.get(line_start..)?;
    let mut diag = String::new();
    for line in rest.lines().take(8) {
        if is_end(line, None)
            || line
                .trim()
                .to_ascii_lowercase()
                .starts_with("reporting-mta:")
        {
            break;
        }
        if !diag.is_empty() && line.trim().is_empty() {
            break;
        }
        diag.push(' ');
        diag.push_str(line.trim());
    }
    let diag = diag.trim().to_string();
    if diag.len() > addr.len() + 3 {
        Some(diag)
    } else {
        None
    }
}
