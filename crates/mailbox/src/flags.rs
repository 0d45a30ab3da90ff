//! Message flags: the IMAP system flags as a set, plus free keywords.

use crate::MailboxError;

/// The system flags, stored as a bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SystemFlags(u8);

impl SystemFlags {
    /// `\Seen`.
    pub const SEEN: SystemFlags = SystemFlags(1);
    /// `\Answered`.
    pub const ANSWERED: SystemFlags = SystemFlags(2);
    /// `\Flagged`.
    pub const FLAGGED: SystemFlags = SystemFlags(4);
    /// `\Deleted`.
    pub const DELETED: SystemFlags = SystemFlags(8);
    /// `\Draft`.
    pub const DRAFT: SystemFlags = SystemFlags(16);

    const ALL: [(SystemFlags, &'static str); 5] = [
        (SystemFlags::SEEN, "\\Seen"),
        (SystemFlags::ANSWERED, "\\Answered"),
        (SystemFlags::FLAGGED, "\\Flagged"),
        (SystemFlags::DELETED, "\\Deleted"),
        (SystemFlags::DRAFT, "\\Draft"),
    ];

    /// No flags.
    pub const fn empty() -> SystemFlags {
        SystemFlags(0)
    }

    /// Whether every flag of `other` is set here.
    pub const fn contains(self, other: SystemFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets together.
    pub const fn union(self, other: SystemFlags) -> SystemFlags {
        SystemFlags(self.0 | other.0)
    }

    /// This set without `other`'s flags.
    pub const fn difference(self, other: SystemFlags) -> SystemFlags {
        SystemFlags(self.0 & !other.0)
    }

    /// The raw bits, as stored.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// From stored bits; unknown bits are dropped.
    pub const fn from_bits(bits: u8) -> SystemFlags {
        SystemFlags(bits & 0x1f)
    }

    /// One flag by name, case-insensitively (`\seen`, `\Seen`).
    pub fn from_name(name: &str) -> Option<SystemFlags> {
        SystemFlags::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(f, _)| *f)
    }

    /// The names of the set flags in canonical spelling and a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        SystemFlags::ALL
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect()
    }
}

/// System flags plus keywords, as given to flag changes or shown on a message.
///
/// ```
/// use mailbox::{Flags, SystemFlags};
/// let f = Flags::parse(["\\seen", "$Label1", "$label1", "Work"]).unwrap();
/// assert_eq!(f.system, SystemFlags::SEEN);
/// assert_eq!(f.keywords, vec!["$Label1".to_string(), "Work".to_string()]);
/// assert_eq!(f.to_strings(), vec!["\\Seen", "$Label1", "Work"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// The system flags.
    pub system: SystemFlags,
    /// Keywords in the order first given, deduplicated case-insensitively
    /// (the first spelling wins).
    pub keywords: Vec<String>,
}

/// Longest keyword accepted, in bytes.
pub const MAX_KEYWORD: usize = 128;
/// Most keywords one message carries.
pub const MAX_KEYWORDS: usize = 64;

impl Flags {
    /// Parses flag strings: a leading `\` names a system flag (an unknown one
    /// is an error), anything else is a keyword (an IMAP atom: printable
    /// ASCII without space and `(){%*"\]`).
    pub fn parse<I, S>(flags: I) -> Result<Flags, MailboxError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Flags::default();
        for flag in flags {
            let flag = flag.as_ref();
            if flag.starts_with('\\') {
                let f = SystemFlags::from_name(flag).ok_or_else(|| MailboxError::Invalid {
                    what: "flag",
                    value: flag.to_string(),
                    reason: "not one of \\Seen \\Answered \\Flagged \\Deleted \\Draft",
                })?;
                out.system = out.system.union(f);
            } else {
                check_keyword(flag)?;
                add_keyword(&mut out.keywords, flag);
            }
        }
        check_count(&out.keywords)?;
        Ok(out)
    }

    /// Checks keywords of a value built by hand rather than by
    /// [`Flags::parse`]: each must be a valid keyword, at most
    /// [`MAX_KEYWORDS`] of them.
    pub fn validate(&self) -> Result<(), MailboxError> {
        for k in &self.keywords {
            check_keyword(k)?;
        }
        check_count(&self.keywords)
    }

    /// System flag names then keywords.
    pub fn to_strings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .system
            .names()
            .into_iter()
            .map(str::to_string)
            .collect();
        out.extend(self.keywords.iter().cloned());
        out
    }
}

pub(crate) fn check_count(keywords: &[String]) -> Result<(), MailboxError> {
    if keywords.len() > MAX_KEYWORDS {
        return Err(MailboxError::Invalid {
            what: "keyword",
            value: keywords.join(" ").chars().take(200).collect(),
            reason: "more than 64 keywords on one message",
        });
    }
    Ok(())
}

/// Adds `keyword` unless present in another case; returns whether it was added.
pub(crate) fn add_keyword(keywords: &mut Vec<String>, keyword: &str) -> bool {
    if keywords.iter().any(|k| k.eq_ignore_ascii_case(keyword)) {
        return false;
    }
    keywords.push(keyword.to_string());
    true
}

fn check_keyword(keyword: &str) -> Result<(), MailboxError> {
    let invalid = |reason| MailboxError::Invalid {
        what: "keyword",
        value: keyword.to_string(),
        reason,
    };
    if keyword.is_empty() || keyword.len() > MAX_KEYWORD {
        return Err(invalid("must be 1 to 128 bytes"));
    }
    let atom = |c: char| {
        c.is_ascii_graphic() && !matches!(c, '(' | ')' | '{' | '%' | '*' | '"' | '\\' | ']')
    };
    if !keyword.chars().all(atom) {
        return Err(invalid(
            "must be printable ASCII without space and (){%*\"\\]",
        ));
    }
    Ok(())
}

/// Keywords as stored: one column, separated by spaces (atoms have none).
pub(crate) fn keywords_to_column(keywords: &[String]) -> String {
    keywords.join(" ")
}

pub(crate) fn keywords_from_column(column: &str) -> Vec<String> {
    column
        .split(' ')
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_system_flag_and_bad_keyword_are_refused() {
        assert!(matches!(
            Flags::parse(["\\Recent"]),
            Err(MailboxError::Invalid { what: "flag", .. })
        ));
        assert!(matches!(
            Flags::parse(["two words"]),
            Err(MailboxError::Invalid {
                what: "keyword",
                ..
            })
        ));
        assert!(Flags::parse([""]).is_err());
    }

    #[test]
    fn system_flag_names_come_in_fixed_order() {
        let f = SystemFlags::DRAFT
            .union(SystemFlags::SEEN)
            .union(SystemFlags::FLAGGED);
        assert_eq!(f.names(), vec!["\\Seen", "\\Flagged", "\\Draft"]);
        assert_eq!(SystemFlags::from_bits(f.bits()), f);
        assert_eq!(
            f.difference(SystemFlags::SEEN).names(),
            vec!["\\Flagged", "\\Draft"]
        );
    }

    #[test]
    fn keyword_column_round_trips() {
        let k = vec!["$Forwarded".to_string(), "Work".to_string()];
        assert_eq!(keywords_from_column(&keywords_to_column(&k)), k);
        assert!(keywords_from_column("").is_empty());
    }
}
