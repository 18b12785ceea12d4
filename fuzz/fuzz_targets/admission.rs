//! The webhook's AdmissionReview decoder and the step after it, on arbitrary bytes:
//! `webhook::review::decode` never panics, and a decoded request goes through the webhook's
//! own `review::triage` (with the default config) and `review::search` (for the object and
//! the old object, whatever the operation). Invariants: the reader accepts the JSON that
//! serde_json writes (JSON is YAML; a refusal is a needless deny) unless a size or depth limit
//! is hit or part of it is not a Kubernetes object, and every double-quoted image site's span,
//! read as a JSON string, is exactly the site's image (the YAML and JSON unescaping agree).
#![no_main]

use libfuzzer_sys::fuzz_target;
use supplygate::config::Config;
use supplygate::manifest::ScalarStyle;
use supplygate::webhook::review::{self, Triage};

/// Why `search` may refuse serde_json's JSON without a bug: limits, and objects (or `List`
/// items) that are not Kubernetes objects, which the webhook denies on purpose.
const EXPECTED_REFUSALS: [&str; 3] = ["deeper", "nodes", "is not a Kubernetes object"];

fuzz_target!(|bytes: &[u8]| {
    let Ok(request) = review::decode(bytes) else {
        return;
    };
    let config = Config::default();
    match review::triage(&request, &config) {
        Triage::Allow(_) | Triage::Deny(..) => {}
        Triage::Evaluate(manifests) => {
            assert!(
                !manifests.sites.is_empty(),
                "evaluating an object without images"
            );
        }
    }
    for object in [request.object.as_ref(), request.old_object.as_ref()]
        .into_iter()
        .flatten()
    {
        let manifests = match review::search(&request, object, "Deployment fuzz/x", &config) {
            Ok(manifests) => manifests,
            Err(message) if EXPECTED_REFUSALS.iter().any(|m| message.contains(m)) => continue,
            Err(message) => panic!("the webhook refuses serde_json's JSON: {message}"),
        };
        let [source] = manifests.sources.as_slice() else {
            panic!("search read {} sources", manifests.sources.len());
        };
        for site in &manifests.sites {
            let Some(written) = source.text.get(site.span.start..site.span.end) else {
                panic!("site span {:?} is not on char boundaries", site.span);
            };
            if site.style == ScalarStyle::DoubleQuoted {
                let as_json: Result<String, _> = serde_json::from_str(written);
                assert_eq!(
                    as_json.as_deref().ok(),
                    Some(site.image.as_str()),
                    "span {written:?} vs image {:?}",
                    site.image
                );
            }
        }
    }
});
