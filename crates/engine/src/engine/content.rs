//! Downloads on demand: [`Engine::download`], [`Engine::download_to`], and what the
//! store knows of downloaded content.

use std::io::Write;
use std::path::Path;

use crate::content::Download;
use crate::content::fetch::{Request, fetch};
use crate::content::sink::{FileSink, Sink, WriterSink};
use crate::engine::Engine;
use crate::error::Result;
use crate::store::{Owner, PendingDownload, StoredContent};

impl Engine {
    /// Downloads an item's current content to the file `dest`, through the tenant's
    /// throttle gate (its background lane).
    ///
    /// Bytes go to `dest.partial` (resumed if an earlier attempt left one), are
    /// checked against the hash Graph reports, made durable, and renamed to `dest`;
    /// nothing unverified is ever renamed into place. `dest`'s directory must exist.
    /// The result is [`Download::Unchanged`] when the item's cTag equals the one last
    /// downloaded, [`Download::Skipped`] for a folder, package, shortcut or malware.
    /// The drive must be one the engine knows; the engine need not be started.
    pub fn download(&self, drive_id: &str, item_id: &str, dest: &Path) -> Result<Download> {
        let mut sink = FileSink::new(dest)?;
        let path = std::path::absolute(dest).unwrap_or_else(|_| dest.to_path_buf());
        self.download_into(drive_id, item_id, &mut sink, &path.to_string_lossy())
    }

    /// [`Engine::download`] into any writer (object storage, a pipe): the bytes are
    /// written as they arrive, resumed after a reset without writing any twice, and
    /// verified at the end; on an error (a hash mismatch included) the host must
    /// discard what was written.
    pub fn download_to(
        &self,
        drive_id: &str,
        item_id: &str,
        out: &mut dyn Write,
    ) -> Result<Download> {
        self.download_into(drive_id, item_id, &mut WriterSink::new(out), "")
    }

    fn download_into(
        &self,
        drive_id: &str,
        item_id: &str,
        sink: &mut dyn Sink,
        local_path: &str,
    ) -> Result<Download> {
        let last = self.api_store.lock().last_download(drive_id, item_id)?;
        let request = Request {
            drive_id,
            item_id,
            last_ctag: last.as_ref().map(|l| l.ctag.as_str()),
        };
        let result = fetch(&self.shared.client, &request, sink)?;
        if let Download::Downloaded { bytes, hash, ctag } = &result {
            let content = StoredContent::now(ctag.clone(), hash.clone(), *bytes, local_path.into());
            self.api_store
                .lock()
                .record_download(drive_id, item_id, &content, Owner::Anyone)?;
        }
        Ok(result)
    }

    /// Up to `limit` files of a drive whose current cTag (as the last delta reported
    /// it) differs from the one last downloaded, or that were never downloaded.
    pub fn pending_downloads(&self, drive_id: &str, limit: usize) -> Result<Vec<PendingDownload>> {
        self.api_store
            .lock()
            .pending_downloads(drive_id, Owner::Anyone, "", limit)
    }

    /// The last successful download of an item, if any.
    pub fn last_download(&self, drive_id: &str, item_id: &str) -> Result<Option<StoredContent>> {
        self.api_store.lock().last_download(drive_id, item_id)
    }
}
