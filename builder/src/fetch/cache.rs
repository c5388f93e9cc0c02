//! The cache's entries as the downloads see them: where an entry's partial download lives,
//! and the lock beside an entry that keeps two processes from writing it at once.

use std::path::{Path, PathBuf};

use pigsty_bundle::fs::{with_suffix, Lock};

use super::FetchError;

/// `<path>.partial`: where a download goes before it is checked.
pub(super) fn partial_path(path: &Path) -> PathBuf {
    with_suffix(path, ".partial")
}

/// An exclusive lock on a `.lock` file beside a cache entry, held while it is written: two
/// processes sharing the cache never write the same partial file. Released when dropped.
pub(super) struct CacheLock {
    path: PathBuf,
    _lock: Lock,
}

impl CacheLock {
    /// Locks `path`, calling `waiting` first if another process holds the lock.
    pub(super) async fn acquire(
        path: PathBuf,
        waiting: impl FnOnce(),
    ) -> Result<CacheLock, FetchError> {
        let take = |path: PathBuf, wait: bool| async move {
            let joined = tokio::task::spawn_blocking(move || {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| FetchError::io(&path, e))?;
                match Lock::take_file(file, wait) {
                    Ok(Some(lock)) => Ok(Some(CacheLock { path, _lock: lock })),
                    Ok(None) => Ok(None),
                    Err(e) => Err(FetchError::io(&path, e)),
                }
            })
            .await;
            joined.map_err(|e| FetchError::setup("lock a cache entry", e))?
        };
        if let Some(lock) = take(path.clone(), false).await? {
            return Ok(lock);
        }
        waiting();
        take(path.clone(), true)
            .await?
            .ok_or_else(|| FetchError::io(&path, std::io::ErrorKind::WouldBlock.into()))
    }

    /// Removes the lock file, then releases the lock. Only after the entry is in place: a
    /// process that then locks the removed file finds the entry done.
    pub(super) async fn remove(self) {
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}
