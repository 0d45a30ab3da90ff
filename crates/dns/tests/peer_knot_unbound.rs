//! StubResolver against Unbound validating the Knot-signed zone postel.test
//! (see peers.md §10). Set POSTEL_TEST_DNS to Unbound's address.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};

use dns::{LookupError, Mx, Resolver, StubResolver, Tlsa};

fn resolver() -> StubResolver {
    let addr: SocketAddr = std::env::var("POSTEL_TEST_DNS")
        .expect("POSTEL_TEST_DNS=127.0.0.1:PORT of unbound")
        .parse()
        .expect("POSTEL_TEST_DNS is host:port");
    StubResolver::new(vec![addr])
}

#[tokio::test]
#[ignore = "needs knot and unbound; run by .ci/run"]
async fn signed_zone_answers_are_authentic() {
    let r = resolver();

    let mx = r.lookup_mx("postel.test").await.unwrap();
    assert!(mx.authentic);
    let mut records = mx.records;
    records.sort_by_key(|m| m.preference);
    assert_eq!(
        records,
        vec![
            Mx {
                preference: 10,
                exchange: "mx1.postel.test".into()
            },
            Mx {
                preference: 20,
                exchange: "mx2.postel.test".into()
            },
        ]
    );

    let a = r.lookup_a("MX1.postel.test.").await.unwrap();
    assert!(a.authentic);
    assert_eq!(a.records, vec![Ipv4Addr::new(127, 0, 0, 1)]);

    let aaaa = r.lookup_aaaa("mx1.postel.test").await.unwrap();
    assert!(aaaa.authentic);
    assert_eq!(
        aaaa.records,
        vec!["::1".parse::<std::net::Ipv6Addr>().unwrap()]
    );

    let tlsa = r.lookup_tlsa("_25._tcp.mx1.postel.test").await.unwrap();
    assert!(tlsa.authentic);
    assert_eq!(
        tlsa.records,
        vec![Tlsa {
            usage: 3,
            selector: 1,
            matching_type: 1,
            data: vec![0; 32]
        }]
    );

    let txt = r.lookup_txt_strings("_dmarc.postel.test").await.unwrap();
    assert!(txt.authentic);
    assert_eq!(txt.records, vec!["v=DMARC1; p=reject".to_string()]);
}

#[tokio::test]
#[ignore = "needs knot and unbound; run by .ci/run"]
async fn signed_zone_denials_are_authentic() {
    let r = resolver();
    assert_eq!(
        r.lookup_a("nothere.postel.test").await.unwrap_err(),
        LookupError::NxDomain {
            name: "nothere.postel.test".into(),
            authentic: true
        }
    );
    assert_eq!(
        r.lookup_tlsa("_25._tcp.mx2.postel.test").await.unwrap_err(),
        LookupError::NxDomain {
            name: "_25._tcp.mx2.postel.test".into(),
            authentic: true
        }
    );
    assert_eq!(
        r.lookup_aaaa("mx2.postel.test").await.unwrap_err(),
        LookupError::NoRecords {
            name: "mx2.postel.test".into(),
            rtype: "AAAA",
            authentic: true
        }
    );
}
