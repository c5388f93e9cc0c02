//! What `pigsty-build` and `pigsty-install` share: build targets, apt and dnf repository
//! metadata, the bundle manifest, signatures and safe archive handling.

pub mod apt;
pub mod bundle;
pub mod dnf;
pub mod extract;
pub mod fsutil;
pub mod manifest;
pub mod sign;
pub mod target;

pub use target::{
    check_pg, Arch, Family, Os, Target, TargetError, PG_BETA, PG_DEFAULT, PG_SUPPORTED,
};

/// An error and its causes on one line, `what: why: deeper why`, for the binaries' last word.
/// A cause whose text the line already holds is left out: many errors here print their source
/// in their own message, and saying it twice helps nobody.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {path}: {source}")]
    struct Outer {
        path: String,
        #[source]
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("repo `x`")]
    struct Terse(#[source] std::io::Error);

    #[test]
    fn causes_once() {
        let e = Outer {
            path: "f".into(),
            source: std::io::Error::other("gone"),
        };
        assert_eq!(super::error_chain(&e), "cannot read f: gone");
        let t = Terse(std::io::Error::other("refused"));
        assert_eq!(super::error_chain(&t), "repo `x`: refused");
    }
}
