//! RFC 8705 §2.1.2: whether a certificate carries the subject DN or the
//! subject alternative name a `tls_client_auth` client registered.

use std::net::IpAddr;

use tessera_actors::directory::CertificateName;
use tessera_actors::domain::dn::Dn;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate, X509Name};

/// The certificate's subject in the RFC 4514 string order (the last RDN
/// of the encoding first); `None` if a value is not a string.
fn subject(name: &X509Name<'_>) -> Option<Dn> {
    let mut rdns = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let value = atv.as_str().ok()?;
                    Some((atv.attr_type().to_id_string(), value.to_string()))
                })
                .collect::<Option<Vec<_>>>()
        })
        .collect::<Option<Vec<_>>>()?;
    rdns.reverse();
    Some(Dn::new(rdns))
}

fn ip(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Whether the certificate `der` carries `want`.
pub fn matches(want: &CertificateName, der: &[u8]) -> bool {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return false;
    };
    if let CertificateName::SubjectDn(dn) = want {
        return match (Dn::parse(dn), subject(cert.subject())) {
            (Ok(a), Some(b)) => a == b,
            _ => false,
        };
    }
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    san.value.general_names.iter().any(|g| match (want, g) {
        (CertificateName::SanDns(d), GeneralName::DNSName(n)) => n.eq_ignore_ascii_case(d),
        (CertificateName::SanUri(u), GeneralName::URI(n)) => n == u,
        (CertificateName::SanIp(a), GeneralName::IPAddress(b)) => ip(b) == Some(*a),
        (CertificateName::SanEmail(e), GeneralName::RFC822Name(n)) => n.eq_ignore_ascii_case(e),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_read_in_string_order_and_sans_match() {
        let sans = vec!["a.example".to_string(), "10.0.0.7".to_string()];
        let mut params = rcgen::CertificateParams::new(sans).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CountryName, "DE");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Client One");
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let dn = |s: &str| CertificateName::SubjectDn(s.into());
        assert!(matches(&dn("CN=Client One,C=DE"), &der));
        assert!(matches(&dn("commonName=client one, c=de"), &der));
        assert!(!matches(&dn("C=DE,CN=Client One"), &der));
        assert!(!matches(&dn("CN=Client One"), &der));
        assert!(matches(&CertificateName::SanDns("A.example".into()), &der));
        assert!(!matches(&CertificateName::SanDns("b.example".into()), &der));
        assert!(matches(
            &CertificateName::SanIp("10.0.0.7".parse().unwrap()),
            &der
        ));
        assert!(!matches(
            &CertificateName::SanUri("https://a.example".into()),
            &der
        ));
        assert!(!matches(&dn("CN=x"), b"not a certificate"));
    }
}
