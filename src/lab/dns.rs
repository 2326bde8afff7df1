//! The lab's DNS server (hickory-server): A records to the lab for every
//! host, CNAME chains, SRV, MX; NXDOMAIN (with an SOA) for everything else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;

use hickory_proto::op::{Header, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, SOA, SRV};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::authority::MessageResponseBuilder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};

use super::scenario::Scenario;

const TTL: u32 = 60;

#[derive(Debug)]
pub struct LabDns {
    records: HashMap<LowerName, Vec<Record>>,
    soa: Record,
}

fn name(s: &str) -> Name {
    let fq = if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    };
    Name::from_str(&fq).unwrap_or_else(|_| Name::root())
}

impl LabDns {
    pub fn new(scenario: &Scenario, lab_ip: IpAddr) -> Self {
        let mut records: HashMap<LowerName, Vec<Record>> = HashMap::new();
        let mut add = |owner: &str, data: RData| {
            let n = name(owner);
            records
                .entry(LowerName::from(&n))
                .or_default()
                .push(Record::from_rdata(n, TTL, data));
        };
        let address = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        for host in scenario
            .hosts
            .iter()
            .map(|h| h.name.as_str())
            .chain(scenario.dns.a.iter().map(String::as_str))
        {
            add(host, address(lab_ip));
        }
        for c in &scenario.dns.cname {
            add(&c.name, RData::CNAME(CNAME(name(&c.target))));
        }
        for s in &scenario.dns.srv {
            add(
                &s.name,
                RData::SRV(SRV::new(s.priority, s.weight, s.port, name(&s.target))),
            );
        }
        for m in &scenario.dns.mx {
            add(&m.name, RData::MX(MX::new(m.preference, name(&m.exchange))));
        }
        let soa = Record::from_rdata(
            Name::root(),
            TTL,
            RData::SOA(SOA::new(
                name("ns.exprobe-lab.invalid"),
                name("hostmaster.exprobe-lab.invalid"),
                1,
                3600,
                600,
                86400,
                TTL,
            )),
        );
        LabDns { records, soa }
    }

    /// Answers for (name, type), following CNAMEs (bounded).
    pub fn answer(&self, qname: &LowerName, qtype: RecordType) -> (ResponseCode, Vec<Record>) {
        let mut answers = vec![];
        let mut current = qname.clone();
        for _ in 0..8 {
            let Some(set) = self.records.get(&current) else {
                return if answers.is_empty() {
                    (ResponseCode::NXDomain, answers)
                } else {
                    (ResponseCode::NoError, answers)
                };
            };
            let direct: Vec<Record> = set.iter().filter(|r| r.record_type() == qtype).cloned().collect();
            if !direct.is_empty() || qtype == RecordType::CNAME {
                answers.extend(direct);
                return (ResponseCode::NoError, answers);
            }
            match set.iter().find_map(|r| match r.data() {
                Some(RData::CNAME(c)) => Some((r.clone(), c.0.clone())),
                _ => None,
            }) {
                Some((record, target)) => {
                    answers.push(record);
                    current = LowerName::from(&target);
                }
                None => return (ResponseCode::NoError, answers),
            }
        }
        (ResponseCode::NoError, answers)
    }
}

#[async_trait::async_trait]
impl RequestHandler for LabDns {
    async fn handle_request<R: ResponseHandler>(&self, request: &Request, mut response_handle: R) -> ResponseInfo {
        let info = request.request_info();
        let builder = MessageResponseBuilder::from_message_request(request);
        let mut header = Header::response_from_request(info.header);
        header.set_authoritative(true);
        header.set_recursion_available(true);
        if info.header.message_type() != MessageType::Query || info.header.op_code() != OpCode::Query {
            header.set_response_code(ResponseCode::NotImp);
            let response = builder.build_no_records(header);
            return response_handle
                .send_response(response)
                .await
                .unwrap_or_else(|_| header.into());
        }
        let (code, answers) = self.answer(info.query.name(), info.query.query_type());
        header.set_response_code(code);
        let soa: Vec<Record> = if answers.is_empty() {
            vec![self.soa.clone()]
        } else {
            vec![]
        };
        let response = builder.build(
            header,
            answers.iter(),
            std::iter::empty(),
            soa.iter(),
            std::iter::empty(),
        );
        response_handle.send_response(response).await.unwrap_or_else(|_| {
            let mut h = Header::new();
            h.set_response_code(ResponseCode::ServFail);
            h.into()
        })
    }
}
