//! Just enough of the DNS wire format (RFC 1035) for a health probe: one
//! recursive A query, and whether the answer says the name resolved.

/// Record type A and class IN.
const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
/// Recursion desired: the server is usually a resolver (a Pi-hole, say).
const FLAG_RD: u16 = 0x0100;
const FLAG_QR: u8 = 0x80;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnsError {
    #[error("{0:?} is not a valid DNS name")]
    Name(String),
    #[error("malformed answer ({0} bytes)")]
    Malformed(usize),
    #[error("answer to another query")]
    WrongId,
    #[error("server answered {}", rcode_name(*.0))]
    Rcode(u8),
    #[error("no A record in the answer")]
    NoAnswer,
}

/// An A query for `name` with message id `id`.
pub fn query(id: u16, name: &str) -> Result<Vec<u8>, DnsError> {
    let mut packet = Vec::with_capacity(name.len() + 18);
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&FLAG_RD.to_be_bytes());
    // One question, no answer, authority or additional records.
    packet.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    let invalid = || DnsError::Name(name.to_string());
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(invalid());
    }
    for label in trimmed.split('.') {
        let len = u8::try_from(label.len()).map_err(|_| invalid())?;
        if len == 0 || len > 63 {
            return Err(invalid());
        }
        packet.push(len);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&TYPE_A.to_be_bytes());
    packet.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(packet)
}

/// Checks that `answer` replies to query `id` with NOERROR and at least one
/// answer record.
pub fn check_answer(id: u16, answer: &[u8]) -> Result<(), DnsError> {
    if answer.len() < 12 || answer[2] & FLAG_QR == 0 {
        return Err(DnsError::Malformed(answer.len()));
    }
    if u16::from_be_bytes([answer[0], answer[1]]) != id {
        return Err(DnsError::WrongId);
    }
    let rcode = answer[3] & 0x0f;
    if rcode != 0 {
        return Err(DnsError::Rcode(rcode));
    }
    if u16::from_be_bytes([answer[6], answer[7]]) == 0 {
        return Err(DnsError::NoAnswer);
    }
    Ok(())
}

fn rcode_name(rcode: u8) -> String {
    match rcode {
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        other => format!("RCODE {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_header_question_type_and_class() {
        let q = query(0xbeef, "pi.hole.").unwrap();
        assert_eq!(
            q,
            [
                0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, // header
                2, b'p', b'i', 4, b'h', b'o', b'l', b'e', 0, // name
                0, 1, 0, 1, // A, IN
            ]
        );
        assert_eq!(query(1, "pi.hole").unwrap()[2..], q[2..]);
    }

    #[test]
    fn bad_names_are_refused() {
        for name in ["", ".", "a..b", &"x".repeat(64), &"a.".repeat(130)] {
            assert!(query(1, name).is_err(), "{name:?}");
        }
    }

    fn answer(id: u16, flags: [u8; 2], answers: u16) -> Vec<u8> {
        let mut a = id.to_be_bytes().to_vec();
        a.extend_from_slice(&flags);
        a.extend_from_slice(&[0, 1]);
        a.extend_from_slice(&answers.to_be_bytes());
        a.extend_from_slice(&[0, 0, 0, 0]);
        a
    }

    #[test]
    fn only_a_noerror_answer_with_records_passes() {
        assert_eq!(check_answer(7, &answer(7, [0x81, 0x80], 1)), Ok(()));
        assert_eq!(
            check_answer(7, &answer(7, [0x81, 0x83], 0)),
            Err(DnsError::Rcode(3))
        );
        assert_eq!(
            check_answer(7, &answer(7, [0x81, 0x80], 0)),
            Err(DnsError::NoAnswer)
        );
        assert_eq!(
            check_answer(7, &answer(8, [0x81, 0x80], 1)),
            Err(DnsError::WrongId)
        );
        // A query, not an answer.
        assert_eq!(
            check_answer(7, &answer(7, [0x01, 0x00], 1)),
            Err(DnsError::Malformed(12))
        );
        assert_eq!(DnsError::Rcode(3).to_string(), "server answered NXDOMAIN");
    }
}
