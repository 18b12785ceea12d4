//! Prints what supplygate's YAML reader makes of each file, one JSON line per file, for the
//! out-of-CI differential fuzzer (`fuzz/yaml_pyyaml.py`) to compare with other readers.
//!
//! ```text
//! cargo run --example yaml_json -- FILE...
//! ```
//!
//! Output per file: `{"file": F, "documents": [JSON, ...]}`, or `{"file": F, "refused":
//! "ambiguous-yaml" | "invalid-manifest", "message": M}`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;
use supplygate::manifest::{yaml, Limits, ManifestError, Origin};

fn main() -> ExitCode {
    for file in std::env::args_os().skip(1).map(PathBuf::from) {
        let line = match std::fs::read(&file).map(String::from_utf8) {
            Ok(Ok(text)) => {
                let origin = Arc::new(Origin::File(file.clone()));
                match yaml::parse_documents(&text, &origin, &Limits::default()) {
                    Ok(docs) => json!({
                        "file": file,
                        "documents": docs.iter().map(|d| d.root.to_json()).collect::<Vec<_>>(),
                    }),
                    Err(e) => json!({
                        "file": file,
                        "refused": match e {
                            ManifestError::Ambiguous { .. } => "ambiguous-yaml",
                            _ => "invalid-manifest",
                        },
                        "message": e.to_string(),
                    }),
                }
            }
            Ok(Err(_)) => {
                json!({"file": file, "refused": "invalid-manifest", "message": "not UTF-8"})
            }
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        println!("{line}");
    }
    ExitCode::SUCCESS
}
