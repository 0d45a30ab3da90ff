use super::*;

fn err(source: &str) -> String {
    match Config::parse("postel.toml", source) {
        Ok(_) => panic!("config was accepted"),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str = "hostname = \"mail.example.org\"\ndata_dir = \"/tmp/postel\"\n";

#[test]
fn example_file_is_valid() {
    let c = Config::parse(
        "postel.example.toml",
        include_str!("../../postel.example.toml"),
    )
    .unwrap();
    assert_eq!(c.hostname, "mail.example.org");
    assert_eq!(
        c.accounts["app"].fromid_login_addresses,
        vec!["app@example.org"]
    );
    assert_eq!(
        c.transports["relay"].submission.as_ref().unwrap().port,
        Some(values::Port(587))
    );
    assert_eq!(c.queue.max_attempts, 8);
}

#[test]
fn type_error_names_line_key_and_expectation() {
    assert_eq!(
        err(&format!(
            "{HEAD}[transports.relay.submission]\nhost = \"smtp.example.net\"\nport = \"x\"\n"
        )),
        "postel.toml:5: transports.relay.submission.port: invalid value \"x\": expected a port number"
    );
    assert_eq!(
        err(&format!("{HEAD}[queue]\nconcurrency = \"ten\"\n")),
        "postel.toml:4: queue.concurrency: invalid type: string \"ten\", expected usize"
    );
    assert_eq!(
        err(&format!(
            "{HEAD}[listeners]\nsubmission = {{ address = \"127.0.0.1\", port = 70000 }}\n"
        )),
        "postel.toml:4: listeners.submission.port: invalid value 70000: expected a port number"
    );
}

#[test]
fn unknown_key_is_refused() {
    assert_eq!(
        err(&format!("{HEAD}hostname2 = 1\n")),
        "postel.toml:3: hostname2: unknown field `hostname2`, expected one of `hostname`, `data_dir`, `postmaster_account`, `listeners`, `tls`, `domains`, `accounts`, `trusted_networks`, `submission`, `queue`, `timeouts`, `routes`, `transports`, `resolvers`, `webhooks`"
    );
}

#[test]
fn syntax_error_names_line() {
    assert_eq!(
        err(&format!("{HEAD}= broken\n")),
        "postel.toml:3: unquoted keys cannot be empty, expected letters, numbers, `-`, `_`"
    );
}

#[test]
fn missing_key_names_its_table() {
    assert_eq!(
        err(&format!("{HEAD}[[routes]]\nto_domain = [\"x.example\"]\n")),
        "postel.toml:3: routes[0]: missing field `transport`"
    );
}

#[test]
fn route_to_unknown_transport_is_refused() {
    assert_eq!(
        err(&format!("{HEAD}[[routes]]\ntransport = \"nope\"\n")),
        "postel.toml:4: routes[0].transport: unknown transport \"nope\""
    );
}

#[test]
fn account_address_outside_configured_domains_is_refused() {
    assert_eq!(
        err(&format!(
            "{HEAD}[domains.\"example.org\"]\n[accounts.a]\naddresses = [\"a@example.com\"]\n"
        )),
        "postel.toml:5: accounts.a.addresses[0]: address \"a@example.com\" is in domain \"example.com\", which is not under [domains]"
    );
}

#[test]
fn fromid_login_needs_catchall_separator() {
    assert_eq!(
        err(&format!(
            "{HEAD}[domains.\"example.org\"]\n[accounts.a]\naddresses = [\"a@example.org\"]\nfromid_login_addresses = [\"a@example.org\"]\n"
        )),
        "postel.toml:6: accounts.a.fromid_login_addresses[0]: fromid login address \"a@example.org\" needs a catchall separator (accounts.a.catchall_separator)"
    );
}

#[test]
fn bad_cidr_and_unknown_account_in_trusted_networks() {
    assert_eq!(
        err(&format!(
            "{HEAD}[domains.\"example.org\"]\n[accounts.a]\naddresses = [\"a@example.org\"]\n[[trusted_networks]]\nnetwork = \"10.0.0.1/8\"\naccount = \"b\"\n"
        )),
        "postel.toml:7: trusted_networks[0].network: invalid value \"10.0.0.1/8\": expected a network in CIDR notation, e.g. \"10.0.0.0/8\"\n\
         postel.toml:8: trusted_networks[0].account: unknown account \"b\""
    );
}

#[test]
fn transport_with_two_methods_is_refused() {
    assert_eq!(
        err(&format!(
            "{HEAD}[transports.t.direct]\n[transports.t.fail]\n"
        )),
        "postel.toml:3: transports.t: transport \"t\" has more than one method"
    );
}

#[test]
fn implicit_tls_listener_needs_certificate() {
    assert_eq!(
        err(&format!(
            "{HEAD}[listeners.submissions]\naddress = \"127.0.0.1\"\nport = 465\n"
        )),
        "postel.toml:3: listeners.submissions: implicit TLS needs a [tls] section with cert and key"
    );
}

#[test]
fn bad_duration_names_the_expected_form() {
    assert_eq!(
        err(&format!("{HEAD}[timeouts]\ncommand = \"5x\"\n")),
        "postel.toml:4: timeouts.command: invalid value \"5x\": expected a duration such as \"7d\", \"24h\" or \"30m\""
    );
}

#[test]
fn resolvers_take_ip_or_ip_port_and_refuse_names() {
    let c = Config::parse(
        "postel.toml",
        &format!("{HEAD}resolvers = [\"127.0.0.1:5353\", \"::1\"]\n"),
    )
    .unwrap();
    let got: Vec<_> = c.resolvers.iter().map(|r| parse_resolver(r)).collect();
    assert_eq!(
        got,
        vec![
            Some("127.0.0.1:5353".parse().unwrap()),
            Some("[::1]:53".parse().unwrap())
        ]
    );
    assert_eq!(
        err(&format!("{HEAD}resolvers = [\"dns.example\"]\n")),
        "postel.toml:3: resolvers: invalid value \"dns.example\": expected an IP address or ip:port, e.g. \"127.0.0.1:53\""
    );
}

#[test]
fn webapi_listener_is_off_unless_given_and_its_path_is_checked() {
    let c = Config::parse("postel.toml", HEAD).unwrap();
    assert!(c.listeners.webapi.is_none());
    let c = Config::parse(
        "postel.toml",
        &format!("{HEAD}[listeners.webapi]\naddress = \"127.0.0.1\"\nport = 1080\n"),
    )
    .unwrap();
    let w = c.listeners.webapi.unwrap();
    assert_eq!(
        (w.path.as_str(), w.port, w.trust_forwarded),
        ("/webapi/", values::Port(1080), false)
    );
    assert_eq!(
        err(&format!(
            "{HEAD}[listeners.webapi]\naddress = \"127.0.0.1\"\nport = 1080\npath = \"api\"\n"
        )),
        "postel.toml:6: listeners.webapi.path: invalid value \"api\": expected a path starting and ending with \"/\", e.g. \"/webapi/\""
    );
    assert_eq!(
        err(&format!(
            "{HEAD}[listeners.webapi]\naddress = \"localhost\"\nport = 1080\n"
        )),
        "postel.toml:4: listeners.webapi.address: invalid value \"localhost\": expected an IP address"
    );
}

#[test]
fn disabled_domain_reaches_the_policy_and_a_bad_value_names_its_key() {
    let c = Config::parse(
        "postel.toml",
        &format!("{HEAD}[domains.\"Example.org\"]\ndisabled = true\n\n[domains.\"example.net\"]\n"),
    )
    .unwrap();
    assert!(c.domains["Example.org"].disabled);
    assert!(!c.domains["example.net"].disabled);
    let p = crate::policy::Policy::from_config(&c);
    assert!(p.domain_disabled("example.ORG"));
    assert!(!p.domain_disabled("example.net"));
    assert!(!p.domain_disabled("other.example"));
    assert_eq!(
        err(&format!(
            "{HEAD}[domains.\"example.org\"]\ndisabled = \"yes\"\n"
        )),
        "postel.toml:4: domains.\"example.org\".disabled: invalid type: string \"yes\", expected a boolean"
    );
}
