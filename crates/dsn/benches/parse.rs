//! Parsing speed over the bounce corpus (filled in later).
fn main() {}
