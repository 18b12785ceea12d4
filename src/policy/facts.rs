//! Facts decided in Rust, once per image, and handed to the policies (`input.image.matched`):
//! which config rules name the image and whether its registry is allowed. Image globs have one
//! home, [`crate::glob`]: the policies never match a glob themselves, so OPA and regorus cannot
//! disagree on one, and no evaluation rebuilds a regular expression from a glob.
//!
//! The indexes are positions in `data.supplygate.config.require` and `.provenance`, which
//! [`super::input::config_data`] writes in the config's order; [`ImageRules::from_config`] and
//! [`ImageRules::from_config_data`] read the same lists in the same order.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;
use crate::glob::{GlobError, ImageGlob};

/// The config's image globs, compiled once per run.
#[derive(Debug, Clone, Default)]
pub struct ImageRules {
    require: Vec<Vec<ImageGlob>>,
    provenance: Vec<Vec<ImageGlob>>,
    allowed_registries: Vec<ImageGlob>,
}

/// `input.image.matched`: what the config's globs say about one image name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Matched {
    /// Indexes of the `require:` rules whose globs match, in config order.
    pub require: Vec<usize>,
    /// Indexes of the `provenance:` rules whose globs match, in config order.
    pub provenance: Vec<usize>,
    /// `policy.allowed_registries`: `true` when a glob matches, `false` when none does, `null`
    /// when the list is empty or the image has no name (an invalid reference).
    pub allowed_registry: Option<bool>,
}

impl ImageRules {
    /// The globs of a loaded config.
    pub fn from_config(config: &Config) -> Self {
        Self {
            require: config
                .requirements
                .iter()
                .map(|r| r.images.clone())
                .collect(),
            provenance: config.provenance.iter().map(|r| r.images.clone()).collect(),
            allowed_registries: config.policy.allowed_registries.clone(),
        }
    }

    /// The globs of a `data.supplygate.config` document (fixtures, policy tests): each glob
    /// parsed as the config parses it. A missing list is empty, as the policies read it.
    ///
    /// # Errors
    /// The first glob that does not parse.
    pub fn from_config_data(config: &Value) -> Result<Self, GlobError> {
        let globs = |v: Option<&Value>| -> Result<Vec<ImageGlob>, GlobError> {
            v.and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(ImageGlob::parse)
                .collect()
        };
        let rules = |key: &str| -> Result<Vec<Vec<ImageGlob>>, GlobError> {
            config
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|r| globs(r.get("images")))
                .collect()
        };
        Ok(Self {
            require: rules("require")?,
            provenance: rules("provenance")?,
            allowed_registries: globs(config.pointer("/registries/allow"))?,
        })
    }

    /// The facts for an image named `name` (`registry/repository`, normalised); `None` for a
    /// site whose reference is invalid.
    pub fn matched(&self, name: Option<&str>) -> Matched {
        let Some(name) = name else {
            return Matched::default();
        };
        let matching = |rules: &[Vec<ImageGlob>]| -> Vec<usize> {
            rules
                .iter()
                .enumerate()
                .filter(|(_, globs)| globs.iter().any(|g| g.matches(name)))
                .map(|(i, _)| i)
                .collect()
        };
        Matched {
            require: matching(&self.require),
            provenance: matching(&self.provenance),
            allowed_registry: (!self.allowed_registries.is_empty())
                .then(|| self.allowed_registries.iter().any(|g| g.matches(name))),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The config of the library's fixtures and Rego tests.
    fn config() -> Value {
        json!({
            "require": [
                {"images": ["ghcr.io/acme/**"], "signers": ["ci"], "line": 12},
                {"images": ["127.0.0.1:*/team/*"], "signers": ["ci", "release"], "line": 16},
            ],
            "provenance": [{"images": ["ghcr.io/acme/app"], "signers": ["ci"], "line": 20}],
            "registries": {"allow": ["ghcr.io/acme/**", "docker.io/library/*", "127.0.0.1:*/team/**"]},
        })
    }

    fn matched(config: &Value, name: &str) -> Matched {
        match ImageRules::from_config_data(config) {
            Ok(rules) => rules.matched(Some(name)),
            Err(e) => panic!("the config's globs parse: {e}"),
        }
    }

    fn m(require: &[usize], provenance: &[usize], allowed: Option<bool>) -> Matched {
        Matched {
            require: require.to_vec(),
            provenance: provenance.to_vec(),
            allowed_registry: allowed,
        }
    }

    // Moved from policies/lib/images_test.rego and signatures_test.rego: the glob semantics
    // those packages relied on, now decided here.
    #[test]
    fn rules_and_registries_follow_the_glob_semantics_of_the_config() {
        let c = config();
        assert_eq!(matched(&c, "ghcr.io/acme/app"), m(&[0], &[0], Some(true)));
        assert_eq!(matched(&c, "quay.io/evil/app"), m(&[], &[], Some(false)));
        // A single star stays within a segment; a double star crosses them.
        assert_eq!(
            matched(&c, "docker.io/library/team/app"),
            m(&[], &[], Some(false))
        );
        assert_eq!(matched(&c, "ghcr.io/acme/a/b/c"), m(&[0], &[], Some(true)));
        assert_eq!(
            matched(&c, "127.0.0.1:5000/team/x/y"),
            m(&[], &[], Some(true))
        );
        assert_eq!(
            matched(&c, "127.0.0.1:5000/team/app"),
            m(&[1], &[], Some(true))
        );
        assert_eq!(
            matched(&c, "127.0.0.1:5000/team/a/b"),
            m(&[], &[], Some(true))
        );
        // `ghcr.io/acme/**` needs the separator before it.
        assert_eq!(matched(&c, "ghcr.io/acme"), m(&[], &[], Some(false)));
        assert_eq!(matched(&c, "ghcr.io/acme-evil/x"), m(&[], &[], Some(false)));
        assert_eq!(
            matched(&c, "docker.io/library/nginx"),
            m(&[], &[], Some(true))
        );
        assert_eq!(matched(&c, "ghcr.io/acme/x/y"), m(&[0], &[], Some(true)));
    }

    #[test]
    fn an_empty_allow_list_decides_nothing_and_short_globs_are_image_names() {
        let empty = json!({"registries": {"allow": []}});
        assert_eq!(matched(&empty, "quay.io/x/y"), m(&[], &[], None));
        let short = json!({"registries": {"allow": ["nginx", "acme/*"]}});
        assert_eq!(
            matched(&short, "docker.io/library/nginx"),
            m(&[], &[], Some(true))
        );
        assert_eq!(
            matched(&short, "docker.io/acme/app"),
            m(&[], &[], Some(true))
        );
    }

    #[test]
    fn every_matching_rule_is_listed_in_config_order() {
        let c = json!({"require": [
            {"images": ["ghcr.io/acme/**"], "signers": ["ci"], "line": 12},
            {"images": ["ghcr.io/*/app"], "signers": ["release"], "line": 30},
        ]});
        assert_eq!(matched(&c, "ghcr.io/acme/app"), m(&[0, 1], &[], None));
    }

    // Moved from policies/lib/util_test.rego (image_matches, normalize_glob).
    #[test]
    fn globs_match_as_the_policies_matched_them() {
        let cases: &[(&str, &str, bool)] = &[
            ("ghcr.io/acme/*", "ghcr.io/acme/app", true),
            ("ghcr.io/acme/*", "ghcr.io/acme/team/app", false),
            ("ghcr.io/acme/*", "ghcr.io/acme", false),
            ("ghcr.io/acme/**", "ghcr.io/acme/team/app", true),
            ("ghcr.io/ac**", "ghcr.io/acme/team/app", true),
            ("ghcr.io/**/app", "ghcr.io/x/y/app", true),
            ("ghcr.io/**/app", "ghcr.io/app", false),
            ("127.0.0.1:*/team/**", "127.0.0.1:5000/team/a/b", true),
            ("127.0.0.1:*/team/**", "127.0.0.1:5000/other/a", false),
            ("ghcr.io/acme/ap?", "ghcr.io/acme/app", true),
            ("ghcr.io/acme?app", "ghcr.io/acme/app", false),
            ("ghcr.io/acme/app", "ghcrxio/acme/app", false),
            ("index.docker.io/nginx", "docker.io/library/nginx", true),
        ];
        for (glob, name, expected) in cases {
            let g = ImageGlob::parse(glob).unwrap_or_else(|e| panic!("`{glob}`: {e}"));
            assert_eq!(g.matches(name), *expected, "`{glob}` on `{name}`");
        }
    }

    /// Issue 13: a `require:` glob written with another spelling of the host (Docker Hub's
    /// aliases, capitals, `:443`) names the same images as the normal form.
    #[test]
    fn a_require_glob_written_with_a_host_alias_matches_the_normal_name() {
        for glob in [
            "index.docker.io/library/nginx",
            "registry-1.docker.io/nginx",
            "DOCKER.IO/library/nginx",
            "docker.io:443/library/nginx",
            "docker.io/nginx",
            "nginx",
        ] {
            let c = json!({"require": [{"images": [glob], "signers": ["ci"]}]});
            assert_eq!(
                matched(&c, "docker.io/library/nginx"),
                m(&[0], &[], None),
                "`{glob}`"
            );
        }
        let upper = json!({"require": [{"images": ["GHCR.io:443/acme/*"], "signers": ["ci"]}]});
        assert_eq!(matched(&upper, "ghcr.io/acme/app"), m(&[0], &[], None));
    }

    #[test]
    fn normal_forms_are_those_the_policies_were_given() {
        for (glob, normal) in [
            ("nginx", "docker.io/library/nginx"),
            ("acme/app", "docker.io/acme/app"),
            ("localhost/app", "localhost/app"),
            ("*/acme/**", "*/acme/**"),
            ("ghcr.io/acme/*", "ghcr.io/acme/*"),
            ("docker.io/nginx", "docker.io/library/nginx"),
            ("index.docker.io/library/nginx", "docker.io/library/nginx"),
            ("DOCKER.IO/library/nginx", "docker.io/library/nginx"),
            ("docker.io:443/library/nginx", "docker.io/library/nginx"),
            ("registry-1.docker.io/nginx", "docker.io/library/nginx"),
            ("docker.io/**", "docker.io/**"),
            ("GHCR.io:443/acme/*", "ghcr.io/acme/*"),
            ("127.0.0.1:5000/a", "127.0.0.1:5000/a"),
        ] {
            let g = ImageGlob::parse(glob).unwrap_or_else(|e| panic!("`{glob}`: {e}"));
            assert_eq!(g.normalised(), normal, "`{glob}`");
            // The normal form parses to itself: the fixtures' config data reads back the same.
            let again = ImageGlob::parse(normal).unwrap_or_else(|e| panic!("`{normal}`: {e}"));
            assert_eq!(again.normalised(), normal);
        }
    }

    #[test]
    fn an_invalid_reference_matches_nothing() {
        let rules = ImageRules::from_config_data(&config()).unwrap_or_default();
        assert_eq!(rules.matched(None), Matched::default());
    }
}
