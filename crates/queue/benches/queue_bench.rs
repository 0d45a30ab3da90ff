//! Queue benchmark (filled in below).
fn main() {}
