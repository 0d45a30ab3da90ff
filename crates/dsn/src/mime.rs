//! The one door to `mail-parser`. Its parser never fails in release builds,
//! but a few `debug_assert!`s inside it fire on corrupt MIME nesting (found by
//! fuzzing); in debug builds and under the fuzzer those would panic. The
//! parse is pure, so an unwinding panic is caught and the input treated as
//! unreadable, which is what a release build does with it anyway.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::{Message, MessageParser};

/// Parses a whole message; None when it has no header or the parser gave up.
pub(crate) fn parse(bytes: &[u8]) -> Option<Message<'_>> {
    catch_unwind(AssertUnwindSafe(|| MessageParser::default().parse(bytes))).unwrap_or(None)
}

/// Parses only the header of a message.
pub(crate) fn parse_headers(bytes: &[u8]) -> Option<Message<'_>> {
    catch_unwind(AssertUnwindSafe(|| {
        MessageParser::default().parse_headers(bytes)
    }))
    .unwrap_or(None)
}
