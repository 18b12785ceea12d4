//! Text helpers of the renderers: dependency errors explained in the user's terms, and
//! characters that could act on a terminal escaped.

use std::fmt;

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

/// Whether `c` acts on a terminal or on the text around it instead of showing as itself: C0
/// and C1 controls (ESC starts terminal sequences), DEL, the Unicode bidirectional controls
/// (U+202E shows `lmay.gnp` as `gnp.yaml`: "Trojan Source"), the line and paragraph
/// separators, the zero-width space and the byte-order mark.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Writes `c` as `\u{202e}`: visible, and what a Rust or JavaScript string would read back.
pub fn push_escaped(out: &mut String, c: char) {
    use fmt::Write as _;
    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
}

/// `s` with every [`is_unsafe_char`] escaped as `\u{…}`, line breaks included: one line of
/// text that shows what the manifest holds and cannot act on the terminal.
pub fn escape_unsafe(s: &str) -> std::borrow::Cow<'_, str> {
    escape_unsafe_except(s, &[])
}

/// Like [`escape_unsafe`], but each char of `keep` passes as it is (a renderer that handles
/// line breaks itself keeps `\n`).
pub fn escape_unsafe_except<'a>(s: &'a str, keep: &[char]) -> std::borrow::Cow<'a, str> {
    if !s.chars().any(|c| is_unsafe_char(c) && !keep.contains(&c)) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_char(c) && !keep.contains(&c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}
