//! Error causes kept typed, and the one way to print an error with its causes.
//!
//! Every error in the crate says a cause either in its own message or as its `#[source]`,
//! never both; whoever prints an error for a person prints its [`Chain`] (the CLI's top level
//! does it through `anyhow`'s `{:#}`).

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// A dependency's error kept whole, its own chain intact, shared so that the error holding
/// it stays `Clone` (one registry answer, an error too, goes to every coalesced caller).
///
/// Not an error itself: as a `#[source]` it dereferences to the dependency's error, so that
/// the chain shows that error's own type (`downcast_ref::<serde_json::Error>()` finds it),
/// where an `Arc<dyn Error>` would stand in the chain in its place.
#[derive(Clone)]
pub struct Cause(Arc<dyn Error + Send + Sync>);

impl Cause {
    /// `error`, kept.
    pub fn new(error: impl Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }
}

impl std::ops::Deref for Cause {
    type Target = dyn Error + Send + Sync + 'static;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// `error: cause: cause`, each distinct message once (reqwest and hyper repeat their
/// causes' text in their own).
#[derive(Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.0.to_string();
        f.write_str(&first)?;
        let mut said = vec![first];
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !text.is_empty() && !said.iter().any(|s| s.contains(&text)) {
                write!(f, ": {text}")?;
                said.push(text);
            }
            next = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The causes of `error` only, as [`Chain`] prints them after the message (empty when
/// there is none).
pub fn causes(error: &(dyn Error + 'static)) -> String {
    error
        .source()
        .map(|source| Chain(source).to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, Clone, thiserror::Error)]
    #[error("kept")]
    struct Kept(#[source] Option<Cause>);

    #[test]
    fn a_kept_cause_is_the_source_as_its_own_type() {
        let json = serde_json::from_str::<u8>("x").unwrap_err();
        let kept = Kept(Some(Cause::new(json)));
        let source = Error::source(&kept).unwrap();
        assert!(source
            .downcast_ref::<serde_json::Error>()
            .is_some_and(serde_json::Error::is_syntax));
        assert_eq!(
            Chain(&kept.clone()).to_string(),
            "kept: expected value at line 1 column 1"
        );
        assert!(Error::source(&Kept(None)).is_none());
    }

    #[test]
    fn each_message_of_the_chain_is_printed_once() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(Chain(&e).to_string(), "outer: inner");
        assert_eq!(causes(&e), "inner");
        let repeated = Outer(std::io::Error::other("outer"));
        assert_eq!(Chain(&repeated).to_string(), "outer");
        let none = std::io::Error::other("alone");
        assert_eq!(Chain(&none).to_string(), "alone");
        assert_eq!(causes(&none), "");
    }
}
