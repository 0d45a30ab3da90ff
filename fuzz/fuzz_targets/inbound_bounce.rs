//! The pure part of the inbound path for mail at a bounce address
//! (bins/server/src/inbound.rs): `dsn::analyze` on the received bytes, then
//! what the server derives from the analysis before it touches the store,
//! `queue::BounceQuery::from_analysis` and `queue::DsnEvent::from_recipient`
//! per recipient (also for the stand-in recipient the server uses when a
//! bounce names none), and `webapi::webhook::is_automated`. The matching
//! itself (`bounce_outcome`) needs a store and is not driven here.
//!
//! Beyond "no panic": one query key per analysed recipient; an event's SMTP
//! code is 0 or 200-599; only a `failed` event is hard; a reason exactly for
//! `failed` and `delayed`; diagnostic lines are single non-empty lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use queue::{BounceQuery, DsnEvent};

fn check(ev: &DsnEvent) {
    assert!(ev.code == 0 || (200..600).contains(&ev.code), "{ev:?}");
    if ev.hard {
        assert_eq!(ev.action, dsn::Action::Failed, "{ev:?}");
    }
    let failing = matches!(ev.action, dsn::Action::Failed | dsn::Action::Delayed);
    assert_eq!(ev.reason.is_some(), failing, "{ev:?}");
    for l in &ev.lines {
        assert!(!l.is_empty() && !l.contains(['\r', '\n']), "{ev:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let a = dsn::analyze(data);
    let q = BounceQuery::from_analysis(&a, "fid");
    assert_eq!(q.recipients.len(), a.recipients.len());
    assert_eq!(q.from_id, "fid");
    assert!(q.returned_message_id.is_empty() || q.returned_message_id.starts_with('<'));
    for (i, r) in a.recipients.iter().enumerate() {
        check(&DsnEvent::from_recipient(r, i64::try_from(i).unwrap_or(0) + 1));
        let key = &q.recipients[i];
        assert_eq!(key.final_recipient, r.recipient);
        assert_eq!(key.original, r.original_recipient);
    }
    let synthetic = dsn::BounceRecipient {
        recipient: None,
        original_recipient: None,
        action: Some(dsn::Action::Failed),
        status: None,
        reply_code: None,
        diagnostic: None,
        remote_mta: None,
        reason: dsn::Reason::Other,
        hard: false,
    };
    let ev = DsnEvent::from_recipient(&synthetic, 1);
    check(&ev);
    assert_eq!((ev.code, ev.hard), (0, false));
    let _ = webapi::webhook::is_automated(data, false);
});
