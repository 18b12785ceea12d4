//! AdmissionReview v1 in and out: decoding a review, finding the object's images, and turning
//! per-image reports into the answer (denial message, warnings, JSONPatch).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use crate::config::Config;
use crate::gate::Manifests;
use crate::manifest::json::ObjectTree;
use crate::manifest::yaml::{self, Node};
use crate::manifest::{self, Origin};
use crate::report::{Code, Decision, ImageReport, Severity};

/// The API version of the reviews we answer.
pub const API_VERSION: &str = "admission.k8s.io/v1";

/// Most warnings returned (the API server may drop more anyway).
const MAX_WARNINGS: usize = 20;
/// Longest warning, in characters (the API server truncates beyond 256).
const MAX_WARNING_CHARS: usize = 256;
/// Longest denial message, in characters.
const MAX_MESSAGE_CHARS: usize = 8 * 1024;
/// Most reasons named when parts of an object are not Kubernetes objects.
const MAX_SKIP_REASONS: usize = 5;

/// Why a request body is not a review we can answer (HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// Not JSON, or not shaped like an AdmissionReview (the cause is in the message, which is
    /// the HTTP 400 answer's body, so it is not also the source).
    #[error("the body is not an AdmissionReview: {0}")]
    Json(serde_json::Error),
    /// Another version or kind.
    #[error("expected `kind: AdmissionReview` and `apiVersion: {API_VERSION}`, got `{kind}` `{api_version}` (hint: set `admissionReviewVersions: [v1]` in the webhook configuration)")]
    Version {
        /// The body's `apiVersion`.
        api_version: String,
        /// The body's `kind`.
        kind: String,
    },
    /// No `request`.
    #[error("the AdmissionReview has no `request`")]
    NoRequest,
    /// An empty `request.uid`: the answer could not be matched to it.
    #[error("`request.uid` is empty")]
    NoUid,
}

// ------------------------------------------------------------------ AdmissionReview v1 types

/// `admission.k8s.io/v1` `AdmissionReview` as the API server sends it: the fields we read,
/// required where the API server always sends them (as kube-core required them); any other
/// field is tolerated.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireReview<'a> {
    api_version: String,
    kind: String,
    #[serde(default, borrow)]
    request: Option<WireRequest<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<'a> {
    uid: String,
    kind: GroupVersionKind,
    #[allow(dead_code)] // required, as the API server always sends it; not read
    resource: GroupVersionResource,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    operation: Operation,
    #[allow(dead_code)] // required, as the API server always sends it; never read or logged
    user_info: serde::de::IgnoredAny,
    #[serde(default, borrow)]
    object: Option<&'a serde_json::value::RawValue>,
    #[serde(default, borrow)]
    old_object: Option<&'a serde_json::value::RawValue>,
}

/// The type of the request's object (`request.kind`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupVersionKind {
    /// API group (`""` for the core group).
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

#[derive(Deserialize)]
struct GroupVersionResource {
    #[allow(dead_code)]
    group: String,
    #[allow(dead_code)]
    version: String,
    #[allow(dead_code)]
    resource: String,
}

/// The operation of an admission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operation {
    /// `CREATE`
    Create,
    /// `UPDATE`
    Update,
    /// `DELETE`
    Delete,
    /// `CONNECT`
    Connect,
}

impl Operation {
    /// As the API server writes it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
        }
    }
}

/// A decoded request: what the webhook reads of it, the objects read into the manifest
/// reader's tree ([`ObjectTree`]).
#[derive(Debug, Clone)]
pub struct Request {
    /// `request.uid`, copied into the answer.
    pub uid: String,
    /// `request.kind`.
    pub kind: GroupVersionKind,
    /// `request.name` (empty for a CREATE with `generateName`).
    pub name: String,
    /// `request.namespace`: the API server's word on the namespace.
    pub namespace: Option<String>,
    /// `request.operation`.
    pub operation: Operation,
    /// `request.object` (`None` when absent or `null`).
    pub object: Option<ObjectTree>,
    /// `request.oldObject`.
    pub old_object: Option<ObjectTree>,
}

/// Decodes a review body as kube-apiserver sends it.
pub fn decode(body: &[u8]) -> Result<Request, ReviewError> {
    read(body)?.into_request()
}

/// A review read as far as its envelope: the request's fields, its objects still JSON text
/// (checked to be well-formed JSON, not yet read into trees). What the answer cache keys on
/// ([`super::answer::Key`]) before any expensive work.
pub(crate) struct Wire<'a> {
    /// `request.uid` (not empty).
    pub(crate) uid: String,
    /// `request.kind`.
    pub(crate) kind: GroupVersionKind,
    /// `request.name`.
    pub(crate) name: String,
    /// `request.namespace`.
    pub(crate) namespace: Option<String>,
    /// `request.operation`.
    pub(crate) operation: Operation,
    /// `request.object` as written (`None` when absent or `null`).
    pub(crate) object: Option<&'a str>,
    /// `request.oldObject` as written.
    pub(crate) old_object: Option<&'a str>,
}

/// Reads a review's envelope ([`Wire`]); [`Wire::into_request`] reads the objects.
pub(crate) fn read(body: &[u8]) -> Result<Wire<'_>, ReviewError> {
    let review: WireReview<'_> = serde_json::from_slice(body).map_err(ReviewError::Json)?;
    if review.api_version != API_VERSION || review.kind != "AdmissionReview" {
        return Err(ReviewError::Version {
            api_version: review.api_version,
            kind: review.kind,
        });
    }
    let request = review.request.ok_or(ReviewError::NoRequest)?;
    if request.uid.is_empty() {
        return Err(ReviewError::NoUid);
    }
    Ok(Wire {
        uid: request.uid,
        kind: request.kind,
        name: request.name,
        namespace: request.namespace,
        operation: request.operation,
        object: request.object.map(serde_json::value::RawValue::get),
        old_object: request.old_object.map(serde_json::value::RawValue::get),
    })
}

impl Wire<'_> {
    /// Reads the objects into the manifest reader's tree.
    pub(crate) fn into_request(self) -> Result<Request, ReviewError> {
        let tree = |raw: Option<&str>| {
            raw.map(ObjectTree::parse)
                .transpose()
                .map_err(ReviewError::Json)
        };
        Ok(Request {
            object: tree(self.object)?,
            old_object: tree(self.old_object)?,
            uid: self.uid,
            kind: self.kind,
            name: self.name,
            namespace: self.namespace,
            operation: self.operation,
        })
    }
}

/// The answer to a review (`response` of an `AdmissionReview`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionResponse {
    /// The request's uid.
    pub uid: String,
    /// The decision.
    pub allowed: bool,
    /// Why, for a denial.
    pub status: Status,
    /// A JSONPatch (`/mutate`), as JSON text.
    pub patch: Option<Vec<u8>>,
    /// Warnings for the client.
    pub warnings: Option<Vec<String>>,
}

/// `response.status` (a `metav1.Status`): empty for an allow.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// HTTP-like code (403 for a denial); left out when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub code: u16,
    /// The message shown to the client.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// A machine-readable reason (`Forbidden`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

fn is_zero(code: &u16) -> bool {
    *code == 0
}

impl AdmissionResponse {
    /// An allow for `request`.
    #[must_use]
    pub fn allow(request: &Request) -> Self {
        Self {
            uid: request.uid.clone(),
            allowed: true,
            status: Status::default(),
            patch: None,
            warnings: None,
        }
    }

    /// The same answer, denied with `message` (`Forbidden`, 403).
    #[must_use]
    pub fn deny(mut self, message: String) -> Self {
        self.allowed = false;
        self.status = Status {
            code: 403,
            message,
            reason: "Forbidden".to_owned(),
        };
        self
    }

    /// The whole `AdmissionReview` answer as JSON: `patch` base64-encoded as the API server's
    /// `[]byte` field expects, with `patchType: JSONPatch`.
    ///
    /// # Errors
    /// Never in practice (the types serialise); a failure is answered with HTTP 500.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        use base64::Engine as _;
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Out<'a> {
            uid: &'a str,
            allowed: bool,
            status: &'a Status,
            #[serde(skip_serializing_if = "Option::is_none")]
            patch: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            patch_type: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            warnings: Option<&'a [String]>,
        }
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Review<'a> {
            api_version: &'static str,
            kind: &'static str,
            response: Out<'a>,
        }
        let patch = self
            .patch
            .as_ref()
            .map(|p| base64::engine::general_purpose::STANDARD.encode(p));
        serde_json::to_vec(&Review {
            api_version: API_VERSION,
            kind: "AdmissionReview",
            response: Out {
                uid: &self.uid,
                allowed: self.allowed,
                status: &self.status,
                patch_type: patch.as_ref().map(|_| "JSONPatch"),
                patch,
                warnings: self.warnings.as_deref(),
            },
        })
    }
}

/// What to do with a request before any image is looked at.
#[derive(Debug)]
#[doc(hidden)] // public for the fuzz targets only
pub enum Triage {
    /// Allow without evaluating, for this reason (a metrics code).
    Allow(&'static str),
    /// Deny without evaluating (the object could not be read): code and message.
    Deny(&'static str, String),
    /// Evaluate these image sites.
    Evaluate(Manifests),
}

/// `Kind namespace/name` of the request's object, as reports name it.
pub(crate) fn object_name(request: &Request) -> String {
    let ns = request.namespace.as_deref().unwrap_or_default();
    let name = if request.name.is_empty() {
        request
            .object
            .as_ref()
            .and_then(|o| metadata(&o.root, "generateName"))
            .and_then(Node::as_str)
            .map(|g| format!("{g}*"))
            .unwrap_or_default()
    } else {
        request.name.clone()
    };
    if ns.is_empty() {
        format!("{} {name}", request.kind.kind)
    } else {
        format!("{} {ns}/{name}", request.kind.kind)
    }
}

/// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
pub(crate) fn operation_name(request: &Request) -> String {
    request.operation.as_str().to_owned()
}

/// `metadata.<key>` of an object.
fn metadata<'n>(object: &'n Node, key: &str) -> Option<&'n Node> {
    object.get("metadata")?.get(key)
}

/// Reads the request's object (and, on UPDATE, the old one) for images.
#[doc(hidden)] // public for the fuzz targets only
pub fn triage(request: &Request, config: &Config) -> Triage {
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return Triage::Allow("operation-not-checked");
    }
    let name = object_name(request);
    // A CREATE or UPDATE always carries the object; one without it cannot be checked.
    let Some(object) = request.object.as_ref() else {
        return Triage::Deny(
            "invalid-manifest",
            format!(
                "supplygate denied {name}: the {} request has no `object`; failing closed",
                operation_name(request)
            ),
        );
    };
    // The request's namespace is the API server's word; the object's `metadata.namespace` is
    // the author's. Exemptions and break-glass go by namespace, so a disagreement (which the
    // API server normally prevents) must never let the object choose: deny it.
    for (which, o) in [
        ("object", Some(object)),
        ("oldObject", request.old_object.as_ref()),
    ] {
        // A namespace that is not a string (the API server sends none) is no namespace we
        // could agree with: its JSON text stands for it, and mismatches.
        let claimed = o
            .and_then(|o| metadata(&o.root, "namespace"))
            .and_then(|n| {
                n.as_str()
                    .map(str::to_owned)
                    .or_else(|| (!n.is_null()).then(|| n.to_json().to_string()))
            });
        let claimed = claimed.as_deref().filter(|c| !c.is_empty());
        if let Some(claimed) = claimed.filter(|c| Some(*c) != request.namespace.as_deref()) {
            let authoritative = request
                .namespace
                .as_deref()
                .map_or_else(|| "none (cluster-scoped)".to_owned(), |n| format!("`{n}`"));
            return Triage::Deny(
                "namespace-mismatch",
                format!(
                    "supplygate denied {name}: [namespace-mismatch] the {which}'s \
                     `metadata.namespace` `{claimed}` is not the request's namespace \
                     ({authoritative}), which is authoritative"
                ),
            );
        }
    }
    let manifests = match search(request, object, &name, config) {
        Ok(m) => m,
        Err(message) => return Triage::Deny("invalid-manifest", message),
    };
    if request.operation == Operation::Update {
        if let Some(old) = request.old_object.as_ref() {
            // An old object we cannot read is no reason to skip the new one: evaluate. Nor is
            // a break-glass annotation removed or changed: what it allowed is decided again.
            let annotation = &config.break_glass.annotation;
            let break_glass = |o: &ObjectTree| {
                metadata(&o.root, "annotations")
                    .and_then(|a| a.get(annotation))
                    .map(|v| v.to_json())
            };
            if let Ok(before) = search(request, old, &name, config) {
                if images(&before) == images(&manifests) && break_glass(old) == break_glass(object)
                {
                    return Triage::Allow("images-unchanged");
                }
            }
        }
    }
    if manifests.sites.is_empty() {
        return Triage::Allow("no-images");
    }
    Triage::Evaluate(manifests)
}

fn images(m: &Manifests) -> BTreeSet<(&str, &str)> {
    m.sites
        .iter()
        .map(|s| (s.path.as_str(), s.image.as_str()))
        .collect()
}

/// The object searched for images by the manifest reader's walker, on the tree read from its
/// JSON ([`ObjectTree`]), with the request's kind and apiVersion standing in where the object
/// has no such keys; every site is judged in the request's namespace.
///
/// # Errors
/// The denial message when the object cannot be read or part of it is not a Kubernetes object.
#[doc(hidden)] // public for the fuzz targets only
pub fn search(
    request: &Request,
    object: &ObjectTree,
    name: &str,
    config: &Config,
) -> Result<Manifests, String> {
    let origin = Arc::new(Origin::Named(name.to_owned()));
    if object.root.as_mapping().is_none() {
        return Err(format!("the object of `{name}` is not a JSON object"));
    }
    object
        .check(&origin, &config.limits)
        .map_err(|e| format!("cannot read the object of `{name}`: {e}"))?;
    let gvk = &request.kind;
    let api_version = if gvk.group.is_empty() {
        gvk.version.clone()
    } else {
        format!("{}/{}", gvk.group, gvk.version)
    };
    // Fail closed: an object (or a part of one, such as a `List` item) that the reader set
    // aside as not a Kubernetes object could hide images, so it is denied, not allowed as
    // "no images".
    let found = manifest::extract_object(
        &object.root,
        &origin,
        &config.extra_images,
        &config.limits,
        Some((&api_version, &gvk.kind)),
    );
    if !found.skipped.is_empty() {
        let mut reasons: Vec<&str> = found.skipped.iter().map(|s| s.reason.as_str()).collect();
        let extra = reasons.len().saturating_sub(MAX_SKIP_REASONS);
        reasons.truncate(MAX_SKIP_REASONS);
        let mut why = reasons.join("; ");
        if extra > 0 {
            why.push_str(&format!("; … and {extra} more"));
        }
        return Err(format!(
            "cannot read the object of `{name}`: part of it is not a Kubernetes object, so its \
             images cannot be found: {why} (hint: give every object and `List` item its \
             `apiVersion` and `kind`; if this resource holds no pods, leave it out of the \
             webhook's `rules`)"
        ));
    }
    let mut sites = found.sites;
    sites.sort_by_key(|s| s.span.start);
    // The object's own `metadata.namespace`, and that of items nested in it (a `List`, a
    // custom resource with `items`), is the author's claim: every site is judged in the
    // request's namespace (break-glass and exemptions go by it). A cluster-scoped request
    // keeps what the object says, as before.
    if let Some(ns) = request.namespace.as_ref() {
        for site in &mut sites {
            if site.resource.namespace.as_ref() != Some(ns) {
                Arc::make_mut(&mut site.resource).namespace = Some(ns.clone());
            }
        }
    }
    Ok(Manifests {
        sites,
        ..Manifests::default()
    })
}

/// The answer for the evaluated `reports`. In `audit`, a denial becomes an allow whose
/// warnings say what would have been denied.
pub(crate) fn respond(
    request: &Request,
    reports: &[Arc<ImageReport>],
    audit: bool,
    patch: Option<Vec<u8>>,
) -> (AdmissionResponse, Vec<String>) {
    let failing: Vec<&ImageReport> = reports
        .iter()
        .map(AsRef::as_ref)
        .filter(|r| r.decision() != Decision::Allow)
        .collect();
    let mut codes: Vec<String> = failing
        .iter()
        .flat_map(|r| r.findings.iter())
        .filter(|f| f.severity != Severity::Warn)
        .map(|f| f.code.as_str().to_owned())
        .collect();
    codes.sort();
    codes.dedup();
    let mut warnings: Vec<String> = Vec::new();
    for r in reports {
        for f in r.findings.iter().filter(|f| f.severity == Severity::Warn) {
            warnings.push(format!("{}: [{}] {}", r.site.image, f.code, f.message));
        }
    }
    let mut response = AdmissionResponse::allow(request);
    if failing.is_empty() {
        response.patch = patch;
    } else if audit {
        for r in &failing {
            for f in r.findings.iter().filter(|f| f.severity != Severity::Warn) {
                warnings.push(format!(
                    "audit: would deny {}: [{}] {}",
                    r.site.image, f.code, f.message
                ));
            }
        }
    } else {
        response = response.deny(denial_message(&object_name(request), &failing));
    }
    set_warnings(&mut response, warnings);
    (response, codes)
}

/// An answer that says verification did not finish (deadline, overload): a deny, or in
/// `audit` an allow with a warning.
pub(crate) fn unfinished(request: &Request, why: &str, audit: bool) -> AdmissionResponse {
    let mut response = AdmissionResponse::allow(request);
    if audit {
        set_warnings(
            &mut response,
            vec![format!("audit: allowed unverified: {why}")],
        );
    } else {
        response = response.deny(format!(
            "supplygate denied {}: {why}; failing closed (hint: retry; if it persists, check \
             the registry's health and the webhook's `--deadline`)",
            object_name(request)
        ));
    }
    response
}

/// A deny without evaluation (the object could not be read).
pub(crate) fn deny(request: &Request, message: String) -> AdmissionResponse {
    AdmissionResponse::allow(request).deny(message)
}

fn set_warnings(response: &mut AdmissionResponse, mut warnings: Vec<String>) {
    if warnings.is_empty() {
        return;
    }
    let extra = warnings.len().saturating_sub(MAX_WARNINGS);
    warnings.truncate(MAX_WARNINGS);
    for w in &mut warnings {
        truncate_chars(w, MAX_WARNING_CHARS);
    }
    if extra > 0 {
        warnings.push(format!("… and {extra} more warnings"));
    }
    response.warnings = Some(warnings);
}

/// `supplygate denied Deployment shop/web:` then one line per failing finding, with its hint.
fn denial_message(object: &str, failing: &[&ImageReport]) -> String {
    let mut message = format!("supplygate denied {object}:");
    for r in failing {
        let container = r
            .site
            .container
            .as_deref()
            .map(|c| format!("container `{c}` "))
            .unwrap_or_default();
        for f in r.findings.iter().filter(|f| f.severity != Severity::Warn) {
            message.push_str(&format!(
                "\n- {container}image `{}`: [{}] {}",
                r.site.image, f.code, f.message
            ));
            if let Some(h) = &f.hint {
                message.push_str(&format!(" (hint: {h})"));
            }
        }
    }
    truncate_chars(&mut message, MAX_MESSAGE_CHARS);
    message
}

fn truncate_chars(s: &mut String, max: usize) {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
        s.push('…');
    }
}

/// The JSONPatch that pins every allowed, resolved, tag-only image of the object to its
/// digest (`repo:tag@sha256:…`; `repo:latest@sha256:…` for a reference written without a
/// tag), each guarded by a `test` of the current value, and the
/// indices of the reports it pins. Sites whose path cannot be written as a JSON pointer, or
/// whose value is not where the path says, are left alone; so are images allowed by an
/// exemption or break-glass (their digest was never verified, and pinning would make it look
/// as if it had been).
pub(crate) fn pin_patch(
    object: &ObjectTree,
    reports: &[Arc<ImageReport>],
) -> (Option<Vec<u8>>, BTreeSet<usize>) {
    let mut pinned_sites = BTreeSet::new();
    let mut ops = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        let (Some(reference), Some(resolved)) = (&r.reference, &r.resolved) else {
            continue;
        };
        if reference.digest().is_some() || allowed_by_exception(r) {
            continue;
        }
        let Some(pointer) = json_pointer(&r.site.path) else {
            continue;
        };
        // Only a JSON string holding exactly the image (a number or boolean is no string).
        let string = node_at(&object.root, &pointer).and_then(|n| match &n.value {
            yaml::Value::Scalar {
                text,
                style: manifest::ScalarStyle::DoubleQuoted,
            } => Some(text.as_str()),
            _ => None,
        });
        if string != Some(r.site.image.as_str()) {
            continue;
        }
        // A reference written without a tag means `latest`: the pin says so (`repo:latest@…`),
        // so that the lock's review, which knows the digest by its tag, sees the locked tag
        // (red-team: `repo@digest` was denied `not-in-lock` by the same server's `/validate`).
        let pinned = match reference.tag() {
            Some(_) => format!("{}@{}", r.site.image, resolved.digest),
            None => format!("{}:latest@{}", r.site.image, resolved.digest),
        };
        ops.push(json!({"op": "test", "path": pointer, "value": r.site.image}));
        ops.push(json!({"op": "replace", "path": pointer, "value": pinned}));
        pinned_sites.insert(i);
    }
    if ops.is_empty() {
        return (None, BTreeSet::new());
    }
    // Serialising a list of operations cannot fail; if it did, no patch is safe.
    match serde_json::to_vec(&ops) {
        Ok(patch) => (Some(patch), pinned_sites),
        Err(_) => (None, BTreeSet::new()),
    }
}

/// Whether an exemption or break-glass decided (part of) the report: what it allows was not
/// verified.
pub(crate) fn allowed_by_exception(report: &ImageReport) -> bool {
    report
        .findings
        .iter()
        .any(|f| matches!(f.code, Code::Exemption | Code::BreakGlass))
}

/// The node a JSON pointer names, as `serde_json::Value::pointer` finds it.
fn node_at<'n>(root: &'n Node, pointer: &str) -> Option<&'n Node> {
    let mut node = root;
    for token in pointer.strip_prefix('/')?.split('/') {
        let token = token.replace("~1", "/").replace("~0", "~");
        node = match &node.value {
            yaml::Value::Mapping(_) => node.get(&token)?,
            yaml::Value::Sequence(items) => {
                if token.starts_with('+') || (token.starts_with('0') && token.len() > 1) {
                    return None;
                }
                items.get(token.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(node)
}

/// `spec.template.spec.containers[0].image` -> `/spec/template/spec/containers/0/image`.
fn json_pointer(path: &str) -> Option<String> {
    let mut out = String::new();
    for part in path.split('.') {
        let (key, indices) = match part.find('[') {
            Some(i) => part.split_at(i),
            None => (part, ""),
        };
        if key.is_empty() || key.contains([']', '"', '\'']) {
            return None;
        }
        out.push('/');
        out.push_str(&key.replace('~', "~0").replace('/', "~1"));
        let mut rest = indices;
        while let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped.find(']')?;
            let index = stripped.get(..end)?;
            if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            out.push('/');
            out.push_str(index);
            rest = stripped.get(end + 1..)?;
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

/// Which endpoint a review came in on (`/validate` or `/mutate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    Validate,
    Mutate,
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn paths_become_json_pointers() {
        assert_eq!(
            json_pointer("spec.template.spec.containers[0].image").as_deref(),
            Some("/spec/template/spec/containers/0/image")
        );
        assert_eq!(
            json_pointer("spec.jobTemplate.spec.template.spec.initContainers[12].image").as_deref(),
            Some("/spec/jobTemplate/spec/template/spec/initContainers/12/image")
        );
        assert_eq!(json_pointer("a~b.c/d").as_deref(), Some("/a~0b/c~1d"));
        assert_eq!(json_pointer("spec.containers[x].image"), None);
        assert_eq!(json_pointer("spec..image"), None);
        assert_eq!(json_pointer("spec.containers[0"), None);
    }

    #[test]
    fn rejects_bodies_that_are_not_v1_reviews() {
        assert!(matches!(decode(b"{"), Err(ReviewError::Json(_))));
        assert!(matches!(decode(b"[]"), Err(ReviewError::Json(_))));
        let v1beta1 = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"operation":"CREATE","userInfo":{}}}"#;
        assert!(matches!(decode(v1beta1), Err(ReviewError::Version { .. })));
        let no_request = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#;
        assert!(matches!(decode(no_request), Err(ReviewError::NoRequest)));
    }

    #[test]
    fn decodes_the_fixtures_and_never_panics_on_a_cut_or_corrupted_body() {
        let bodies = [
            include_str!("../../fixtures/admission/deployment-create.json"),
            include_str!("../../fixtures/admission/pod-init-containers-create.json"),
            include_str!("../../fixtures/admission/cronjob-create.json"),
            include_str!("../../fixtures/admission/deployment-update-image.json"),
        ];
        for body in bodies {
            let request = decode(body.as_bytes()).unwrap();
            assert!(!request.uid.is_empty());
            assert!(request.object.is_some());
            let bytes = body.as_bytes();
            for cut in (0..bytes.len()).step_by(7) {
                let _ = decode(bytes.get(..cut).unwrap_or_default());
                let mut corrupted = bytes.to_vec();
                if let Some(b) = corrupted.get_mut(cut) {
                    *b = b"{}[]\":,0x"[cut % 9];
                }
                let _ = decode(&corrupted);
            }
        }
    }

    #[test]
    fn an_update_of_replicas_only_is_not_evaluated() {
        let body = include_str!("../../fixtures/admission/deployment-update-scale.json");
        let request = decode(body.as_bytes()).unwrap();
        assert!(matches!(
            triage(&request, &Config::default()),
            Triage::Allow("images-unchanged")
        ));
        let body = include_str!("../../fixtures/admission/deployment-update-image.json");
        let request = decode(body.as_bytes()).unwrap();
        let Triage::Evaluate(m) = triage(&request, &Config::default()) else {
            panic!("an image change is evaluated");
        };
        assert_eq!(m.sites.len(), 1);
        assert!(m.sites[0].image.ends_with("/team/app:v2"));
        assert_eq!(m.sites[0].path, "spec.template.spec.containers[0].image");
    }

    /// Issue 15, hole 5: the object must not choose its namespace (break-glass, exemptions).
    #[test]
    fn an_object_naming_another_namespace_than_the_request_is_denied() {
        let body = include_str!("../../fixtures/admission/deployment-create.json");
        let mut review: Value = serde_json::from_str(body).unwrap();
        review["request"]["namespace"] = json!("shop");
        review["request"]["object"]["metadata"]["namespace"] = json!("ops");
        let request = decode(review.to_string().as_bytes()).unwrap();
        let Triage::Deny(code, message) = triage(&request, &Config::default()) else {
            panic!("a namespace disagreement is no allow");
        };
        assert_eq!(code, "namespace-mismatch");
        assert!(
            message.contains("`ops` is not the request's namespace (`shop`)"),
            "{message}"
        );
        // An object that names no namespace gets the request's.
        review["request"]["object"]["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("namespace");
        let request = decode(review.to_string().as_bytes()).unwrap();
        let Triage::Evaluate(m) = triage(&request, &Config::default()) else {
            panic!("an object without a namespace is evaluated");
        };
        assert!(m
            .sites
            .iter()
            .all(|s| s.resource.namespace.as_deref() == Some("shop")));
    }

    #[test]
    fn items_nested_in_the_object_are_judged_in_the_requests_namespace() {
        let body = include_str!("../../fixtures/admission/deployment-create.json");
        let mut review: Value = serde_json::from_str(body).unwrap();
        review["request"]["namespace"] = json!("shop");
        review["request"]["object"] = json!({
            "apiVersion": "v1", "kind": "List", "metadata": {"namespace": "shop"},
            "items": [{
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "x", "namespace": "ops",
                             "annotations": {"supplygate.dev/break-glass": "INC-1"}},
                "spec": {"containers": [{"name": "x", "image": "evil.example/x:1"}]},
            }],
        });
        let request = decode(review.to_string().as_bytes()).unwrap();
        let Triage::Evaluate(m) = triage(&request, &Config::default()) else {
            panic!("a list item is evaluated");
        };
        assert_eq!(m.sites.len(), 1);
        assert_eq!(m.sites[0].resource.namespace.as_deref(), Some("shop"));
    }

    #[test]
    fn a_create_or_update_without_an_object_is_denied() {
        let body = include_str!("../../fixtures/admission/deployment-create.json");
        let mut review: Value = serde_json::from_str(body).unwrap();
        review["request"]["object"] = Value::Null;
        let request = decode(review.to_string().as_bytes()).unwrap();
        let Triage::Deny(code, message) = triage(&request, &Config::default()) else {
            panic!("no object is no allow");
        };
        assert_eq!(code, "invalid-manifest");
        assert!(
            message.contains("the CREATE request has no `object`"),
            "{message}"
        );
        review["request"].as_object_mut().unwrap().remove("object");
        review["request"]["operation"] = json!("UPDATE");
        let request = decode(review.to_string().as_bytes()).unwrap();
        assert!(matches!(
            triage(&request, &Config::default()),
            Triage::Deny("invalid-manifest", _)
        ));
    }

    #[test]
    fn an_object_with_parts_that_are_not_kubernetes_objects_is_denied() {
        let body = include_str!("../../fixtures/admission/list-items-without-kind-create.json");
        let request = decode(body.as_bytes()).unwrap();
        let Triage::Deny(code, message) = triage(&request, &Config::default()) else {
            panic!("a list item whose images cannot be found is no allow");
        };
        assert_eq!(code, "invalid-manifest");
        assert!(
            message.contains("`items[0]`: not a Kubernetes object"),
            "{message}"
        );
        assert!(
            message.contains("`items[1]`: not a Kubernetes object: it is"),
            "{message}"
        );
        assert!(message.contains("hint:"), "{message}");
    }

    #[test]
    fn an_update_that_removes_break_glass_is_evaluated_again() {
        let body = include_str!("../../fixtures/admission/deployment-update-scale.json");
        let mut review: Value = serde_json::from_str(body).unwrap();
        let config = Config::default();
        let annotation = config.break_glass.annotation.clone();
        review["request"]["oldObject"]["metadata"]["annotations"][&annotation] = json!("INC-42");
        let request = decode(review.to_string().as_bytes()).unwrap();
        assert!(matches!(triage(&request, &config), Triage::Evaluate(_)));
        // Changed: decided again too. Kept as it was: nothing to decide.
        review["request"]["object"]["metadata"]["annotations"][&annotation] = json!("INC-43");
        let request = decode(review.to_string().as_bytes()).unwrap();
        assert!(matches!(triage(&request, &config), Triage::Evaluate(_)));
        review["request"]["object"]["metadata"]["annotations"][&annotation] = json!("INC-42");
        let request = decode(review.to_string().as_bytes()).unwrap();
        assert!(matches!(
            triage(&request, &config),
            Triage::Allow("images-unchanged")
        ));
    }

    #[test]
    fn finds_init_containers_and_names_generated_pods() {
        let body = include_str!("../../fixtures/admission/pod-init-containers-create.json");
        let request = decode(body.as_bytes()).unwrap();
        assert_eq!(object_name(&request), "Pod shop/web-5d9c7b8f64-*");
        let Triage::Evaluate(m) = triage(&request, &Config::default()) else {
            panic!("a new pod is evaluated");
        };
        let images: Vec<_> = m.sites.iter().map(|s| s.image.as_str()).collect();
        assert_eq!(images.len(), 3, "{images:?}");
        assert!(m
            .sites
            .iter()
            .all(|s| s.resource.namespace.as_deref() == Some("shop")));
    }

    #[test]
    fn truncates_on_character_boundaries() {
        let mut s = "ééé".to_owned();
        truncate_chars(&mut s, 2);
        assert_eq!(s, "éé…");
    }

    /// Own AdmissionReview types: what the API server always sends is required (a clear 400
    /// otherwise), anything else is tolerated; the answer is what the API server reads.
    #[test]
    fn reads_the_fields_it_needs_tolerates_the_rest_and_answers_in_v1() {
        let body = include_str!("../../fixtures/admission/deployment-create.json");
        let review: Value = serde_json::from_str(body).unwrap();
        for field in ["uid", "kind", "resource", "operation", "userInfo"] {
            let mut cut = review.clone();
            cut["request"].as_object_mut().unwrap().remove(field);
            let err = decode(cut.to_string().as_bytes()).unwrap_err();
            assert!(
                matches!(&err, ReviewError::Json(e) if e.to_string().contains(field)),
                "{field}: {err}"
            );
        }
        let mut bad = review.clone();
        bad["request"]["operation"] = json!("PATCH");
        assert!(matches!(
            decode(bad.to_string().as_bytes()),
            Err(ReviewError::Json(_))
        ));
        let mut extra = review.clone();
        extra["request"]["somethingNew"] = json!({"x": [1, 2]});
        extra["request"]["dryRun"] = json!(true);
        extra["request"]["options"] = json!({"kind": "CreateOptions"});
        let request = decode(extra.to_string().as_bytes()).unwrap();
        assert_eq!(request.operation, Operation::Create);
        assert_eq!(request.kind.kind, "Deployment");

        let denied = AdmissionResponse::allow(&request).deny("no".to_owned());
        let answer: Value = serde_json::from_slice(&denied.to_json().unwrap()).unwrap();
        assert_eq!(
            answer,
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                   "response": {"uid": request.uid, "allowed": false,
                                "status": {"code": 403, "message": "no", "reason": "Forbidden"}}})
        );
        let mut pinned = AdmissionResponse::allow(&request);
        pinned.patch = Some(b"[]".to_vec());
        pinned.warnings = Some(vec!["w".to_owned()]);
        let answer: Value = serde_json::from_slice(&pinned.to_json().unwrap()).unwrap();
        assert_eq!(
            answer["response"],
            json!({"uid": request.uid, "allowed": true, "status": {}, "patch": "W10=",
                   "patchType": "JSONPatch", "warnings": ["w"]})
        );
    }

    /// As before: the request's apiVersion and kind stand in only where the object has no such
    /// key; an empty `kind` is the object's own (searched as an unknown kind), not replaced.
    #[test]
    fn the_requests_kind_stands_in_only_for_a_missing_key() {
        let body = include_str!("../../fixtures/admission/deployment-create.json");
        let mut review: Value = serde_json::from_str(body).unwrap();
        let object = review["request"]["object"].as_object_mut().unwrap();
        object.remove("apiVersion");
        object.remove("kind");
        let request = decode(review.to_string().as_bytes()).unwrap();
        let Triage::Evaluate(m) = triage(&request, &Config::default()) else {
            panic!("evaluated");
        };
        assert!(m.sites.iter().all(|s| s.resource.kind == "Deployment"
            && s.resource.api_version == "apps/v1"
            && s.extractor == crate::manifest::kinds::KUBERNETES));
        review["request"]["object"]["kind"] = json!("");
        let request = decode(review.to_string().as_bytes()).unwrap();
        let Triage::Evaluate(m) = triage(&request, &Config::default()) else {
            panic!("evaluated");
        };
        assert!(m
            .sites
            .iter()
            .all(|s| s.extractor == crate::manifest::kinds::GENERIC_CONTAINERS));
    }

    /// What the YAML reader refused in the object is still denied, not allowed.
    #[test]
    fn an_object_the_manifest_reader_refuses_is_denied() {
        let body = include_str!("../../fixtures/admission/deployment-create.json");
        let mut review: Value = serde_json::from_str(body).unwrap();
        review["request"]["object"]["metadata"]["annotations"] = json!({"note": "a\u{2028}b"});
        let request = decode(review.to_string().as_bytes()).unwrap();
        let Triage::Deny(code, message) = triage(&request, &Config::default()) else {
            panic!("a line separator is no allow");
        };
        assert_eq!(code, "invalid-manifest");
        assert!(message.contains("U+2028"), "{message}");
        let twice = body.replacen(r#""metadata": {"#, r#""metadata": {"name": "a", "#, 1);
        let request = decode(twice.as_bytes()).unwrap();
        let Triage::Deny(code, message) = triage(&request, &Config::default()) else {
            panic!("a key written twice is no allow");
        };
        assert_eq!(code, "invalid-manifest");
        assert!(message.contains("written twice"), "{message}");
        review["request"]["object"] = json!("just text");
        let request = decode(review.to_string().as_bytes()).unwrap();
        assert!(matches!(
            triage(&request, &Config::default()),
            Triage::Deny("invalid-manifest", m) if m.contains("is not a JSON object")
        ));
    }
}
