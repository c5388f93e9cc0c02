//! Which kind of failure a `pigsty-build` error is, for the `kind` of the JSON error envelope
//! ([`pigsty_bundle::cli::ErrorKind`]).

use pigsty_build::build::BuildError;
use pigsty_build::FetchError;
use pigsty_bundle::cli::ErrorKind;
use pigsty_bundle::sign::SignError;
use pigsty_bundle::BundleError;

/// `Network` if a download failed anywhere in the chain, else the kind of the first error
/// (outermost first) that says what went wrong; `Other` if none does.
pub fn of_chain<'a>(
    chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> ErrorKind {
    let chain: Vec<_> = chain.into_iter().collect();
    if chain
        .iter()
        .any(|e| e.downcast_ref::<FetchError>().is_some())
    {
        return ErrorKind::Network;
    }
    chain
        .into_iter()
        .find_map(of_error)
        .unwrap_or(ErrorKind::Other)
}

fn of_error(e: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    if let Some(BuildError::Upstream(_)) = e.downcast_ref::<BuildError>() {
        // What is not a download (above) is a signature or a checksum that does not hold.
        return Some(ErrorKind::Trust);
    }
    if e.downcast_ref::<SignError>().is_some() {
        return Some(ErrorKind::Trust);
    }
    if e.downcast_ref::<BundleError>().is_some() {
        return Some(ErrorKind::Verify);
    }
    if e.downcast_ref::<std::io::Error>().is_some() {
        return Some(ErrorKind::Io);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_the_chain() {
        let io = anyhow::Error::from(std::io::Error::other("disk full")).context("cannot write x");
        assert_eq!(of_chain(io.chain()), ErrorKind::Io);
        let other = anyhow::anyhow!("unknown extension `x`");
        assert_eq!(of_chain(other.chain()), ErrorKind::Other);
    }
}
