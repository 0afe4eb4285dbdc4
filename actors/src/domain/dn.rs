//! Distinguished names as RFC 4514 writes them, in a form two names can be
//! compared in: the registered `tls_client_auth_subject_dn` of a client
//! (RFC 8705 §2.1.2) against the subject of the certificate it presents.
//!
//! Normalized: attribute types by their short name (`commonName`,
//! `2.5.4.3` and `cn` are all `CN`), values trimmed, inner whitespace
//! collapsed and compared without case (caseIgnoreMatch, which the usual
//! directory string attributes use), the attributes of a multi-valued RDN
//! in a fixed order. RDNs keep the order of the string form (the most
//! specific, e.g. `CN`, first).

/// A parsed, normalized distinguished name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn(Vec<Vec<(String, String)>>);

/// Attribute type names and OIDs, and the short name each one stands for.
const TYPES: &[(&str, &[&str])] = &[
    ("CN", &["COMMONNAME", "2.5.4.3"]),
    ("SERIALNUMBER", &["2.5.4.5"]),
    ("C", &["COUNTRYNAME", "2.5.4.6"]),
    ("L", &["LOCALITYNAME", "2.5.4.7"]),
    ("ST", &["STATEORPROVINCENAME", "2.5.4.8"]),
    ("STREET", &["STREETADDRESS", "2.5.4.9"]),
    ("O", &["ORGANIZATIONNAME", "2.5.4.10"]),
    ("OU", &["ORGANIZATIONALUNITNAME", "2.5.4.11"]),
    ("DC", &["DOMAINCOMPONENT", "0.9.2342.19200300.100.1.25"]),
    ("UID", &["USERID", "0.9.2342.19200300.100.1.1"]),
    ("EMAILADDRESS", &["E", "1.2.840.113549.1.9.1"]),
];

fn norm_type(t: &str) -> String {
    let t = t.trim().to_ascii_uppercase();
    let t = t.strip_prefix("OID.").unwrap_or(&t);
    TYPES
        .iter()
        .find(|(short, names)| *short == t || names.contains(&t))
        .map_or_else(|| t.to_string(), |(short, _)| (*short).to_string())
}

fn norm_value(v: &str) -> String {
    v.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl Dn {
    /// A name from its RDNs, in the string form's order, each a list of
    /// (attribute type, value).
    pub fn new(rdns: Vec<Vec<(String, String)>>) -> Dn {
        Dn(rdns
            .into_iter()
            .map(|rdn| {
                let mut rdn: Vec<(String, String)> = rdn
                    .into_iter()
                    .map(|(t, v)| (norm_type(&t), norm_value(&v)))
                    .collect();
                rdn.sort();
                rdn
            })
            .collect())
    }

    /// Parse an RFC 4514 string (`CN=client,O=Example\, Inc.,C=DE`).
    pub fn parse(s: &str) -> Result<Dn, String> {
        fn hex(b: u8) -> Option<u8> {
            (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
        }
        fn attribute(ty: &str, val: &[u8]) -> Result<(String, String), String> {
            let ty = ty.trim();
            let ok = !ty.is_empty()
                && ty
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !ok {
                return Err(format!("{ty:?} is not an attribute type"));
            }
            let val =
                String::from_utf8(val.to_vec()).map_err(|_| "a value is not UTF-8".to_string())?;
            Ok((ty.to_string(), val))
        }
        let bytes = s.as_bytes();
        let (mut rdns, mut rdn) = (Vec::new(), Vec::new());
        let (mut ty, mut val, mut in_value) = (String::new(), Vec::new(), false);
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\\' if in_value => {
                    let next = bytes.get(i + 1).copied().ok_or("a trailing backslash")?;
                    match (hex(next), bytes.get(i + 2).copied().and_then(hex)) {
                        (Some(h), Some(l)) => {
                            val.push(h * 16 + l);
                            i += 3;
                        }
                        _ => {
                            val.push(next);
                            i += 2;
                        }
                    }
                    continue;
                }
                b'=' if !in_value => in_value = true,
                b',' | b';' | b'+' => {
                    if !in_value {
                        return Err(format!("{:?} has no value", ty.trim()));
                    }
                    rdn.push(attribute(&ty, &val)?);
                    ty.clear();
                    val.clear();
                    in_value = false;
                    if b != b'+' {
                        rdns.push(std::mem::take(&mut rdn));
                    }
                }
                _ if in_value => val.push(b),
                _ if b.is_ascii() => ty.push(char::from(b)),
                _ => return Err("an attribute type is not ASCII".into()),
            }
            i += 1;
        }
        if !in_value {
            return Err("not a distinguished name (TYPE=value, ...)".into());
        }
        rdn.push(attribute(&ty, &val)?);
        rdns.push(rdn);
        Ok(Dn::new(rdns))
    }
}

#[cfg(test)]
mod tests {
    use super::Dn;

    #[test]
    fn names_compare_normalized() {
        let a = Dn::parse("CN=Client One,O=Example\\, Inc.,C=DE").unwrap();
        let b =
            Dn::parse("cn = client  one , organizationName=example\\2c inc., 2.5.4.6=de").unwrap();
        assert_eq!(a, b);
        let multi = Dn::parse("CN=x+UID=7,O=y").unwrap();
        assert_eq!(multi, Dn::parse("uid=7+cn=X,o=Y").unwrap());
        assert_ne!(
            a,
            Dn::parse("O=Example\\, Inc.,CN=Client One,C=DE").unwrap()
        );
        for bad in ["", "CN", "CN=a,", "=a", "C N=a"] {
            assert!(Dn::parse(bad).is_err(), "{bad:?}");
        }
    }
}
