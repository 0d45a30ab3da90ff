//! Building queries and reading answers out of responses.

use hickory_proto::op::{Edns, Message, MessageType, Query};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use crate::MAX_CNAME_CHAIN;

/// A recursive query with RD, AD and EDNS0 DO set. The id is random.
pub(crate) fn build_query(name: Name, rtype: RecordType, udp_payload: u16) -> Message {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    // AD=1 in a query asks the resolver to report validation status even
    // for clients that do not set DO (RFC 6840 §5.7); we set both.
    msg.metadata.authentic_data = true;
    let mut query = Query::query(name, rtype);
    query.set_query_class(DNSClass::IN);
    msg.add_query(query);
    let mut edns = Edns::new();
    edns.set_max_payload(udp_payload);
    edns.set_version(0);
    edns.set_dnssec_ok(true);
    msg.set_edns(edns);
    msg
}

/// A name as this crate reports it: lower-case ASCII without trailing dot
/// (the root becomes "").
pub(crate) fn name_string(name: &Name) -> String {
    let ascii = name.to_ascii();
    ascii
        .strip_suffix('.')
        .unwrap_or(&ascii)
        .to_ascii_lowercase()
}

/// Whether `response` answers `query`: a response with the same id and the
/// same single question (names compared case-insensitively, RFC 4343).
pub(crate) fn answers_query(query: &Message, response: &Message) -> bool {
    if response.metadata.message_type != MessageType::Response
        || response.metadata.id != query.metadata.id
    {
        return false;
    }
    match (query.queries.as_slice(), response.queries.as_slice()) {
        ([q], [r]) => {
            q.query_type == r.query_type
                && q.query_class == r.query_class
                && name_string(&q.name) == name_string(&r.name)
        }
        _ => false,
    }
}

/// The records of type `rtype` owned by `qname` or by any name its CNAME
/// chain in the answer section leads to (for CNAME queries, only `qname`).
pub(crate) fn extract<T>(
    response: &Message,
    qname: &str,
    rtype: RecordType,
    pick: impl Fn(&RData) -> Option<T>,
) -> Vec<T> {
    let mut owners = vec![qname.to_owned()];
    if rtype != RecordType::CNAME {
        let mut current = qname.to_owned();
        for _ in 0..MAX_CNAME_CHAIN {
            let next = response.answers.iter().find_map(|rec| match &rec.data {
                RData::CNAME(target) if name_string(&rec.name) == current => {
                    Some(name_string(&target.0))
                }
                _ => None,
            });
            match next {
                Some(target) if !owners.contains(&target) => {
                    owners.push(target.clone());
                    current = target;
                }
                _ => break,
            }
        }
    }
    response
        .answers
        .iter()
        .filter(|rec| rec.record_type() == rtype && owners.contains(&name_string(&rec.name)))
        .filter_map(|rec| pick(&rec.data))
        .collect()
}
