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
    /// The CRLs of its issuer are past their `nextUpdate`.
    #[error("the CRLs of its issuer are past their nextUpdate")]
    CrlExpired,
    /// The CRL does not verify (signature, issuer without `cRLSign`), or the chain cannot be
    /// built to check it.
    #[error("the CRL of its issuer does not verify")]
    CrlInvalid,
}

/// Notation's revocation check over the chain (signing certificate first, root last) with the
/// CRLs available offline, at `now`. Every certificate below the root that names a CRL
/// distribution point or an OCSP responder must be covered by a current CRL of its issuer
/// that verifies and does not list it. A chain in which no certificate names revocation
/// information cannot be revoked (Notation: `OK`).
pub(super) fn check(
    chain: &[super::pki::ChainCert],
    crls: &Crls,
    signing_time: jiff::Timestamp,
    now: jiff::Timestamp,
) -> (super::RevocationStatus, Result<(), super::Failure>) {
    use super::{Failure, RevocationStatus};
    use x509_cert::der::{Decode as _, Encode as _};
    let below_root = chain.len().saturating_sub(1);
    let revocable: Vec<usize> = chain
        .iter()
        .take(below_root)
        .enumerate()
        .filter(|(_, c)| super::pki::is_revocable(&c.cert))
        .map(|(i, _)| i)
        .collect();
    let Some(&first) = revocable.first() else {
        return (RevocationStatus::NotRevocable, Ok(()));
    };
    if crls.is_empty() {
        return (
            RevocationStatus::NotChecked,
            Err(Failure::RevocationNotChecked { index: first }),
        );
    }
    let unknown = |index: usize, problem: RevocationProblem| {
        (
            RevocationStatus::Unknown,
            Err(Failure::RevocationUnknown { index, problem }),
        )
    };
    let parsed: Vec<x509_cert::crl::CertificateList> = crls
        .lists()
        .iter()
        .filter_map(|der| x509_cert::crl::CertificateList::from_der(der).ok())
        .collect();
    for &index in &revocable {
        let Some(cert) = chain.get(index) else {
            return unknown(index, RevocationProblem::NoCrl);
        };
        let issuer = cert.cert.tbs_certificate.issuer.to_der().ok();
        let of_issuer: Vec<&x509_cert::crl::CertificateList> = parsed
            .iter()
            .filter(|crl| crl.tbs_cert_list.issuer.to_der().ok() == issuer)
            .collect();
        if of_issuer.is_empty() {
            return unknown(index, RevocationProblem::NoCrl);
        }
        let current = of_issuer.iter().any(|crl| {
            crl.tbs_cert_list.next_update.is_some_and(|next| {
                i64::try_from(next.to_unix_duration().as_secs())
                    .is_ok_and(|next| next > now.as_second())
            })
        });
        if !current {
            return unknown(index, RevocationProblem::CrlExpired);
        }
    }
    match super::pki::chain_against_crls(chain, crls.lists(), signing_time) {
        Ok(()) => (RevocationStatus::Good, Ok(())),
        Err(webpki::Error::CertRevoked) => {
            (RevocationStatus::Revoked, Err(Failure::CertificateRevoked))
        }
        Err(_) => unknown(first, RevocationProblem::CrlInvalid),
    }
}
