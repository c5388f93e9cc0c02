//! Which kind of failure an installer error is, for the `kind` of the JSON error envelope
//! ([`pigsty_bundle::cli::ErrorKind`]): trust, verify, network, io, node, command, usage.

use pigsty_bundle::cli::ErrorKind;
use pigsty_bundle::BundleError;

use crate::install::InstallError;
use crate::mirror::MirrorError;
use crate::node::NodeError;
use crate::origin::OriginError;
use crate::pigsty::PigstyError;
use crate::pm::PmError;
use crate::rollback::RollbackError;
use crate::serve::ServeError;
use crate::stage::StageError;
use crate::trust::TrustError;

/// The kind of the first error in `chain` (outermost first) that the installer knows; `Other`
/// if none is.
pub fn of_chain<'a>(
    chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> ErrorKind {
    chain
        .into_iter()
        .find_map(of_error)
        .unwrap_or(ErrorKind::Other)
}

/// The kind of one error, if it is one of the installer's (or an I/O error).
pub fn of_error(e: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    if let Some(e) = e.downcast_ref::<InstallError>() {
        return Some(install(e));
    }
    if let Some(e) = e.downcast_ref::<NodeError>() {
        return Some(node(e));
    }
    if let Some(e) = e.downcast_ref::<StageError>() {
        return Some(stage(e));
    }
    if let Some(e) = e.downcast_ref::<MirrorError>() {
        return Some(mirror(e));
    }
    if let Some(e) = e.downcast_ref::<BundleError>() {
        return Some(bundle(e));
    }
    if let Some(e) = e.downcast_ref::<RollbackError>() {
        return Some(rollback(e));
    }
    if let Some(e) = e.downcast_ref::<PigstyError>() {
        return Some(pigsty(e));
    }
    if let Some(e) = e.downcast_ref::<ServeError>() {
        return Some(match e {
            ServeError::NoRepo { .. } => ErrorKind::Node,
            ServeError::Bind { .. } => ErrorKind::Network,
            ServeError::Setup(_) => ErrorKind::Other,
        });
    }
    if e.downcast_ref::<std::io::Error>().is_some() {
        return Some(ErrorKind::Io);
    }
    None
}

fn install(e: &InstallError) -> ErrorKind {
    match e {
        InstallError::Node(e) => node(e),
        InstallError::Origin(e) => origin(e),
        InstallError::Trust(e) => trust(e),
        InstallError::Stage(e) => stage(e),
        InstallError::Pm(e) => pm(e),
        InstallError::Pigsty(e) => pigsty(e),
        InstallError::Rollback(e) => rollback(e),
        InstallError::WrongTarget { .. }
        | InstallError::Drift(_)
        | InstallError::Busy { .. }
        | InstallError::Downgrade(_) => ErrorKind::Node,
        InstallError::Lock { .. } => ErrorKind::Io,
        InstallError::Handoff { .. } => ErrorKind::Command,
    }
}

fn node(e: &NodeError) -> ErrorKind {
    match e {
        NodeError::Os(_) => ErrorKind::Node,
        NodeError::NotWritable { .. } => ErrorKind::Io,
        NodeError::Spawn { .. } => ErrorKind::Command,
    }
}

fn origin(e: &OriginError) -> ErrorKind {
    match e {
        OriginError::Bundle(e) => bundle(e),
        OriginError::Mirror(e) => mirror(e),
        OriginError::Stage(e) => stage(e),
    }
}

fn trust(e: &TrustError) -> ErrorKind {
    match e {
        TrustError::Origin(e) => origin(e),
        TrustError::Key { .. } => ErrorKind::Io,
        _ => ErrorKind::Trust,
    }
}

fn stage(e: &StageError) -> ErrorKind {
    match e {
        StageError::Bundle(e) => bundle(e),
        StageError::Space(_)
        | StageError::Read { .. }
        | StageError::Write { .. }
        | StageError::Install { .. } => ErrorKind::Io,
        StageError::NotADir { .. } | StageError::DeltaBase { .. } => ErrorKind::Node,
    }
}

fn mirror(e: &MirrorError) -> ErrorKind {
    match e {
        MirrorError::BadUrl(_) => ErrorKind::Usage,
        MirrorError::Manifest { .. } | MirrorError::WrongLength { .. } => ErrorKind::Verify,
        MirrorError::Stage(e) => stage(e),
        _ => ErrorKind::Network,
    }
}

fn bundle(e: &BundleError) -> ErrorKind {
    match e {
        BundleError::Read { .. } | BundleError::Write { .. } | BundleError::Space(_) => {
            ErrorKind::Io
        }
        _ => ErrorKind::Verify,
    }
}

fn pm(e: &PmError) -> ErrorKind {
    match e {
        PmError::Io { .. } => ErrorKind::Io,
        PmError::Node(e) => node(e),
        PmError::Failed { .. } => ErrorKind::Command,
        _ => ErrorKind::Node,
    }
}

fn rollback(e: &RollbackError) -> ErrorKind {
    match e {
        RollbackError::BadSignature { .. } | RollbackError::Unrecorded { .. } => ErrorKind::Trust,
        RollbackError::Manifest { .. } => ErrorKind::Verify,
        _ => ErrorKind::Node,
    }
}

fn pigsty(e: &PigstyError) -> ErrorKind {
    match e {
        PigstyError::Node(e) => node(e),
        PigstyError::Io { .. } | PigstyError::Unpack { .. } => ErrorKind::Io,
        PigstyError::BadIp(_) | PigstyError::BadDir(_) => ErrorKind::Usage,
        PigstyError::Changed(_) | PigstyError::NotPigsty { .. } => ErrorKind::Verify,
        _ => ErrorKind::Command,
    }
}
