//! The checks of each section of `supplygate.yaml` but the signer and rule sections
//! ([`super::signer_rules`]), and the scalar readers they share.

use super::keys::*;
use super::text::invalid_host;
use super::*;

/// The context name [`Validator::fields`] is given for the file's top-level mapping.
pub(super) const TOP_LEVEL: &str = "";

impl Validator {
    pub(super) fn problem(&mut self, node: &Node, message: String, hint: Option<String>) {
        // A cause a dependency wrote verbatim (a DER decoder, serde_json) gets a sentence in
        // the user's terms; the message keeps the cause.
        let hint = hint.or_else(|| {
            crate::hint::explain_dependency_error(&message)
                .map(|e| format!("{}; {}", e.meaning, e.action))
        });
        self.problems.push(Problem {
            line: node.span.line,
            column: node.span.column,
            message,
            hint,
        });
    }

    pub(super) fn expected(&mut self, node: &Node, what: &str, key: &str) {
        let place = self.place(key);
        self.problem(
            node,
            format!("{place} must be {what}, found {}", node.kind_name()),
            None,
        );
    }

    /// `key` in backticks, or the file itself for [`TOP_LEVEL`]: whatever the file is
    /// called, messages name it, not the default `supplygate.yaml`.
    pub(super) fn place(&self, key: &str) -> String {
        if key == TOP_LEVEL {
            format!("the top level of `{}`", self.file)
        } else {
            format!("`{key}`")
        }
    }

    /// The entries of a mapping whose keys must be in `known`; reports unknown keys.
    pub(super) fn fields<'n>(
        &mut self,
        node: &'n Node,
        known: &[&str],
        key: &str,
    ) -> Vec<(&'n str, &'n Node)> {
        if node.is_null() {
            return Vec::new();
        }
        let Some(entries) = node.as_mapping() else {
            self.expected(node, "a mapping", key);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, value) in entries {
            let Some(name) = k.as_str() else {
                let place = self.place(key);
                self.problem(k, format!("keys of {place} must be strings"), None);
                continue;
            };
            if known.contains(&name) {
                out.push((name, value));
            } else {
                let hint = did_you_mean(name, known)
                    .map(|s| format!("did you mean `{s}`?"))
                    .or_else(|| Some(format!("known keys: {}", backticked(known))));
                let place = self.place(key);
                self.problem(k, format!("unknown key `{name}` in {place}"), hint);
            }
        }
        out
    }

    pub(super) fn top(&mut self, root: &Node, config: &mut Config) {
        let fields = self.fields(root, KEYS_TOP, TOP_LEVEL);
        // Signers first: `require` refers to them by name wherever it stands in the file.
        for (key, value) in &fields {
            if *key == "signers" {
                self.signers(value, &mut config.signers);
                for (k, _) in value.as_mapping().unwrap_or_default() {
                    if let Some(name) = k.as_str() {
                        config
                            .signer_positions
                            .insert(name.to_owned(), (k.span.line, k.span.column));
                    }
                }
            }
        }
        for (key, value) in fields {
            match key {
                "registries" => self.registries(value, &mut config.registry),
                "network" => self.network(value, &mut config.registry),
                "cache" => self.cache(value, &mut config.cache),
                "images" => self.images(value, &mut config.extra_images),
                "limits" => self.limits(value, &mut config.limits),
                "require" => self.require(value, &config.signers, &mut config.requirements),
                "provenance" => self.provenance(value, &config.signers, &mut config.provenance),
                "source" => self.source(value, &mut config.source),
                "policy" => self.policy(value, &mut config.policy),
                "paths" => self.paths(value, &mut config.paths),
                // `policies: [dir, …]` is shorthand for `policy.paths`.
                "policies" => {
                    for (_, p) in self.string_items(value, "policies") {
                        config.policy.paths.push(self.resolve(&p));
                    }
                }
                "exemptions" => self.exemptions(value, &mut config.exemptions),
                "tuf" => self.tuf(value, &mut config.tuf),
                "break_glass" => self.break_glass(value, &mut config.break_glass),
                _ => {}
            }
        }
    }

    pub(super) fn policy(&mut self, node: &Node, out: &mut PolicySettings) {
        for (k, _) in node.as_mapping().unwrap_or_default() {
            if let Some(name) = k.as_str() {
                out.positions
                    .insert(name.to_owned(), (k.span.line, k.span.column));
            }
        }
        for (key, v) in self.fields(node, KEYS_POLICY, "policy") {
            match key {
                "builtin" => {
                    if let Some(b) = self.boolean(v, key) {
                        out.builtin = b;
                    }
                }
                "paths" => {
                    for (_, p) in self.string_items(v, key) {
                        out.paths.push(self.resolve(&p));
                    }
                }
                "data" => {
                    if v.as_mapping().is_none() {
                        self.expected(v, "a mapping", "policy.data");
                    } else {
                        out.data = v.to_json();
                    }
                }
                "allowed_registries" => self.image_globs(v, &mut out.allowed_registries),
                "allow_latest" => {
                    if let Some(b) = self.boolean(v, key) {
                        out.allow_latest = b;
                    }
                }
                "unmatched_images" => {
                    if let Some(u) = self.unmatched(v, "policy.unmatched_images") {
                        out.unmatched_images = u;
                    }
                }
                "unknown_image_fields" => {
                    if let Some(u) = self.unmatched(v, "policy.unknown_image_fields") {
                        out.unknown_image_fields = u;
                    }
                }
                "timeout" => {
                    if let Some(d) = self.duration(v, key) {
                        out.timeout = d;
                    }
                }
                _ => {}
            }
        }
    }

    /// `allow`, `warn` or `deny`, with a did-you-mean hint.
    pub(super) fn unmatched(&mut self, v: &Node, key: &str) -> Option<Unmatched> {
        let text = self.string(v, key)?;
        match text.as_str() {
            "allow" => Some(Unmatched::Allow),
            "warn" => Some(Unmatched::Warn),
            "deny" => Some(Unmatched::Deny),
            _ => {
                let hint =
                    did_you_mean(&text, &Unmatched::NAMES).map(|s| format!("did you mean `{s}`?"));
                self.problem(
                    v,
                    format!("`{key}` must be `allow`, `warn` or `deny`, found `{text}`"),
                    hint,
                );
                None
            }
        }
    }

    pub(super) fn cache(&mut self, node: &Node, out: &mut Option<crate::cache::CacheSettings>) {
        if node.is_null() {
            return;
        }
        let mut settings = crate::cache::CacheSettings::new(PathBuf::new());
        let mut dir = None;
        for (key, v) in self.fields(node, KEYS_CACHE, "cache") {
            match key {
                "dir" => dir = self.path(v, key),
                "ttl" => {
                    // Longer than other durations: a day by default, at most 30 days.
                    let parsed = match v.as_u64() {
                        Some(secs) => Some(Duration::from_secs(secs)),
                        None => v.as_str().and_then(|s| match s.trim().strip_suffix('d') {
                            Some(days) => days
                                .parse::<u64>()
                                .ok()
                                .and_then(|d| d.checked_mul(86_400))
                                .map(Duration::from_secs),
                            None => parse_duration(s),
                        }),
                    };
                    match parsed {
                        Some(d) if !d.is_zero() && d <= Duration::from_secs(30 * 86_400) => {
                            settings.ttl = d;
                        }
                        _ => self.problem(
                            v,
                            "`cache.ttl` must be a duration of more than 0 and at most 30 days"
                                .to_owned(),
                            Some("e.g. `12h`, `1d`, or a number of seconds".into()),
                        ),
                    }
                }
                "max_bytes" => {
                    if let Some(n) = self.count(v, key, 1024 * 1024, usize::MAX) {
                        settings.max_bytes = u64::try_from(n).unwrap_or(u64::MAX);
                    }
                }
                _ => {}
            }
        }
        match dir {
            Some(dir) => {
                settings.dir = dir;
                *out = Some(settings);
            }
            None => self.problem(
                node,
                "`cache` needs `dir`: the directory the verification cache is kept in".to_owned(),
                None,
            ),
        }
    }

    pub(super) fn paths(&mut self, node: &Node, out: &mut PathSettings) {
        for (key, v) in self.fields(node, KEYS_PATHS, "paths") {
            if key == "exclude" {
                for (item, glob) in self.string_items(v, "paths.exclude") {
                    match PathGlob::parse(&glob) {
                        Ok(g) => out.exclude.push(g),
                        Err(e) => self.problem(item, format!("`paths.exclude`: {e}"), None),
                    }
                }
            }
        }
    }

    pub(super) fn exemptions(&mut self, node: &Node, out: &mut Vec<Exemption>) {
        if node.is_null() {
            return;
        }
        let Some(items) = node.as_sequence() else {
            self.expected(node, "a list of exemptions", "exemptions");
            return;
        };
        for item in items {
            let mut images = Vec::new();
            let mut namespaces = Vec::new();
            let mut reason = None;
            let mut expires = None;
            let mut expires_given = false;
            for (key, v) in self.fields(item, KEYS_EXEMPTION, "exemptions[]") {
                match key {
                    "images" => self.image_globs(v, &mut images),
                    "namespaces" => namespaces = self.namespaces(v, "exemptions[].namespaces"),
                    "reason" => reason = self.string(v, key).filter(|r| !r.trim().is_empty()),
                    "expires" => {
                        expires_given = true;
                        let Some(text) = self.string(v, key) else {
                            continue;
                        };
                        match parse_expiry(&text) {
                            Some(t) => expires = Some((t, text)),
                            None => self.problem(
                                v,
                                format!(
                                    "`expires` must be a date or an RFC 3339 time, found `{text}`"
                                ),
                                Some("e.g. `2026-12-31` (the end of that day, UTC)".into()),
                            ),
                        }
                    }
                    _ => {}
                }
            }
            if item.as_mapping().is_none() {
                continue;
            }
            let missing: Vec<&str> = [
                ("images", images.is_empty()),
                ("reason", reason.is_none()),
                ("expires", !expires_given),
            ]
            .into_iter()
            .filter_map(|(k, m)| m.then_some(k))
            .collect();
            if !missing.is_empty() {
                self.problem(
                    item,
                    format!("an exemption needs {}", backticked(&missing)),
                    Some("every exemption says why and until when".into()),
                );
                continue;
            }
            if let (Some(reason), Some((expires, expires_written))) = (reason, expires) {
                out.push(Exemption {
                    images,
                    namespaces,
                    reason,
                    expires,
                    expires_written,
                    line: item.span.line,
                    column: item.span.column,
                });
            }
        }
    }

    /// Namespace names; an empty one would match every manifest that names no namespace.
    /// An empty list is an error: `exemptions[].namespaces: []` once meant "every namespace"
    /// while `break_glass.namespaces: []` meant "none", and a list that reads as "none" must
    /// never grant everything (leave the key out for every namespace).
    pub(super) fn namespaces(&mut self, node: &Node, key: &str) -> Vec<String> {
        let empty = node.is_null() || node.as_sequence().is_some_and(|l| l.is_empty());
        if empty {
            self.problem(
                node,
                format!("`{key}` is an empty list: it would be unclear whether it means no namespace or every one"),
                Some(if key.starts_with("exemptions") {
                    "name the namespaces, or leave `namespaces` out to exempt in every namespace".into()
                } else {
                    "name the namespaces, or leave `namespaces` out to honour break-glass nowhere".into()
                }),
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for (entry, name) in self.string_items(node, "namespaces") {
            if name.trim().is_empty() {
                self.problem(
                    entry,
                    "an empty namespace would match every manifest without `metadata.namespace`"
                        .into(),
                    Some("name the namespaces explicitly".into()),
                );
            } else {
                out.push(name);
            }
        }
        out
    }

    pub(super) fn break_glass(&mut self, node: &Node, out: &mut BreakGlass) {
        for (key, v) in self.fields(node, KEYS_BREAK_GLASS, "break_glass") {
            match key {
                "annotation" => {
                    if let Some(a) = self.string(v, key) {
                        out.annotation = a;
                    }
                }
                "namespaces" => out.namespaces = self.namespaces(v, "break_glass.namespaces"),
                _ => {}
            }
        }
    }

    pub(super) fn source(&mut self, node: &Node, out: &mut SourceSettings) {
        for (key, v) in self.fields(node, KEYS_SOURCE, "source") {
            match key {
                "commit_key" => {
                    if let Some(k) = self.string(v, key) {
                        out.commit_key = k;
                    }
                }
                "clones" => {
                    let Some(entries) = v.as_mapping() else {
                        if !v.is_null() {
                            self.expected(v, "a mapping of repository URL to path", key);
                        }
                        continue;
                    };
                    for (k, path) in entries {
                        let Some(url) = k.as_str() else { continue };
                        let Some(repo) = normalise_repository(url) else {
                            self.problem(k, format!("`{url}` is not a repository URL"), None);
                            continue;
                        };
                        if let Some(p) = self.path(path, "clones") {
                            out.clones.insert(repo, p);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    pub(super) fn registries(&mut self, node: &Node, settings: &mut RegistrySettings) {
        if node.is_null() {
            return;
        }
        let Some(entries) = node.as_mapping() else {
            self.expected(node, "a mapping of registry hosts", "registries");
            return;
        };
        for (k, value) in entries {
            let Some(host) = k.as_str() else {
                self.problem(k, "registry hosts must be strings".into(), None);
                continue;
            };
            if let Some(reason) = invalid_host(host) {
                self.problem(k, format!("invalid registry host `{host}`: {reason}"), None);
                continue;
            }
            let mut h = HostSettings::default();
            let ctx = format!("registries.{host}");
            for (key, v) in self.fields(value, KEYS_HOST, &ctx) {
                match key {
                    "insecure" => {
                        if let Some(b) = self.boolean(v, key) {
                            h.insecure = b;
                        }
                    }
                    "layout" => {
                        h.layout = self.path(v, key);
                        if let Some(path) = &h.layout {
                            self.layout_sites.push(LayoutSite {
                                host: host.to_owned(),
                                path: path.clone(),
                                line: v.span.line,
                                column: v.span.column,
                            });
                        }
                    }
                    "mirrors" => h.mirrors = self.strings(v, key),
                    "concurrency" => h.concurrency = self.count(v, key, 1, 1024),
                    _ => {}
                }
            }
            for m in &h.mirrors {
                if let Some(reason) = invalid_host(m) {
                    self.problem(value, format!("invalid mirror host `{m}`: {reason}"), None);
                }
            }
            settings.hosts.insert(host.to_owned(), h);
        }
    }

    pub(super) fn network(&mut self, node: &Node, s: &mut RegistrySettings) {
        for (key, v) in self.fields(node, KEYS_NETWORK, "network") {
            match key {
                "concurrency" => {
                    if let Some(n) = self.count(v, key, 1, 1024) {
                        s.concurrency = n;
                    }
                }
                "connect_timeout" => {
                    if let Some(d) = self.duration(v, key) {
                        s.connect_timeout = d;
                    }
                }
                "request_timeout" => {
                    if let Some(d) = self.duration(v, key) {
                        s.request_timeout = d;
                    }
                }
                "retries" => {
                    if let Some(n) = self.count(v, key, 0, 10) {
                        s.retries = u32::try_from(n).unwrap_or(10);
                    }
                }
                "max_manifest_bytes" => {
                    if let Some(n) = self.count(v, key, 1024, 64 * 1024 * 1024) {
                        s.max_manifest_bytes = n;
                    }
                }
                "offline" => {
                    if let Some(b) = self.boolean(v, key) {
                        s.offline = b;
                    }
                }
                "docker_config" => s.docker_config = self.path(v, key),
                _ => {}
            }
        }
    }

    pub(super) fn images(&mut self, node: &Node, extra: &mut ExtraImagePaths) {
        for (key, v) in self.fields(node, KEYS_IMAGES, "images") {
            if key != "extra" {
                continue;
            }
            let Some(items) = v.as_sequence() else {
                if !v.is_null() {
                    self.expected(v, "a list of rules", "images.extra");
                }
                continue;
            };
            for item in items {
                let mut rule = ExtraRule {
                    kind: String::new(),
                    api_version: None,
                    pod_specs: Vec::new(),
                    images: Vec::new(),
                };
                let mut has_kind = false;
                for (k, value) in self.fields(item, KEYS_EXTRA, "images.extra[]") {
                    match k {
                        "kind" => {
                            if let Some(s) = self.string(value, k) {
                                rule.kind = s;
                                has_kind = true;
                            }
                        }
                        "api_version" => rule.api_version = self.string(value, k),
                        "pod_specs" => rule.pod_specs = self.field_paths(value, k),
                        "images" => rule.images = self.field_paths(value, k),
                        _ => {}
                    }
                }
                if item.as_mapping().is_some() {
                    if !has_kind {
                        self.problem(item, "an `images.extra` rule needs a `kind`".into(), None);
                    }
                    if rule.pod_specs.is_empty() && rule.images.is_empty() {
                        self.problem(
                            item,
                            "an `images.extra` rule needs `pod_specs` or `images`".into(),
                            Some("e.g. `pod_specs: [spec.template.spec]`".into()),
                        );
                    }
                }
                extra.rules.push(rule);
            }
        }
    }

    pub(super) fn limits(&mut self, node: &Node, limits: &mut Limits) {
        for (key, v) in self.fields(node, KEYS_LIMITS, "limits") {
            match key {
                "max_file_bytes" => {
                    if let Some(n) = self.count(v, key, 1, 1 << 30) {
                        limits.max_file_bytes = n as u64;
                    }
                }
                "max_depth" => {
                    if let Some(n) = self.count(v, key, 8, 1024) {
                        limits.max_depth = n;
                    }
                }
                "max_nodes" => {
                    if let Some(n) = self.count(v, key, 1000, 100_000_000) {
                        limits.max_nodes = n;
                    }
                }
                _ => {}
            }
        }
    }

    pub(super) fn boolean(&mut self, node: &Node, key: &str) -> Option<bool> {
        let b = node.as_bool();
        if b.is_none() {
            self.expected(node, "`true` or `false`", key);
        }
        b
    }

    pub(super) fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        match node.as_str() {
            Some(s) if node.as_mapping().is_none() && node.as_sequence().is_none() => {
                Some(s.to_owned())
            }
            _ => {
                self.expected(node, "a string", key);
                None
            }
        }
    }

    pub(super) fn strings(&mut self, node: &Node, key: &str) -> Vec<String> {
        if node.is_null() {
            return Vec::new();
        }
        let Some(items) = node.as_sequence() else {
            self.expected(node, "a list of strings", key);
            return Vec::new();
        };
        items.iter().filter_map(|i| self.string(i, key)).collect()
    }

    pub(super) fn field_paths(&mut self, node: &Node, key: &str) -> Vec<String> {
        let paths = self.strings(node, key);
        if let Some(items) = node.as_sequence() {
            for (item, p) in items.iter().zip(&paths) {
                if let Err(e) = FieldPath::parse(p) {
                    self.problem(
                        item,
                        format!(
                            "invalid field path `{p}`: {} at character {}",
                            e.message, e.position
                        ),
                        Some(
                            "write paths like `spec.template.spec` or `spec.steps[*].image`".into(),
                        ),
                    );
                }
            }
        }
        paths
    }

    pub(super) fn path(&mut self, node: &Node, key: &str) -> Option<PathBuf> {
        let s = self.string(node, key)?;
        Some(self.resolve(&s))
    }

    /// A path relative to the config file's directory.
    pub(super) fn resolve(&self, path: &str) -> PathBuf {
        let p = PathBuf::from(path);
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }

    pub(super) fn count(
        &mut self,
        node: &Node,
        key: &str,
        min: usize,
        max: usize,
    ) -> Option<usize> {
        match node.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                self.problem(
                    node,
                    format!("`{key}` is {n}; it must be between {min} and {max}"),
                    None,
                );
                None
            }
            None => {
                self.expected(node, "a whole number", key);
                None
            }
        }
    }

    pub(super) fn duration(&mut self, node: &Node, key: &str) -> Option<Duration> {
        let parsed = match node.as_u64() {
            Some(secs) => Some(Duration::from_secs(secs)),
            None => node.as_str().and_then(parse_duration),
        };
        match parsed {
            Some(d) if !d.is_zero() && d <= Duration::from_secs(3600) => Some(d),
            Some(_) => {
                self.problem(
                    node,
                    format!("`{key}` must be more than 0 and at most 1h"),
                    None,
                );
                None
            }
            None => {
                self.problem(
                    node,
                    format!("`{key}` must be a duration"),
                    Some("e.g. `500ms`, `10s`, `2m`, or a number of seconds".into()),
                );
                None
            }
        }
    }
}
