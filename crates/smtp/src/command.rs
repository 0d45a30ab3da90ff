//! Names of the SMTP commands a client sends, for errors and logs.

use std::fmt;

/// The command a reply or error belongs to.
///
/// ```
/// assert_eq!(smtp::Command::RcptTo.to_string(), "rcptto");
/// assert_eq!(smtp::Command::Greeting.to_string(), "(greeting)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// Not a command: the server's 220 greeting after connecting.
    Greeting,
    /// EHLO.
    Ehlo,
    /// HELO.
    Helo,
    /// STARTTLS.
    StartTls,
    /// AUTH and its continuation lines.
    Auth,
    /// MAIL FROM.
    MailFrom,
    /// RCPT TO.
    RcptTo,
    /// DATA, and the message data that follows it.
    Data,
    /// BDAT (CHUNKING).
    Bdat,
    /// RSET.
    Rset,
    /// QUIT.
    Quit,
    /// NOOP.
    Noop,
}

impl Command {
    /// The lower-case name used in logs and error messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Command::Greeting => "(greeting)",
            Command::Ehlo => "ehlo",
            Command::Helo => "helo",
            Command::StartTls => "starttls",
            Command::Auth => "auth",
            Command::MailFrom => "mailfrom",
            Command::RcptTo => "rcptto",
            Command::Data => "data",
            Command::Bdat => "bdat",
            Command::Rset => "rset",
            Command::Quit => "quit",
            Command::Noop => "noop",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_lower_case_names() {
        let all = [
            (Command::Greeting, "(greeting)"),
            (Command::Ehlo, "ehlo"),
            (Command::Helo, "helo"),
            (Command::StartTls, "starttls"),
            (Command::Auth, "auth"),
            (Command::MailFrom, "mailfrom"),
            (Command::RcptTo, "rcptto"),
            (Command::Data, "data"),
            (Command::Bdat, "bdat"),
            (Command::Rset, "rset"),
            (Command::Quit, "quit"),
            (Command::Noop, "noop"),
        ];
        for (command, name) in all {
            assert_eq!(command.to_string(), name);
            assert_eq!(command.as_str(), name);
        }
    }
}
