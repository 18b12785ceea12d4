//! The checks of the sections that define signers and the rules naming them: `signers`,
//! `require`, `provenance` and `tuf`.

use super::keys::*;
use super::*;

/// The largest key file read (a PEM public key is a few KiB; a certificate chain more).
const KEY_FILE_MAX: u64 = 1024 * 1024;

impl Validator {
    pub(super) fn signers(&mut self, node: &Node, out: &mut BTreeMap<String, Arc<Signer>>) {
        if node.is_null() {
            return;
        }
        let Some(entries) = node.as_mapping() else {
            self.expected(node, "a mapping of signer names", "signers");
            return;
        };
        for (k, value) in entries {
            let Some(name) = k.as_str() else {
                self.problem(k, "signer names must be strings".into(), None);
                continue;
            };
            let ctx = format!("signers.{name}");
            let fields = self.fields(value, KEYS_SIGNER, &ctx);
            let field = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
            let ignore_tlog = match field("insecure_ignore_tlog") {
                Some(v) => self.boolean(v, "insecure_ignore_tlog").unwrap_or(false),
                None => false,
            };
            let signer = match (field("key"), field("keyless")) {
                _ if field("notation").is_some() => {
                    for other in ["key", "keyless", "trusted_root", "insecure_ignore_tlog"] {
                        if let Some(v) = field(other) {
                            self.problem(
                                v,
                                format!("`{other}` does not go with `notation:` (signer `{name}`)"),
                                Some("define two signers".into()),
                            );
                        }
                    }
                    field("notation").and_then(|n| self.notation_signer(name, n))
                }
                (Some(key), None) => self.key_signer(name, key, ignore_tlog, field("trusted_root")),
                (None, Some(keyless)) => {
                    if let Some(v) = field("trusted_root") {
                        self.problem(
                            v,
                            "`trusted_root` of a keyless signer goes under `keyless:`".into(),
                            None,
                        );
                    }
                    if let Some(v) = field("insecure_ignore_tlog") {
                        self.problem(
                            v,
                            "`insecure_ignore_tlog` applies to `key` signers only".into(),
                            Some("keyless signatures always need a log or timestamp proof".into()),
                        );
                    }
                    self.keyless_signer(name, keyless)
                }
                (Some(_), Some(_)) => {
                    self.problem(
                        value,
                        format!("signer `{name}` has both `key` and `keyless`"),
                        Some("define two signers".into()),
                    );
                    None
                }
                (None, None) => {
                    if value.as_mapping().is_some() || value.is_null() {
                        self.problem(
                            k,
                            format!("signer `{name}` needs `key`, `keyless` or `notation`"),
                            Some("e.g. `key: keys/cosign.pub`".into()),
                        );
                    }
                    None
                }
            };
            match signer {
                Some(signer) => {
                    out.insert(name.to_owned(), Arc::new(signer));
                }
                None => {
                    self.broken_signers.insert(name.to_owned());
                }
            }
        }
    }

    pub(super) fn key_signer(
        &mut self,
        name: &str,
        node: &Node,
        ignore_tlog: bool,
        root: Option<&Node>,
    ) -> Option<Signer> {
        let root = match root {
            Some(v) => {
                let path = self.path(v, "trusted_root")?;
                match signers::load_trusted_root(&path) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        self.problem(v, format!("trusted root `{}`: {e}", path.display()), None);
                        return None;
                    }
                }
            }
            None => None,
        };
        let text = self.string(node, "key")?;
        let pem = if text.contains("-----BEGIN") {
            text
        } else {
            let path = self.resolve(&text);
            match crate::bounded::read_text(&path, KEY_FILE_MAX) {
                Ok(Some(pem)) => pem,
                Ok(None) => {
                    self.problem(
                        node,
                        format!(
                            "cannot read key `{}`: larger than the limit of {KEY_FILE_MAX} bytes",
                            path.display()
                        ),
                        None,
                    );
                    return None;
                }
                Err(e) => {
                    self.problem(
                        node,
                        format!("cannot read key `{}`: {e}", path.display()),
                        None,
                    );
                    return None;
                }
            }
        };
        let tlog = if ignore_tlog {
            signers::TlogPolicy::InsecureIgnore
        } else {
            signers::TlogPolicy::Require
        };
        match Signer::key_with_trusted_root(name, &pem, tlog, root) {
            Ok(s) => Some(s),
            Err(e) => {
                self.problem(node, format!("signer `{name}`: {e}"), None);
                None
            }
        }
    }

    pub(super) fn keyless_signer(&mut self, name: &str, node: &Node) -> Option<Signer> {
        let ctx = format!("signers.{name}.keyless");
        let fields = self.fields(node, KEYS_KEYLESS, &ctx);
        let mut issuer = None;
        let mut subject = None;
        let mut root = None;
        let mut subject_node = None;
        let mut skip_sct = false;
        let mut threshold = 1;
        let mut timestamp_only = false;
        let mut constraints = crate::verify::CertificateConstraints::default();
        for (key, v) in fields {
            match key {
                "repo" | "owner" | "signer_workflow" | "source_ref" => {
                    let Some(text) = self.string(v, key) else {
                        continue;
                    };
                    let parsed = match key {
                        "repo" => crate::verify::CertificateConstraints::repository(&text),
                        "owner" => crate::verify::CertificateConstraints::owner(&text),
                        "signer_workflow" => {
                            crate::verify::CertificateConstraints::signer_workflow(&text)
                        }
                        _ => crate::verify::CertificateConstraints::source_ref(&text),
                    };
                    match parsed {
                        Ok(value) => {
                            let slot = match key {
                                "repo" => &mut constraints.source_repository,
                                "owner" => &mut constraints.source_owner,
                                "signer_workflow" => &mut constraints.signer_workflow,
                                _ => &mut constraints.source_ref,
                            };
                            *slot = Some(value);
                        }
                        Err(e) => self.problem(v, format!("`{key}`: {e}"), None),
                    }
                }
                "deny_self_hosted_runners" => {
                    constraints.deny_self_hosted_runners = self.boolean(v, key).unwrap_or(false)
                }
                "issuer" => issuer = self.string(v, key),
                "subject" | "subject_regex" => {
                    if subject_node.is_some() {
                        self.problem(
                            v,
                            "give `subject` or `subject_regex`, not both".into(),
                            None,
                        );
                        continue;
                    }
                    subject_node = Some(v);
                    let Some(text) = self.string(v, key) else {
                        continue;
                    };
                    subject = if key == "subject" {
                        Some(SubjectMatcher::Exact(text))
                    } else {
                        match SubjectMatcher::regex(&text) {
                            Ok(m) => Some(m),
                            Err(e) => {
                                self.problem(v, e.to_string(), None);
                                None
                            }
                        }
                    };
                }
                "insecure_skip_sct" => skip_sct = self.boolean(v, key).unwrap_or(false),
                "timestamp_threshold" => {
                    threshold = self
                        .count(v, key, 1, signers::TIMESTAMP_THRESHOLD_MAX)
                        .unwrap_or(1)
                }
                "allow_timestamp_only" => timestamp_only = self.boolean(v, key).unwrap_or(false),
                "trusted_root" => {
                    let Some(path) = self.path(v, key) else {
                        continue;
                    };
                    match signers::load_trusted_root(&path) {
                        Ok(r) => root = Some(r),
                        Err(e) => {
                            self.problem(v, format!("trusted root `{}`: {e}", path.display()), None)
                        }
                    }
                }
                _ => {}
            }
        }
        // A non-mapping was already reported by `fields`.
        node.as_mapping()?;
        if issuer.is_none() {
            self.problem(
                node,
                format!("keyless signer `{name}` needs an `issuer`"),
                Some("e.g. `issuer: https://token.actions.githubusercontent.com`".into()),
            );
        }
        if subject_node.is_none() {
            self.problem(
                node,
                format!("keyless signer `{name}` needs `subject` or `subject_regex`"),
                Some(
                    "trusting every identity of an issuer trusts everyone who can log in there"
                        .into(),
                ),
            );
        }
        let built = Signer::keyless(name, issuer?, subject?, root)
            .and_then(|s| s.with_timestamp_threshold(threshold))
            .map(|s| if skip_sct { s.insecure_skip_sct() } else { s })
            .map(|s| {
                if timestamp_only {
                    s.allow_timestamp_only()
                } else {
                    s
                }
            });
        match built {
            Ok(s) => Some(s.with_constraints(constraints)),
            Err(e) => {
                self.problem(node, format!("signer `{name}`: {e}"), None);
                None
            }
        }
    }

    pub(super) fn require(
        &mut self,
        node: &Node,
        signers: &BTreeMap<String, Arc<Signer>>,
        out: &mut Vec<Requirement>,
    ) {
        if node.is_null() {
            return;
        }
        let Some(items) = node.as_sequence() else {
            self.expected(node, "a list of rules", "require");
            return;
        };
        for item in items {
            let mut rule = Requirement {
                images: Vec::new(),
                signers: Vec::new(),
                line: item.span.line,
                column: item.span.column,
            };
            let mut named_broken = false;
            for (key, v) in self.fields(item, KEYS_REQUIRE, "require[]") {
                match key {
                    "images" => self.image_globs(v, &mut rule.images),
                    "signers" => named_broken |= self.signer_refs(v, signers, &mut rule.signers),
                    _ => {}
                }
            }
            if named_broken {
                // Its signer's problem is reported; the rule is not usable, nor wrong.
                continue;
            }
            if item.as_mapping().is_some() && (rule.images.is_empty() || rule.signers.is_empty()) {
                self.problem(
                    item,
                    "a `require` rule needs `images` and `signers`".into(),
                    None,
                );
                continue;
            }
            out.push(rule);
        }
    }

    /// Adds the named signers to `out`; true when one of the names is a signer that failed to
    /// load (reported where it is defined, not again here).
    pub(super) fn signer_refs(
        &mut self,
        node: &Node,
        signers: &BTreeMap<String, Arc<Signer>>,
        out: &mut Vec<Arc<Signer>>,
    ) -> bool {
        let mut named_broken = false;
        for name in self.string_items(node, "signers") {
            let (entry, text) = name;
            if let Some(s) = signers.get(&text) {
                out.push(Arc::clone(s));
            } else if self.broken_signers.contains(&text) {
                named_broken = true;
            } else {
                let known: Vec<&str> = signers.keys().map(String::as_str).collect();
                let hint = did_you_mean(&text, &known)
                    .map(|k| format!("did you mean `{k}`?"))
                    .unwrap_or_else(|| "define it under `signers:`".to_owned());
                self.problem(entry, format!("unknown signer `{text}`"), Some(hint));
            }
        }
        named_broken
    }

    /// The string items of a list, with their nodes (non-strings are reported).
    pub(super) fn string_items<'n>(
        &mut self,
        node: &'n Node,
        key: &str,
    ) -> Vec<(&'n Node, String)> {
        let Some(list) = node.as_sequence() else {
            if !node.is_null() {
                self.expected(node, "a list of strings", key);
            }
            return Vec::new();
        };
        list.iter()
            .filter_map(|entry| self.string(entry, key).map(|s| (entry, s)))
            .collect()
    }

    pub(super) fn image_globs(&mut self, node: &Node, out: &mut Vec<ImageGlob>) {
        for (entry, text) in self.string_items(node, "images") {
            match ImageGlob::parse(&text) {
                Ok(g) => out.push(g),
                Err(e) => self.problem(
                    entry,
                    format!("invalid image glob `{text}`: {e}"),
                    e.hint().map(str::to_owned),
                ),
            }
        }
    }

    pub(super) fn provenance(
        &mut self,
        node: &Node,
        signers: &BTreeMap<String, Arc<Signer>>,
        out: &mut Vec<ProvenanceRule>,
    ) {
        if node.is_null() {
            return;
        }
        let Some(items) = node.as_sequence() else {
            self.expected(node, "a list of rules", "provenance");
            return;
        };
        for item in items {
            let mut rule = ProvenanceRule {
                images: Vec::new(),
                signers: Vec::new(),
                builders: Vec::new(),
                source: None,
                refs: Vec::new(),
                line: item.span.line,
                column: item.span.column,
            };
            let mut named_broken = false;
            for (key, v) in self.fields(item, KEYS_PROVENANCE, "provenance[]") {
                match key {
                    "images" => self.image_globs(v, &mut rule.images),
                    "signers" => {
                        named_broken |= self.signer_refs(v, signers, &mut rule.signers);
                        self.no_notation_provenance(v, &rule.signers);
                    }
                    "builders" => {
                        for (_, b) in self.string_items(v, key) {
                            rule.builders.push(match b.strip_suffix('*') {
                                Some(prefix) => BuilderRule::Prefix(prefix.to_owned()),
                                None => BuilderRule::Exact(b),
                            });
                        }
                    }
                    "source" => {
                        if let Some(text) = self.string(v, key) {
                            match normalise_repository(&text) {
                                Some(repo) => rule.source = Some(repo),
                                None => self.problem(
                                    v,
                                    format!("`{text}` is not a repository URL"),
                                    Some("e.g. `https://github.com/acme/app`".into()),
                                ),
                            }
                        }
                    }
                    "refs" => {
                        for (entry, text) in self.string_items(v, key) {
                            match RefPattern::parse(&text) {
                                Ok(p) => rule.refs.push(p),
                                Err(e) => self.problem(
                                    entry,
                                    e.to_string(),
                                    Some("e.g. `refs/heads/main` or `refs/tags/v*`".into()),
                                ),
                            }
                        }
                    }
                    _ => {}
                }
            }
            if named_broken {
                continue;
            }
            if item.as_mapping().is_some() && (rule.images.is_empty() || rule.signers.is_empty()) {
                self.problem(
                    item,
                    "a `provenance` rule needs `images` and `signers`".into(),
                    Some("unsigned provenance proves nothing: name who must have signed it".into()),
                );
                continue;
            }
            out.push(rule);
        }
    }

    pub(super) fn tuf(&mut self, node: &Node, out: &mut TufSettings) {
        let mut url_node = None;
        for (key, v) in self.fields(node, KEYS_TUF, "tuf") {
            match key {
                "url" => {
                    if let Some(url) = self.string(v, key) {
                        out.url = url;
                        url_node = Some(v);
                    }
                }
                "root" => out.root = self.path(v, key),
                "cache_dir" => out.cache_dir = self.path(v, key),
                "timeout" => {
                    if let Some(d) = self.duration(v, key) {
                        out.timeout = d;
                    }
                }
                "insecure_fallback_to_embedded" => {
                    if let Some(b) = self.boolean(v, key) {
                        out.insecure_fallback_to_embedded = b;
                    }
                }
                _ => {}
            }
        }
        if let Err(e) = tuf::validate(out) {
            let hint = match e {
                tuf::TufError::MissingRoot { .. } => None,
                _ => Some(format!("e.g. `{}`", tuf::PUBLIC_GOOD_URL)),
            };
            self.problem(url_node.unwrap_or(node), e.to_string(), hint);
        }
    }
}
