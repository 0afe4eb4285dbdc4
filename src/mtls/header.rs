//! The client certificate a TLS-terminating proxy passes in a header, and
//! the addresses it is believed from.

use std::net::IpAddr;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rustls::pki_types::CertificateDer;

/// An address or a network (`10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    len: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let bad = || format!("{s:?} is not an IP address or CIDR");
        let (ip, len) = match s.trim().split_once('/') {
            Some((ip, len)) => (ip, Some(len.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let net: IpAddr = ip.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let len = len.unwrap_or(max);
        if len > max {
            return Err(bad());
        }
        Ok(Cidr { net, len })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (a, b, bits) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(i)), 32u32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.len);
        a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
    }
}

/// `%XX` escapes decoded (`+` is kept: base64 uses it).
fn percent_decode(s: &str) -> Option<String> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let h = bytes.get(i + 1).copied().and_then(hex)?;
            let l = bytes.get(i + 2).copied().and_then(hex)?;
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// The chain (leaf first) in a header value: URL-encoded PEM (nginx's
/// `$ssl_client_escaped_cert`), PEM whose line breaks became spaces, or
/// base64 DER. `None` when it is none of these.
pub(super) fn decode(value: &str) -> Option<Vec<CertificateDer<'static>>> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let text = if value.contains('%') {
        percent_decode(value)?
    } else {
        value.to_string()
    };
    let mut chain = Vec::new();
    if text.contains(BEGIN) {
        let mut rest = text.as_str();
        while let Some(start) = rest.find(BEGIN) {
            let after = rest.get(start + BEGIN.len()..)?;
            let end = after.find(END)?;
            let body: String = after
                .get(..end)?
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            chain.push(CertificateDer::from(STANDARD.decode(body).ok()?));
            rest = after.get(end + END.len()..)?;
        }
    } else {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let der = STANDARD
            .decode(&compact)
            .or_else(|_| URL_SAFE_NO_PAD.decode(compact.trim_end_matches('=')))
            .ok()?;
        chain.push(CertificateDer::from(der));
    }
    (!chain.is_empty()).then_some(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_their_addresses() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(one.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(Cidr::parse("::/0")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "host", "1.2.3.4/x"] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn header_forms_decode() {
        let der = vec![0x30u8, 0x03, 0x02, 0x01, 0x01];
        let b64 = STANDARD.encode(&der);
        let pem = format!("{BEGIN}\n{b64}\n{END}\n");
        let escaped: String = pem
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => char::from(b).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        for v in [b64.clone(), pem.replace('\n', " "), escaped] {
            let chain = decode(&v).unwrap();
            assert_eq!(chain.len(), 1, "{v}");
            assert_eq!(chain[0].as_ref(), &der[..], "{v}");
        }
        assert!(decode("not a cert!").is_none());
        assert!(decode("%zz").is_none());
    }
}
