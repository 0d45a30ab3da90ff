//! StubResolver against an in-process fake DNS server on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dns::{Answer, LookupError, Mx, Resolver, StubConfig, StubResolver, Tlsa};
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, MX, PTR, TLSA, TXT};
use hickory_proto::rr::{Name, RData, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Transport {
    Udp,
    Tcp,
}

/// What the fake server sends back for one query: any number of datagrams.
type Handler = Arc<dyn Fn(&Message, Transport) -> Vec<Vec<u8>> + Send + Sync>;

struct FakeServer {
    addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    last_query: Arc<Mutex<Option<Message>>>,
}

async fn start(handler: Handler) -> FakeServer {
    // UDP and TCP on the same port, like a real server.
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    let udp_queries = Arc::new(AtomicUsize::new(0));
    let tcp_queries = Arc::new(AtomicUsize::new(0));
    let last_query = Arc::new(Mutex::new(None));
    {
        let (handler, count, last) = (handler.clone(), udp_queries.clone(), last_query.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            loop {
                let (n, peer) = udp.recv_from(&mut buf).await.unwrap();
                let query = Message::from_vec(&buf[..n]).unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                *last.lock().unwrap() = Some(query.clone());
                for reply in handler(&query, Transport::Udp) {
                    udp.send_to(&reply, peer).await.unwrap();
                }
            }
        });
    }
    {
        let (handler, count) = (handler.clone(), tcp_queries.clone());
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = tcp.accept().await.unwrap();
                let mut len = [0u8; 2];
                conn.read_exact(&mut len).await.unwrap();
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                conn.read_exact(&mut buf).await.unwrap();
                let query = Message::from_vec(&buf).unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = handler(&query, Transport::Tcp).into_iter().next() {
                    let mut out = (reply.len() as u16).to_be_bytes().to_vec();
                    out.extend_from_slice(&reply);
                    conn.write_all(&out).await.unwrap();
                }
            }
        });
    }
    FakeServer {
        addr,
        udp_queries,
        tcp_queries,
        last_query,
    }
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// A response to `query` with the given code, AD bit and answer records.
fn response(query: &Message, rcode: ResponseCode, ad: bool, answers: Vec<Record>) -> Message {
    let mut msg = Message::response(query.metadata.id, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.metadata.recursion_available = true;
    msg.metadata.authentic_data = ad;
    msg.metadata.response_code = rcode;
    msg.add_queries(query.queries.clone());
    msg.add_answers(answers);
    msg
}

fn wire(msg: &Message) -> Vec<u8> {
    msg.to_vec().unwrap()
}

fn resolver(server: &FakeServer) -> StubResolver {
    resolver_for(vec![server.addr])
}

fn resolver_for(servers: Vec<SocketAddr>) -> StubResolver {
    let mut config = StubConfig::new(servers);
    config.timeout = Duration::from_millis(300);
    config.attempts = 2;
    StubResolver::with_config(config)
}

fn mx_records() -> Vec<Record> {
    vec![
        Record::from_rdata(
            name("Example.com."),
            300,
            RData::MX(MX::new(10, name("MX1.example.com."))),
        ),
        Record::from_rdata(
            name("example.com."),
            300,
            RData::MX(MX::new(20, name("mx2.example.com."))),
        ),
    ]
}

#[tokio::test]
async fn ad_bit_in_response_makes_answer_authentic() {
    let server = start(Arc::new(|q: &Message, _| {
        vec![wire(&response(
            q,
            ResponseCode::NoError,
            true,
            mx_records(),
        ))]
    }))
    .await;
    let answer = resolver(&server).lookup_mx("EXAMPLE.com.").await.unwrap();
    assert_eq!(
        answer,
        Answer {
            records: vec![
                Mx {
                    preference: 10,
                    exchange: "mx1.example.com".into()
                },
                Mx {
                    preference: 20,
                    exchange: "mx2.example.com".into()
                },
            ],
            authentic: true,
        }
    );
}

#[tokio::test]
async fn query_sets_rd_ad_and_edns_do_with_1232_payload() {
    let server = start(Arc::new(|q: &Message, _| {
        vec![wire(&response(
            q,
            ResponseCode::NoError,
            false,
            mx_records(),
        ))]
    }))
    .await;
    let answer = resolver(&server).lookup_mx("example.com").await.unwrap();
    assert!(!answer.authentic);
    let query = server.last_query.lock().unwrap().clone().unwrap();
    assert!(query.metadata.recursion_desired);
    assert!(query.metadata.authentic_data);
    let edns = query.edns.expect("edns present");
    assert!(edns.flags().dnssec_ok);
    assert_eq!(edns.max_payload(), 1232);
    assert_eq!(query.queries.len(), 1);
    assert_eq!(query.queries[0].name.to_ascii(), "example.com.");
}

#[tokio::test]
async fn nxdomain_with_ad_is_authentic_denial() {
    let server = start(Arc::new(|q: &Message, _| {
        vec![wire(&response(q, ResponseCode::NXDomain, true, vec![]))]
    }))
    .await;
    let err = resolver(&server)
        .lookup_a("nothere.example.com")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LookupError::NxDomain {
            name: "nothere.example.com".into(),
            authentic: true
        }
    );
    assert!(err.is_not_found());
    assert_eq!(server.udp_queries.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn empty_noerror_answer_is_no_records() {
    let server = start(Arc::new(|q: &Message, _| {
        vec![wire(&response(q, ResponseCode::NoError, false, vec![]))]
    }))
    .await;
    let err = resolver(&server)
        .lookup_tlsa("_25._tcp.mx.example.com")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LookupError::NoRecords {
            name: "_25._tcp.mx.example.com".into(),
            rtype: "TLSA",
            authentic: false
        }
    );
}

#[tokio::test]
async fn servfail_is_temporary_after_all_attempts() {
    let server = start(Arc::new(|q: &Message, _| {
        vec![wire(&response(q, ResponseCode::ServFail, false, vec![]))]
    }))
    .await;
    let err = resolver(&server)
        .lookup_mx("example.com")
        .await
        .unwrap_err();
    assert!(err.is_temporary());
    assert_eq!(
        err,
        LookupError::Temporary {
            name: "example.com".into(),
            reason: format!("{} answered Server Failure", server.addr),
        }
    );
    assert_eq!(server.udp_queries.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn refused_moves_on_to_next_server() {
    let bad = start(Arc::new(|q: &Message, _| {
        vec![wire(&response(q, ResponseCode::Refused, false, vec![]))]
    }))
    .await;
    let good = start(Arc::new(|q: &Message, _| {
        vec![wire(&response(
            q,
            ResponseCode::NoError,
            true,
            mx_records(),
        ))]
    }))
    .await;
    let answer = resolver_for(vec![bad.addr, good.addr])
        .lookup_mx("example.com")
        .await
        .unwrap();
    assert_eq!(answer.records.len(), 2);
    assert_eq!(bad.udp_queries.load(Ordering::SeqCst), 1);
    assert_eq!(good.udp_queries.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn truncated_udp_answer_is_asked_again_over_tcp() {
    let server = start(Arc::new(|q: &Message, transport| match transport {
        Transport::Udp => {
            let mut msg = response(q, ResponseCode::NoError, false, vec![]);
            msg.metadata.truncation = true;
            vec![wire(&msg)]
        }
        Transport::Tcp => {
            let txt = Record::from_rdata(
                name("example.com."),
                300,
                RData::TXT(TXT::new(vec!["v=spf1 ".into(), "-all".into()])),
            );
            vec![wire(&response(q, ResponseCode::NoError, true, vec![txt]))]
        }
    }))
    .await;
    let answer = resolver(&server).lookup_txt("example.com").await.unwrap();
    assert_eq!(
        answer,
        Answer {
            records: vec![b"v=spf1 -all".to_vec()],
            authentic: true
        }
    );
    assert_eq!(server.udp_queries.load(Ordering::SeqCst), 1);
    assert_eq!(server.tcp_queries.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn responses_with_wrong_id_or_question_are_ignored() {
    let server = start(Arc::new(|q: &Message, _| {
        let forged_a = Record::from_rdata(name("example.com."), 1, RData::A(A::new(6, 6, 6, 6)));
        let mut wrong_id = response(q, ResponseCode::NoError, true, vec![forged_a.clone()]);
        wrong_id.metadata.id = q.metadata.id.wrapping_add(1);
        let mut wrong_question = response(q, ResponseCode::NoError, true, vec![forged_a]);
        wrong_question.queries[0].name = name("other.example.");
        let real = Record::from_rdata(name("example.com."), 1, RData::A(A::new(192, 0, 2, 1)));
        vec![
            vec![0xde, 0xad],
            wire(&wrong_id),
            wire(&wrong_question),
            wire(&response(q, ResponseCode::NoError, false, vec![real])),
        ]
    }))
    .await;
    let answer = resolver(&server).lookup_a("example.com").await.unwrap();
    assert_eq!(
        answer,
        Answer {
            records: vec![Ipv4Addr::new(192, 0, 2, 1)],
            authentic: false
        }
    );
}

#[tokio::test]
async fn silent_server_gives_temporary_timeout() {
    let server = start(Arc::new(|_: &Message, _| vec![])).await;
    let mut config = StubConfig::new(vec![server.addr]);
    config.timeout = Duration::from_millis(50);
    config.attempts = 1;
    let err = StubResolver::with_config(config)
        .lookup_mx("example.com")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LookupError::Temporary {
            name: "example.com".into(),
            reason: format!("timeout waiting for {}", server.addr),
        }
    );
}

#[tokio::test]
async fn records_at_the_end_of_a_cname_chain_count() {
    let server = start(Arc::new(|q: &Message, _| {
        let answers = vec![
            Record::from_rdata(
                name("www.example.com."),
                300,
                RData::CNAME(CNAME(name("web.example.net."))),
            ),
            Record::from_rdata(
                name("web.example.net."),
                300,
                RData::CNAME(CNAME(name("host.example.org."))),
            ),
            Record::from_rdata(
                name("host.example.org."),
                300,
                RData::A(A::new(192, 0, 2, 9)),
            ),
            // Not on the chain: must not be reported.
            Record::from_rdata(
                name("unrelated.example."),
                300,
                RData::A(A::new(192, 0, 2, 66)),
            ),
        ];
        vec![wire(&response(q, ResponseCode::NoError, true, answers))]
    }))
    .await;
    let answer = resolver(&server).lookup_a("www.example.com").await.unwrap();
    assert_eq!(
        answer,
        Answer {
            records: vec![Ipv4Addr::new(192, 0, 2, 9)],
            authentic: true
        }
    );
}

#[tokio::test]
async fn tlsa_ptr_cname_and_null_mx_are_decoded() {
    let server = start(Arc::new(|q: &Message, _| {
        let qname = q.queries[0].name.clone();
        let data = match q.queries[0].query_type.to_string().as_str() {
            "TLSA" => RData::TLSA(TLSA::new(3.into(), 1.into(), 1.into(), vec![0xab, 0xcd])),
            "PTR" => RData::PTR(PTR(name("Host.Example.com."))),
            "CNAME" => RData::CNAME(CNAME(name("target.example.net."))),
            _ => RData::MX(MX::new(0, Name::root())),
        };
        vec![wire(&response(
            q,
            ResponseCode::NoError,
            false,
            vec![Record::from_rdata(qname, 60, data)],
        ))]
    }))
    .await;
    let r = resolver(&server);
    assert_eq!(
        r.lookup_tlsa("_25._tcp.mx.example.com")
            .await
            .unwrap()
            .records,
        vec![Tlsa {
            usage: 3,
            selector: 1,
            matching_type: 1,
            data: vec![0xab, 0xcd]
        }]
    );
    assert_eq!(
        r.lookup_ptr("192.0.2.1".parse().unwrap())
            .await
            .unwrap()
            .records,
        vec!["host.example.com".to_string()]
    );
    assert_eq!(
        server.last_query.lock().unwrap().as_ref().unwrap().queries[0]
            .name
            .to_ascii(),
        "1.2.0.192.in-addr.arpa."
    );
    assert_eq!(
        r.lookup_cname("www.example.com").await.unwrap().records,
        vec!["target.example.net".to_string()]
    );
    assert_eq!(
        r.lookup_mx("null.example.com").await.unwrap().records,
        vec![Mx {
            preference: 0,
            exchange: String::new()
        }]
    );
}

#[tokio::test]
async fn no_servers_is_temporary() {
    let err = resolver_for(vec![])
        .lookup_mx("example.com")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LookupError::Temporary {
            name: "example.com".into(),
            reason: "no dns servers configured".into()
        }
    );
}

fn a_answer(ttl: u32) -> Handler {
    Arc::new(move |q: &Message, _| {
        let rec = Record::from_rdata(
            q.queries[0].name.clone(),
            ttl,
            RData::A(A::new(192, 0, 2, 1)),
        );
        vec![wire(&response(q, ResponseCode::NoError, true, vec![rec]))]
    })
}

#[tokio::test]
async fn positive_answer_is_cached_until_its_ttl_runs_out() {
    let server = start(a_answer(60)).await;
    let r = resolver(&server);
    let first = r.lookup_a("example.com").await.unwrap();
    let second = r.lookup_a("EXAMPLE.com.").await.unwrap();
    assert_eq!(first, second);
    assert_eq!(server.udp_queries.load(Ordering::SeqCst), 1);

    // Another type is another entry.
    assert!(r.lookup_mx("example.com").await.is_err());
    assert_eq!(server.udp_queries.load(Ordering::SeqCst), 2);

    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(61)).await;
    tokio::time::resume();
    let third = r.lookup_a("example.com").await.unwrap();
    assert_eq!(third, first);
    assert_eq!(server.udp_queries.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn zero_ttl_negative_answers_and_disabled_cache_are_not_cached() {
    let server = start(a_answer(0)).await;
    let r = resolver(&server);
    r.lookup_a("example.com").await.unwrap();
    r.lookup_a("example.com").await.unwrap();
    assert_eq!(server.udp_queries.load(Ordering::SeqCst), 2);

    let nx = start(Arc::new(|q: &Message, _| {
        vec![wire(&response(q, ResponseCode::NXDomain, true, vec![]))]
    }))
    .await;
    let r = resolver(&nx);
    assert!(r.lookup_a("gone.example").await.is_err());
    assert!(r.lookup_a("gone.example").await.is_err());
    assert_eq!(nx.udp_queries.load(Ordering::SeqCst), 2);

    let server = start(a_answer(300)).await;
    let mut config = StubConfig::new(vec![server.addr]);
    config.cache_entries = 0;
    let r = StubResolver::with_config(config);
    r.lookup_a("example.com").await.unwrap();
    r.lookup_a("example.com").await.unwrap();
    assert_eq!(server.udp_queries.load(Ordering::SeqCst), 2);
}
