//! Destinations for the signed test zone `postel.test` gathered through a real
//! validating resolver (Knot authoritative + Unbound), then a delivery over the
//! dialed address: MX order, A/AAAA, TLSA, and the DNSSEC flags on each step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::IpAddr;
use std::time::Duration;

use dns::{StubResolver, Tlsa};
use smtp::{Domain, Host};
use smtpclient::dial::{DialedIps, TcpDialer, dial_host};
use smtpclient::gather::{GatherError, gather_destinations_seeded, gather_ips, gather_tlsa};
use smtpclient::{Client, ClientConfig, Envelope, TlsMode};
use support::{SmtpSink, TestDns};

fn domain(s: &str) -> Domain {
    s.parse().unwrap()
}

#[tokio::test]
#[ignore = "needs knot and unbound; run by .ci/run"]
async fn postel_test_destinations_are_gathered_with_dnssec_and_delivered_to() {
    let dns = TestDns::get();
    let resolver = StubResolver::new(vec![dns.addr]);

    let dest = gather_destinations_seeded(&resolver, &domain("postel.test"), 7)
        .await
        .unwrap();
    let mx1: Host = "mx1.postel.test".parse().unwrap();
    let mx2: Host = "mx2.postel.test".parse().unwrap();
    assert_eq!(dest.hosts, [mx1.clone(), mx2]);
    assert!(!dest.implicit_mx);
    assert_eq!(dest.expanded_domain, domain("postel.test"));
    assert!(dest.original_authentic);
    assert!(dest.expanded_authentic);

    let ips = gather_ips(&resolver, &mx1, &DialedIps::new())
        .await
        .unwrap();
    let v4: IpAddr = "127.0.0.1".parse().unwrap();
    let v6: IpAddr = "::1".parse().unwrap();
    assert_eq!(ips.ips, [v4, v6]);
    assert!(ips.authentic);
    assert!(ips.dual_stack);

    let tlsa = gather_tlsa(&resolver, &domain("mx1.postel.test"), 25)
        .await
        .unwrap();
    assert_eq!(tlsa.name, "_25._tcp.mx1.postel.test");
    assert_eq!(
        tlsa.records,
        [Tlsa {
            usage: 3,
            selector: 1,
            matching_type: 1,
            data: vec![0; 32],
        }]
    );
    assert!(tlsa.authentic);

    // The gathered addresses lead to a server: an smtp-sink on 127.0.0.1 stands in
    // for port 25.
    let sink = SmtpSink::start(&[]);
    let mut dialed = DialedIps::new();
    let (stream, ip) = dial_host(
        &TcpDialer::new(),
        &mx1,
        &ips.ips,
        sink.port,
        &mut dialed,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(ip, v4);
    let config = ClientConfig {
        tls: TlsMode::Skip,
        ..ClientConfig::default()
    };
    let mut client = Client::connect(stream, config).await.unwrap();
    let env = Envelope::new(
        Some("a@example.org".parse().unwrap()),
        vec!["postmaster@postel.test".parse().unwrap()],
    );
    let d = client
        .deliver(&env, b"Subject: dns\r\n\r\nhi\r\n")
        .await
        .unwrap();
    client.quit().await.unwrap();
    assert_eq!(d.delivered(), 1);
    assert_eq!(
        sink.wait_dumps(1)[0].rcpt_args,
        ["<postmaster@postel.test>"]
    );
}

#[tokio::test]
#[ignore = "needs knot and unbound; run by .ci/run"]
async fn missing_name_in_the_signed_zone_is_a_permanent_no_such_domain() {
    let dns = TestDns::get();
    let resolver = StubResolver::new(vec![dns.addr]);
    let err = gather_destinations_seeded(&resolver, &domain("nosuch.postel.test"), 7)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GatherError::NoSuchDomain {
            domain: "nosuch.postel.test".into()
        }
    );
    assert!(err.is_permanent());
}
