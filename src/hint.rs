//! What an error passed on verbatim from a dependency (a DER decoder, rustls, reqwest,
//! serde_json) means for the user: one leaf helper shared by the config loader, the gate's
//! findings and the renderers.

/// What an error passed on verbatim from a dependency (a DER decoder, rustls, reqwest,
/// serde_json) means for the user, and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explained {
    /// What happened, in the user's terms.
    pub meaning: &'static str,
    /// The likely fix.
    pub action: &'static str,
}

/// The [`Explained`] sentence for a dependency's error text found in `raw`, or `None` when
/// `raw` holds none of the known kinds. The raw text stays in the message after it: it is
/// what a bug report or a search needs.
pub fn explain_dependency_error(raw: &str) -> Option<Explained> {
    let has = |signs: &[&str]| signs.iter().any(|s| raw.contains(s));
    if has(&["ASN.1", "DER byte", "DER message", "der::Error"]) {
        return Some(Explained {
            meaning: "a certificate or key could not be decoded: its bytes are damaged, \
                      truncated or not the kind of object expected here",
            action: "get a fresh copy of it (export the key again with `cosign public-key`, \
                     download the trusted root again, or sign the image again)",
        });
    }
    if has(&[
        "invalid peer certificate",
        "UnknownIssuer",
        "NotValidForName",
        "certificate verify failed",
        "CertificateExpired",
        "BadSignature",
        "InvalidCertificate",
    ]) {
        return Some(Explained {
            meaning: "the registry's TLS certificate is not trusted on this machine (a \
                      private CA, a self-signed or expired certificate, or one for another host)",
            action: "install the registry's CA certificate in the system trust store, or have \
                     the certificate fixed; do not turn TLS off for a registry you deploy from",
        });
    }
    if has(&[
        "tls handshake",
        "HandshakeFailure",
        "received fatal alert",
        "peer is incompatible",
    ]) {
        return Some(Explained {
            meaning: "the TLS handshake with the registry failed",
            action: "check that the host serves HTTPS on that port and that no proxy \
                     intercepts TLS",
        });
    }
    if has(&[
        "dns error",
        "failed to lookup address",
        "Connection refused",
        "connection refused",
        "Connection reset",
        "error sending request",
        "tcp connect error",
    ]) {
        return Some(Explained {
            meaning: "the registry could not be reached",
            action: "check the host name and port, the network, and any proxy (`HTTPS_PROXY`)",
        });
    }
    let json_position = raw.contains(" at line ") && raw.contains(" column ");
    if json_position
        && has(&[
            "expected value",
            "EOF while parsing",
            "missing field",
            "invalid type",
            "unknown variant",
            "trailing characters",
            "expected `",
            "key must be a string",
        ])
    {
        return Some(Explained {
            meaning: "a JSON document (a registry's answer or a file) does not have the shape \
                      expected here",
            action: "check that the file is the kind the setting names, or that the host is \
                     the registry itself and no proxy or login page answers in its place",
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_errors_get_a_meaning_and_an_action() {
        let der = "malformed ASN.1 DER value for GeneralizedTime at DER byte 71";
        let e = explain_dependency_error(der).unwrap();
        assert!(e
            .meaning
            .starts_with("a certificate or key could not be decoded"));
        let tls = "error sending request: client error (Connect): invalid peer certificate: \
                   UnknownIssuer";
        assert!(explain_dependency_error(tls)
            .unwrap()
            .meaning
            .contains("TLS certificate is not trusted"));
        let json = "invalid registry response: expected value at line 1 column 1";
        assert!(explain_dependency_error(json)
            .unwrap()
            .meaning
            .contains("does not have the shape expected"));
        assert_eq!(explain_dependency_error("HTTP 503 after 3 retries"), None);
        assert_eq!(explain_dependency_error("tag `v9` not found"), None);
    }
}
