//! Certificate revocation lists for Notation's revocation check, read from files (a
//! trust store directory's `crl/` folder, or paths in config). Nothing is fetched: supplygate
//! does not reach CRL distribution points (see docs/notation.md).

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateRevocationListDer;

use crate::reference::Digest;

/// The largest CRL file read.
const CRL_MAX: u64 = 16 * 1024 * 1024;

/// Why a CRL file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    /// The file cannot be read (or is larger than 16 MiB).
    #[error("cannot read CRL file `{}`", .path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
    },
    /// Neither PEM `X509 CRL` blocks nor one DER CRL.
    #[error("`{}` is not a certificate revocation list (PEM `X509 CRL` or DER)", .path.display())]
    NotACrl {
        /// The file.
        path: PathBuf,
    },
}

/// The CRLs a signer may use, DER, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Crls {
    lists: Vec<Vec<u8>>,
}

impl Crls {
    /// No CRLs.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads every file: PEM `X509 CRL` blocks, or one DER CRL each. Each must parse.
    pub fn from_files(paths: &[PathBuf]) -> Result<Self, CrlError> {
        let mut lists = Vec::new();
        for path in paths {
            lists.extend(read_crls(path)?);
        }
        Ok(Self { lists })
    }

    /// Adds the CRL files of a directory (not recursive, sorted by name); a missing
    /// directory adds nothing.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), CrlError> {
        if !dir.is_dir() {
            return Ok(());
        }
        let unreadable = || CrlError::Unreadable {
            path: dir.to_path_buf(),
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|_| unreadable())?
            .map(|e| e.map(|e| e.path()).map_err(|_| unreadable()))
            .collect::<Result<_, _>>()?;
        paths.sort();
        for path in paths.iter().filter(|p| p.is_file()) {
            self.lists.extend(read_crls(path)?);
        }
        Ok(())
    }

    /// Adds one DER CRL (must parse).
    pub fn add_der(&mut self, der: Vec<u8>) -> bool {
        if webpki::OwnedCertRevocationList::from_der(&der).is_err() {
            return false;
        }
        self.lists.push(der);
        true
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// The lists, DER.
    pub fn lists(&self) -> &[Vec<u8>] {
        &self.lists
    }

    /// The digests of the lists, for the lock's fingerprint.
    pub fn fingerprint(&self) -> Vec<String> {
        self.lists
            .iter()
            .map(|der| Digest::sha256_of(der).to_string())
            .collect()
    }
}

fn read_crls(path: &Path) -> Result<Vec<Vec<u8>>, CrlError> {
    let bytes = crate::bounded::read_file(path, CRL_MAX)
        .ok()
        .flatten()
        .ok_or_else(|| CrlError::Unreadable {
            path: path.to_path_buf(),
        })?;
    let not_crl = || CrlError::NotACrl {
        path: path.to_path_buf(),
    };
    let pem: Vec<Vec<u8>> = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| not_crl())?;
    let lists = if pem.is_empty() { vec![bytes] } else { pem };
    for der in &lists {
        webpki::OwnedCertRevocationList::from_der(der).map_err(|_| not_crl())?;
    }
    Ok(lists)
}

/// Why the revocation status of a certificate is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationProblem {
    /// No CRL given is issued by the certificate's issuer.
    #[error("no CRL of its issuer was given")]
    NoCrl,
    /// The CRLs of its issuer that verify are past their `nextUpdate` (or not yet valid, or
    /// have none).
    #[error("the CRLs of its issuer are past their nextUpdate")]
    CrlExpired,
    /// No CRL with its issuer's name verifies (signature by the issuer's key, issuer without
    /// `cRLSign`, an unknown critical extension, a delta CRL).
    #[error("the CRL of its issuer does not verify")]
    CrlInvalid,
    /// The CRLs of its issuer that verify do not cover it: their issuing distribution point
    /// is scoped to CA (or end-entity) certificates only, to some reasons, to another
    /// distribution point, or the CRL is indirect.
    #[error("the CRLs of its issuer that verify do not cover it (issuing distribution point)")]
    CrlNotCovering,
}

const ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
const CRL_NUMBER: &str = "2.5.29.20";
const AUTHORITY_KEY_IDENTIFIER: &str = "2.5.29.35";
const FRESHEST_CRL: &str = "2.5.29.46";
const REASON_CODE: &str = "2.5.29.21";
const INVALIDITY_DATE: &str = "2.5.29.24";

/// What one CRL says about one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Another issuer's CRL.
    NotOfIssuer,
    /// The issuer's name, but the CRL does not verify (forged, unusable).
    Invalid,
    /// It verifies but its scope does not include the certificate.
    NotCovering,
    /// It verifies, covers the certificate and lists it.
    Lists,
    /// It verifies, covers the certificate, does not list it, and is current.
    CurrentClean,
    /// It verifies, covers the certificate, does not list it, and is not current.
    StaleClean,
}

fn oid_is(oid: &x509_cert::der::asn1::ObjectIdentifier, dotted: &str) -> bool {
    oid.to_string() == dotted
}

/// The DER contents of an AlgorithmIdentifier (what webpki's constants hold).
fn algorithm_contents(alg: &x509_cert::spki::AlgorithmIdentifierOwned) -> Option<Vec<u8>> {
    use x509_cert::der::Encode as _;
    let mut out = alg.oid.to_der().ok()?;
    if let Some(params) = &alg.parameters {
        out.extend(params.to_der().ok()?);
    }
    Some(out)
}

/// Whether the signature of `crl` verifies with the public key of `issuer`.
fn signed_by(crl: &x509_cert::crl::CertificateList, issuer: &x509_cert::Certificate) -> bool {
    use x509_cert::der::Encode as _;
    let spki = &issuer.tbs_certificate.subject_public_key_info;
    let (Some(signature_alg), Some(key_alg), Ok(message), Some(key), Some(signature)) = (
        algorithm_contents(&crl.signature_algorithm),
        algorithm_contents(&spki.algorithm),
        crl.tbs_cert_list.to_der(),
        spki.subject_public_key.as_bytes(),
        crl.signature.as_bytes(),
    ) else {
        return false;
    };
    // the inner and outer signature algorithms must agree (RFC 5280 5.1.1.2)
    if algorithm_contents(&crl.tbs_cert_list.signature).as_ref() != Some(&signature_alg) {
        return false;
    }
    webpki::ALL_VERIFICATION_ALGS.iter().any(|alg| {
        alg.signature_alg_id().as_ref() == signature_alg.as_slice()
            && alg.public_key_alg_id().as_ref() == key_alg.as_slice()
            && alg.verify_signature(key, &message, signature).is_ok()
    })
}

fn is_ca(cert: &x509_cert::Certificate) -> bool {
    use x509_cert::der::Decode as _;
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| oid_is(&e.extn_id, "2.5.29.19"))
        .any(|e| {
            x509_cert::ext::pkix::BasicConstraints::from_der(e.extn_value.as_bytes())
                .is_ok_and(|bc| bc.ca)
        })
}

/// Whether the issuer may sign CRLs: no key usage extension, or one with `cRLSign`.
fn may_sign_crls(issuer: &x509_cert::Certificate) -> bool {
    use x509_cert::der::Decode as _;
    let Some(ku) = issuer
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| oid_is(&e.extn_id, "2.5.29.15"))
    else {
        return true;
    };
    x509_cert::ext::pkix::KeyUsage::from_der(ku.extn_value.as_bytes()).is_ok_and(|ku| ku.crl_sign())
}

/// The distribution point names of `cert`'s CRL distribution points, DER.
fn distribution_point_names(cert: &x509_cert::Certificate) -> Vec<Vec<u8>> {
    use x509_cert::der::{Decode as _, Encode as _};
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| oid_is(&e.extn_id, "2.5.29.31"))
        .filter_map(|e| {
            x509_cert::ext::pkix::CrlDistributionPoints::from_der(e.extn_value.as_bytes()).ok()
        })
        .flat_map(|points| points.0)
        .filter_map(|point| point.distribution_point.and_then(|name| name.to_der().ok()))
        .collect()
}

/// Whether the CRL's scope (its issuing distribution point) includes `cert`; `None` when the
/// CRL is unusable (an extension that does not parse, an unknown critical one, a delta CRL).
fn covers(crl: &x509_cert::crl::CertificateList, cert: &x509_cert::Certificate) -> Option<bool> {
    use x509_cert::der::{Decode as _, Encode as _};
    let mut covering = true;
    for ext in crl.tbs_cert_list.crl_extensions.iter().flatten() {
        let id = ext.extn_id.to_string();
        match id.as_str() {
            ISSUING_DISTRIBUTION_POINT => {
                let idp = x509_cert::ext::pkix::IssuingDistributionPoint::from_der(
                    ext.extn_value.as_bytes(),
                )
                .ok()?;
                let ca = is_ca(cert);
                if idp.only_some_reasons.is_some()
                    || idp.indirect_crl
                    || idp.only_contains_attribute_certs
                    || (idp.only_contains_user_certs && ca)
                    || (idp.only_contains_ca_certs && !ca)
                {
                    covering = false;
                }
                if let Some(name) = &idp.distribution_point {
                    let name = name.to_der().ok()?;
                    if !distribution_point_names(cert).contains(&name) {
                        covering = false;
                    }
                }
            }
            CRL_NUMBER | AUTHORITY_KEY_IDENTIFIER | FRESHEST_CRL => {}
            // a delta CRL (2.5.29.27) or anything else critical that is not understood
            _ if ext.critical => return None,
            _ => {}
        }
    }
    for entry in crl.tbs_cert_list.revoked_certificates.iter().flatten() {
        for ext in entry.crl_entry_extensions.iter().flatten() {
            let id = ext.extn_id.to_string();
            // certificateIssuer (indirect entries) and anything else critical: unusable
            if ext.critical && id != REASON_CODE && id != INVALIDITY_DATE {
                return None;
            }
        }
    }
    Some(covering)
}

/// What `crl` says about `cert`, issued by `issuer`, at `now`.
fn judge(
    crl: &x509_cert::crl::CertificateList,
    cert: &x509_cert::Certificate,
    issuer: &x509_cert::Certificate,
    now: jiff::Timestamp,
) -> Verdict {
    use x509_cert::der::Encode as _;
    let named = |a: &x509_cert::name::Name, b: &x509_cert::name::Name| matches!((a.to_der(), b.to_der()), (Ok(x), Ok(y)) if x == y);
    if !named(&crl.tbs_cert_list.issuer, &cert.tbs_certificate.issuer) {
        return Verdict::NotOfIssuer;
    }
    if !named(&crl.tbs_cert_list.issuer, &issuer.tbs_certificate.subject)
        || !may_sign_crls(issuer)
        || !signed_by(crl, issuer)
    {
        return Verdict::Invalid;
    }
    match covers(crl, cert) {
        None => return Verdict::Invalid,
        Some(false) => return Verdict::NotCovering,
        Some(true) => {}
    }
    let serial = cert.tbs_certificate.serial_number.as_bytes();
    if crl
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .any(|entry| entry.serial_number.as_bytes() == serial)
    {
        return Verdict::Lists;
    }
    let secs = |t: &x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).ok();
    let this_ok = secs(&crl.tbs_cert_list.this_update).is_some_and(|t| t <= now.as_second());
    let next_ok = crl
        .tbs_cert_list
        .next_update
        .as_ref()
        .and_then(secs)
        .is_some_and(|t| t > now.as_second());
    if this_ok && next_ok {
        Verdict::CurrentClean
    } else {
        Verdict::StaleClean
    }
}

/// Notation's revocation check over the chain (signing certificate first, root last) with the
/// CRLs available offline, at `now`. Only CRLs whose signature verifies with the issuing
/// certificate's key, whose issuer may sign CRLs, and whose scope covers the certificate
/// count. A certificate listed by any such CRL is revoked — also a certificate that names no
/// revocation information, when the operator supplied a CRL of its issuer that lists it
/// (stricter than Notation, which calls such a chain not revocable). Every certificate below
/// the root that names a CRL distribution point or an OCSP responder must be covered by a
/// current such CRL that does not list it; otherwise its status is unknown. A chain in which
/// no certificate names revocation information, and none is listed, cannot be revoked
/// (Notation: `OK`).
pub(super) fn check(
    chain: &[super::pki::ChainCert],
    crls: &Crls,
    _signing_time: jiff::Timestamp,
    now: jiff::Timestamp,
) -> (super::RevocationStatus, Result<(), super::Failure>) {
    use super::{Failure, RevocationStatus};
    use x509_cert::der::Decode as _;
    let parsed: Vec<x509_cert::crl::CertificateList> = crls
        .lists()
        .iter()
        .filter_map(|der| x509_cert::crl::CertificateList::from_der(der).ok())
        .collect();
    let below_root = chain.len().saturating_sub(1);
    let mut unknown: Option<(usize, RevocationProblem)> = None;
    let mut revocable_seen: Option<usize> = None;
    for (index, pair) in chain.windows(2).enumerate().take(below_root) {
        let [cert, issuer] = pair else { continue };
        let verdicts: Vec<Verdict> = parsed
            .iter()
            .map(|crl| judge(crl, &cert.cert, &issuer.cert, now))
            .collect();
        if verdicts.contains(&Verdict::Lists) {
            return (RevocationStatus::Revoked, Err(Failure::CertificateRevoked));
        }
        if !super::pki::is_revocable(&cert.cert) {
            continue;
        }
        revocable_seen.get_or_insert(index);
        let problem = if verdicts.contains(&Verdict::CurrentClean) {
            continue;
        } else if verdicts.contains(&Verdict::StaleClean) {
            RevocationProblem::CrlExpired
        } else if verdicts.contains(&Verdict::NotCovering) {
            RevocationProblem::CrlNotCovering
        } else if verdicts.contains(&Verdict::Invalid) {
            RevocationProblem::CrlInvalid
        } else {
            RevocationProblem::NoCrl
        };
        unknown.get_or_insert((index, problem));
    }
    let Some(first) = revocable_seen else {
        return (RevocationStatus::NotRevocable, Ok(()));
    };
    if crls.is_empty() {
        return (
            RevocationStatus::NotChecked,
            Err(Failure::RevocationNotChecked { index: first }),
        );
    }
    match unknown {
        Some((index, problem)) => (
            RevocationStatus::Unknown,
            Err(Failure::RevocationUnknown { index, problem }),
        ),
        None => (RevocationStatus::Good, Ok(())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::super::pki::{parse_chain, ChainCert};
    use super::super::{Failure, RevocationStatus};
    use super::*;
    use rcgen::{
        date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams,
        CrlDistributionPoint, CrlIssuingDistributionPoint, CrlScope, DnType, IsCa, Issuer,
        KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber,
    };

    const LEAF_SERIAL: u64 = 7;
    const LEAF_CDP: &str = "http://crl.acme.test/root.crl";

    struct Ca {
        root: Vec<u8>,
        issuer: Issuer<'static, KeyPair>,
    }

    fn ca() -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Acme");
        params
            .distinguished_name
            .push(DnType::CommonName, "Acme Root");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root = params.self_signed(&key).unwrap().der().to_vec();
        Ca {
            root,
            issuer: Issuer::new(params, key),
        }
    }

    fn chain(ca: &Ca, cdp: bool) -> Vec<ChainCert> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "builder");
        params.serial_number = Some(SerialNumber::from(LEAF_SERIAL));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if cdp {
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![LEAF_CDP.to_owned()],
            }];
        }
        let leaf = params.signed_by(&key, &ca.issuer).unwrap().der().to_vec();
        parse_chain(&[leaf, ca.root.clone()]).unwrap()
    }

    fn crl(
        ca: &Ca,
        revoked: &[u64],
        next: (i32, u8, u8),
        idp: Option<(&str, Option<CrlScope>)>,
    ) -> Vec<u8> {
        CertificateRevocationListParams {
            this_update: date_time_ymd(2026, 1, 1),
            next_update: date_time_ymd(next.0, next.1, next.2),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: idp.map(|(uri, scope)| CrlIssuingDistributionPoint {
                distribution_point: CrlDistributionPoint {
                    uris: vec![uri.to_owned()],
                },
                scope,
            }),
            revoked_certs: revoked
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from(*serial),
                    revocation_time: date_time_ymd(2026, 2, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&ca.issuer)
        .unwrap()
        .der()
        .to_vec()
    }

    const CURRENT: (i32, u8, u8) = (2027, 1, 1);
    const STALE: (i32, u8, u8) = (2026, 3, 1);

    fn run(chain: &[ChainCert], lists: &[Vec<u8>]) -> (RevocationStatus, Result<(), Failure>) {
        let mut crls = Crls::none();
        for der in lists {
            assert!(crls.add_der(der.clone()));
        }
        let now: jiff::Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
        check(chain, &crls, now, now)
    }

    fn unknown(problem: RevocationProblem) -> (RevocationStatus, Result<(), Failure>) {
        (
            RevocationStatus::Unknown,
            Err(Failure::RevocationUnknown { index: 0, problem }),
        )
    }

    const REVOKED: (RevocationStatus, Result<(), Failure>) =
        (RevocationStatus::Revoked, Err(Failure::CertificateRevoked));

    #[test]
    fn a_stale_or_clean_crl_never_hides_a_current_one_that_lists_the_leaf() {
        // review repro 1 and 1/b: the first matching CRL used to decide
        let ca = ca();
        let leaf = chain(&ca, true);
        let listing = crl(&ca, &[LEAF_SERIAL], CURRENT, None);
        for clean in [crl(&ca, &[], STALE, None), crl(&ca, &[], CURRENT, None)] {
            assert_eq!(run(&leaf, &[clean.clone(), listing.clone()]), REVOKED);
            assert_eq!(run(&leaf, &[listing.clone(), clean]), REVOKED);
        }
        assert_eq!(
            run(&leaf, &[crl(&ca, &[], CURRENT, None)]),
            (RevocationStatus::Good, Ok(()))
        );
    }

    #[test]
    fn a_forged_crl_counts_for_nothing() {
        // review repro 1/c: the genuine CRL is stale, a "current" one by another key
        let ca = ca();
        let forger = Ca {
            root: Vec::new(),
            issuer: {
                let key = KeyPair::generate().unwrap();
                let mut params = CertificateParams::default();
                params
                    .distinguished_name
                    .push(DnType::OrganizationName, "Acme");
                params
                    .distinguished_name
                    .push(DnType::CommonName, "Acme Root");
                params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                params.key_usages = vec![KeyUsagePurpose::CrlSign];
                Issuer::new(params, key)
            },
        };
        let leaf = chain(&ca, true);
        let forged = crl(&forger, &[], CURRENT, None);
        assert_eq!(
            run(&leaf, &[crl(&ca, &[], STALE, None), forged.clone()]),
            unknown(RevocationProblem::CrlExpired)
        );
        assert_eq!(
            run(&leaf, &[forged]),
            unknown(RevocationProblem::CrlInvalid)
        );
        // a forged CRL listing the leaf does not revoke it either
        assert_eq!(
            run(&leaf, &[crl(&forger, &[LEAF_SERIAL], CURRENT, None)]),
            unknown(RevocationProblem::CrlInvalid)
        );
    }

    #[test]
    fn a_crl_scoped_away_from_the_certificate_does_not_make_it_good() {
        // review repro 3: onlyContainsCACerts for a leaf, another distribution point
        let ca = ca();
        let leaf = chain(&ca, true);
        assert_eq!(
            run(
                &leaf,
                &[crl(
                    &ca,
                    &[],
                    CURRENT,
                    Some((LEAF_CDP, Some(CrlScope::CaCertsOnly)))
                )]
            ),
            unknown(RevocationProblem::CrlNotCovering)
        );
        assert_eq!(
            run(
                &leaf,
                &[crl(
                    &ca,
                    &[],
                    CURRENT,
                    Some(("http://other.test/x.crl", None))
                )]
            ),
            unknown(RevocationProblem::CrlNotCovering)
        );
        assert_eq!(
            run(
                &leaf,
                &[crl(
                    &ca,
                    &[],
                    CURRENT,
                    Some((LEAF_CDP, Some(CrlScope::UserCertsOnly)))
                )]
            ),
            (RevocationStatus::Good, Ok(()))
        );
    }

    #[test]
    fn an_operator_crl_listing_a_certificate_without_a_distribution_point_revokes_it() {
        // review repro 7: Notation calls such a chain not revocable; supplygate is stricter
        let ca = ca();
        let leaf = chain(&ca, false);
        assert_eq!(
            run(&leaf, &[crl(&ca, &[LEAF_SERIAL], CURRENT, None)]),
            REVOKED
        );
        assert_eq!(
            run(&leaf, &[crl(&ca, &[], CURRENT, None)]),
            (RevocationStatus::NotRevocable, Ok(()))
        );
        assert_eq!(run(&leaf, &[]), (RevocationStatus::NotRevocable, Ok(())));
    }
}
