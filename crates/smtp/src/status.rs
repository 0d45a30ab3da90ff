//! Enhanced status codes (RFC 3463), such as `5.1.1`.

use std::fmt;
use std::str::FromStr;

/// The class digit of an enhanced status code: what kind of outcome it reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Class {
    /// 2.x.x: the action succeeded.
    Success = 2,
    /// 4.x.x: a persistent transient failure; retrying later can help.
    Transient = 4,
    /// 5.x.x: a permanent failure; retrying the same message will fail again.
    Permanent = 5,
}

impl Class {
    /// The class for a digit (2, 4 or 5), None for any other digit.
    ///
    /// ```
    /// assert_eq!(smtp::Class::from_digit(4), Some(smtp::Class::Transient));
    /// assert_eq!(smtp::Class::from_digit(3), None);
    /// ```
    pub const fn from_digit(digit: u8) -> Option<Class> {
        match digit {
            2 => Some(Class::Success),
            4 => Some(Class::Transient),
            5 => Some(Class::Permanent),
            _ => None,
        }
    }

    /// The digit as used on the wire.
    pub const fn digit(self) -> u8 {
        self as u8
    }
}

/// An enhanced status code (RFC 3463), e.g. `5.1.1`.
///
/// `subject` and `detail` are 0..=999 (one to three digits on the wire).
///
/// ```
/// use smtp::{Class, EnhancedCode};
/// let code: EnhancedCode = "5.1.1".parse().unwrap();
/// assert_eq!(code, EnhancedCode::new(Class::Permanent, 1, 1));
/// assert!(code.is_permanent());
/// assert_eq!(code.to_string(), "5.1.1");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    /// The class: success, transient or permanent.
    pub class: Class,
    /// The subject (second number), 0..=999.
    pub subject: u16,
    /// The detail (third number), 0..=999.
    pub detail: u16,
}

impl EnhancedCode {
    /// Builds a code from its parts. Callers keep subject and detail within 0..=999.
    pub const fn new(class: Class, subject: u16, detail: u16) -> Self {
        EnhancedCode {
            class,
            subject,
            detail,
        }
    }

    /// Whether the code reports a permanent failure (class 5).
    pub fn is_permanent(&self) -> bool {
        self.class == Class::Permanent
    }

    /// Whether the code reports a transient failure (class 4).
    pub fn is_transient(&self) -> bool {
        self.class == Class::Transient
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class.digit(), self.subject, self.detail)
    }
}

/// Why a string is not an enhanced status code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnhancedCodeError {
    /// Not three dot-separated numbers.
    #[error("enhanced status code {input:?} is not of the form class.subject.detail")]
    Syntax {
        /// The rejected input.
        input: String,
    },
    /// The class is not 2, 4 or 5.
    #[error("enhanced status code {input:?} has class {class:?}, want 2, 4 or 5")]
    BadClass {
        /// The rejected input.
        input: String,
        /// The class part as found.
        class: String,
    },
    /// Subject or detail is not 1 to 3 digits.
    #[error("enhanced status code {input:?} has {part:?} as subject or detail, want 1 to 3 digits")]
    BadNumber {
        /// The rejected input.
        input: String,
        /// The offending part.
        part: String,
    },
}

fn parse_number(part: &str) -> Option<u16> {
    if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

impl FromStr for EnhancedCode {
    type Err = EnhancedCodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('.');
        let (Some(class), Some(subject), Some(detail), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(EnhancedCodeError::Syntax { input: s.into() });
        };
        let class_value = match class.as_bytes() {
            [d @ b'0'..=b'9'] => Class::from_digit(d - b'0'),
            _ => None,
        }
        .ok_or_else(|| EnhancedCodeError::BadClass {
            input: s.into(),
            class: class.into(),
        })?;
        let number = |part: &str| {
            parse_number(part).ok_or_else(|| EnhancedCodeError::BadNumber {
                input: s.into(),
                part: part.into(),
            })
        };
        Ok(EnhancedCode::new(
            class_value,
            number(subject)?,
            number(detail)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_three_part_codes() {
        assert_eq!(
            "5.1.1".parse::<EnhancedCode>(),
            Ok(EnhancedCode::new(Class::Permanent, 1, 1))
        );
        assert_eq!(
            "4.7.999".parse::<EnhancedCode>(),
            Ok(EnhancedCode::new(Class::Transient, 7, 999))
        );
        assert_eq!(
            "2.0.0".parse::<EnhancedCode>(),
            Ok(EnhancedCode::new(Class::Success, 0, 0))
        );
        assert_eq!(
            "2.010.05".parse::<EnhancedCode>(),
            Ok(EnhancedCode::new(Class::Success, 10, 5))
        );
    }

    #[test]
    fn rejects_wrong_number_of_parts() {
        for input in ["", "5", "5.1", "5.1.1.1", "5.1.1."] {
            assert_eq!(
                input.parse::<EnhancedCode>(),
                Err(EnhancedCodeError::Syntax {
                    input: input.into()
                }),
                "{input}"
            );
        }
        assert_eq!(
            "5..1".parse::<EnhancedCode>(),
            Err(EnhancedCodeError::BadNumber {
                input: "5..1".into(),
                part: "".into()
            })
        );
    }

    #[test]
    fn rejects_class_other_than_2_4_5() {
        for class in ["1", "3", "6", "0", "55", "x", ""] {
            let input = format!("{class}.1.1");
            assert_eq!(
                input.parse::<EnhancedCode>(),
                Err(EnhancedCodeError::BadClass {
                    input: input.clone(),
                    class: class.into()
                })
            );
        }
    }

    #[test]
    fn rejects_subject_or_detail_out_of_range() {
        assert_eq!(
            "5.1000.1".parse::<EnhancedCode>(),
            Err(EnhancedCodeError::BadNumber {
                input: "5.1000.1".into(),
                part: "1000".into()
            })
        );
        assert_eq!(
            "5.1.+1".parse::<EnhancedCode>(),
            Err(EnhancedCodeError::BadNumber {
                input: "5.1.+1".into(),
                part: "+1".into()
            })
        );
        assert_eq!(
            "5.1. 1".parse::<EnhancedCode>(),
            Err(EnhancedCodeError::BadNumber {
                input: "5.1. 1".into(),
                part: " 1".into()
            })
        );
    }

    #[test]
    fn error_message_names_the_input() {
        let err = "3.1.1".parse::<EnhancedCode>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "enhanced status code \"3.1.1\" has class \"3\", want 2, 4 or 5"
        );
    }

    #[test]
    fn class_digit_and_permanence() {
        assert_eq!(Class::Permanent.digit(), 5);
        assert_eq!(Class::Permanent as u8, 5);
        assert!(EnhancedCode::new(Class::Permanent, 1, 1).is_permanent());
        assert!(!EnhancedCode::new(Class::Transient, 1, 1).is_permanent());
        assert!(EnhancedCode::new(Class::Transient, 1, 1).is_transient());
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(class in prop::sample::select(vec![Class::Success, Class::Transient, Class::Permanent]), subject in 0u16..1000, detail in 0u16..1000) {
            let code = EnhancedCode::new(class, subject, detail);
            prop_assert_eq!(code.to_string().parse::<EnhancedCode>(), Ok(code));
        }

        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = s.parse::<EnhancedCode>();
        }
    }
}
