//! Which failures put an address on the suppression list, and the address
//! form the list is keyed on.

/// The base address of the reference: the local part is cut at the first
/// `+`, then at the first `-`, dots are removed, and it is lowercased; the
/// domain is kept (lowercased). Works on the unicode form.
///
/// ```
/// assert_eq!(queue::base_address("Mjl.Test+x@Mox.example"), "mjltest@mox.example");
/// assert_eq!(queue::base_address("a-b.c@x.example"), "a@x.example");
/// ```
pub fn base_address(address: &str) -> String {
    let (local, domain) = match address.rsplit_once('@') {
        Some(parts) => parts,
        None => (address, ""),
    };
    let local = local.split('+').next().unwrap_or(local);
    let local = local.split('-').next().unwrap_or(local);
    let local: String = local.chars().filter(|c| *c != '.').collect();
    if domain.is_empty() {
        local.to_lowercase()
    } else {
        format!("{}@{}", local.to_lowercase(), domain.to_lowercase())
    }
}

/// SMTP codes that suppress the address at once.
const IMMEDIATE_CODES: [u16; 5] = [521, 550, 551, 553, 556];

/// Enhanced codes (subject, detail) that suppress at once with any 5xx code.
const IMMEDIATE_ENHANCED: [(u16, u16); 6] = [(1, 1), (1, 2), (1, 3), (1, 6), (2, 1), (7, 1)];

/// Whether a permanent failure with this reply suppresses the address at
/// once (DESIGN.md "Decisions"): code 521, 550, 551, 553 or 556, or any 5xx
/// whose enhanced code is 5.1.1, 5.1.2, 5.1.3, 5.1.6, 5.2.1 or 5.7.1.
///
/// ```
/// use smtp::EnhancedCode;
/// assert!(queue::suppresses_immediately(550, None));
/// assert!(!queue::suppresses_immediately(554, None));
/// assert!(queue::suppresses_immediately(554, Some("5.7.1".parse::<EnhancedCode>().unwrap())));
/// ```
pub fn suppresses_immediately(code: u16, enhanced: Option<smtp::EnhancedCode>) -> bool {
    if IMMEDIATE_CODES.contains(&code) {
        return true;
    }
    if !(500..600).contains(&code) {
        return false;
    }
    enhanced.is_some_and(|e| {
        e.class == smtp::Class::Permanent && IMMEDIATE_ENHANCED.contains(&(e.subject, e.detail))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_address_cuts_plus_before_dash() {
        assert_eq!(base_address("a+b-c@D.example"), "a@d.example");
        assert_eq!(
            base_address("Ünï.Code@Bücher.example"),
            "ünïcode@bücher.example"
        );
    }

    #[test]
    fn enhanced_code_needs_a_5xx_reply() {
        let e: smtp::EnhancedCode = "5.1.1".parse().unwrap();
        assert!(!suppresses_immediately(451, Some(e)));
        assert!(suppresses_immediately(554, Some(e)));
        let other: smtp::EnhancedCode = "5.7.30".parse().unwrap();
        assert!(!suppresses_immediately(554, Some(other)));
    }
}
