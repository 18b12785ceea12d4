//! The manifest reader on arbitrary bytes (as UTF-8): `yaml::parse_documents` and `extract`
//! with default limits never panic and agree on whether the text is readable; every image
//! site's span is the scalar as written; and `pin`'s rewrite round-trips: applying the edits
//! that `supplygate pin` would make and reading the result again finds the same sites, each
//! with exactly the pinned value (or the untouched one).
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use supplygate::manifest::{
    self, apply_edits, yaml, Edit, ExtraImagePaths, Limits, Origin, ScalarStyle, Source,
};
use supplygate::reference::{pin_written, Digest, ImageRef};

const SHA256_HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let limits = Limits::default();
    let origin = Arc::new(Origin::Named("Deployment fuzz/x".into()));
    let docs = yaml::parse_documents(text, &origin, &limits);
    let source = Source {
        origin: Arc::clone(&origin),
        text: text.to_owned(),
    };
    let extra = ExtraImagePaths::default();
    let found = manifest::extract(&source, &extra, &limits);
    assert_eq!(
        docs.is_ok(),
        found.is_ok(),
        "parse_documents and extract disagree: {:?} vs {:?}",
        docs.as_ref().err(),
        found.as_ref().err()
    );
    if let Ok(docs) = &docs {
        for doc in docs {
            // Exercise the JSON view the policy input uses.
            let _ = doc.root.to_json();
        }
    }
    let Ok(found) = found else {
        return;
    };

    let Ok(digest) = Digest::parse(&format!("sha256:{SHA256_HEX}")) else {
        panic!("constant digest does not parse");
    };
    let mut edits = Vec::new();
    let mut expected = Vec::new();
    for site in &found.sites {
        let Some(written) = text.get(site.span.start..site.span.end) else {
            panic!(
                "site span {:?} is not on char boundaries of the text",
                site.span
            );
        };
        let reference = ImageRef::parse(&site.image).ok();
        if reference.is_some() && !written.contains(['\n', '\r']) {
            match site.style {
                ScalarStyle::Plain => assert_eq!(written, site.image, "plain scalar span"),
                ScalarStyle::SingleQuoted => assert_eq!(
                    written,
                    format!("'{}'", site.image.replace('\'', "''")),
                    "single-quoted scalar span"
                ),
                ScalarStyle::DoubleQuoted => assert!(
                    written.len() >= 2 && written.starts_with('"') && written.ends_with('"'),
                    "double-quoted scalar span {written:?}"
                ),
                ScalarStyle::Block => {}
            }
        }
        let pin = reference.is_some_and(|r| !r.is_pinned()) && site.style != ScalarStyle::Block;
        if pin {
            let new_value = pin_written(&site.image, &digest);
            expected.push(new_value.clone());
            edits.push(Edit {
                span: site.span,
                style: site.style,
                new_value,
            });
        } else {
            expected.push(site.image.clone());
        }
    }
    if edits.is_empty() {
        return;
    }
    // A refusal is safe (pin writes nothing); a rewrite must mean exactly what was intended.
    let Ok(pinned_text) = apply_edits(text, &edits) else {
        return;
    };
    let pinned = Source {
        origin,
        text: pinned_text,
    };
    let again = match manifest::extract(&pinned, &extra, &limits) {
        Ok(again) => again,
        Err(e) => panic!(
            "pinned text no longer reads: {e}\n--- before\n{text}\n--- after\n{}",
            pinned.text
        ),
    };
    let before: Vec<(usize, &str, &str)> = found
        .sites
        .iter()
        .zip(&expected)
        .map(|(s, e)| (s.resource.document, s.path.as_str(), e.as_str()))
        .collect();
    let after: Vec<(usize, &str, &str)> = again
        .sites
        .iter()
        .map(|s| (s.resource.document, s.path.as_str(), s.image.as_str()))
        .collect();
    assert_eq!(
        before, after,
        "pinning changed what the manifest means\n--- before\n{text}\n--- after\n{}",
        pinned.text
    );
});
