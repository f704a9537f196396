//! Where downloaded bytes go: a file written as `DEST.partial` and renamed into place,
//! or any writer of the host's.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::content::hash::Hasher;
use crate::error::{Error, Result};

/// Bytes read per call when rehashing a partial file.
const REHASH_CHUNK: usize = 256 * 1024;

/// A destination of downloaded bytes.
pub(crate) trait Sink {
    /// How many bytes the sink already holds (a partial file left by an earlier
    /// attempt or process), fed to `hasher`: the download resumes after them.
    fn resume(&mut self, hasher: &mut Hasher) -> Result<u64>;
    /// Appends bytes.
    fn write(&mut self, bytes: &[u8]) -> Result<()>;
    /// Forgets everything written, to start over; an error when that is impossible.
    fn restart(&mut self) -> Result<()>;
    /// Makes the bytes durable and visible (for a file: fsync, then rename into place).
    fn finish(&mut self) -> Result<()>;
    /// Throws away what was written (the bytes are wrong).
    fn discard(&mut self);
}

/// `DEST.partial`, renamed to `DEST` once complete and verified.
pub(crate) struct FileSink {
    dest: PathBuf,
    partial: PathBuf,
    file: Option<File>,
}

/// The partial file of `dest`: `dest` with `.partial` appended to its name.
pub(crate) fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    dest.with_file_name(name)
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("{what} {}: {e}", path.display()),
    ))
}

impl FileSink {
    /// A sink for `dest`, whose directory must exist (it is not created: a missing
    /// directory is the caller's mistake, reported before any request).
    pub fn new(dest: &Path) -> Result<FileSink> {
        if dest.file_name().is_none() || dest.is_dir() {
            return Err(Error::InvalidInput(format!(
                "the destination {} is not a file path",
                dest.display()
            )));
        }
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(Error::InvalidInput(format!(
                "the destination directory {} does not exist",
                dir.display()
            )));
        }
        Ok(FileSink {
            dest: dest.to_path_buf(),
            partial: partial_path(dest),
            file: None,
        })
    }

    fn file(&mut self) -> Result<&mut File> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(&self.partial)
                .map_err(|e| io_error("opening", &self.partial, e))?;
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }
}

impl Sink for FileSink {
    fn resume(&mut self, hasher: &mut Hasher) -> Result<u64> {
        let partial = self.partial.clone();
        let file = self.file()?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| io_error("reading", &partial, e))?;
        let mut buf = vec![0u8; REHASH_CHUNK];
        let mut have = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| io_error("reading", &partial, e))?;
            if n == 0 {
                return Ok(have);
            }
            hasher.update(&buf[..n]);
            have += n as u64;
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let partial = self.partial.clone();
        self.file()?
            .write_all(bytes)
            .map_err(|e| io_error("writing", &partial, e))
    }

    fn restart(&mut self) -> Result<()> {
        let partial = self.partial.clone();
        self.file()?
            .set_len(0)
            .map_err(|e| io_error("truncating", &partial, e))
    }

    fn finish(&mut self) -> Result<()> {
        let partial = self.partial.clone();
        self.file()?
            .sync_all()
            .map_err(|e| io_error("syncing", &partial, e))?;
        self.file = None;
        std::fs::rename(&self.partial, &self.dest)
            .map_err(|e| io_error("renaming into place", &self.dest, e))?;
        // The rename is durable once the directory is.
        if let Some(dir) = self.dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    fn discard(&mut self) {
        self.file = None;
        if let Err(e) = remove_if_present(&self.partial) {
            log::warn!("cannot remove {}: {e}", self.partial.display());
        }
    }
}

/// Removes a file; one that is already gone is no error.
pub(crate) fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            log::debug!("removed {}", path.display());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A host's writer: bytes already written cannot be taken back, so a download into it
/// resumes after them but never starts over.
pub(crate) struct WriterSink<'a> {
    out: &'a mut dyn Write,
    written: u64,
}

impl<'a> WriterSink<'a> {
    /// A sink writing to `out`.
    pub fn new(out: &'a mut dyn Write) -> WriterSink<'a> {
        WriterSink { out, written: 0 }
    }
}

impl Sink for WriterSink<'_> {
    fn resume(&mut self, _hasher: &mut Hasher) -> Result<u64> {
        self.restart().map(|()| 0)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(writer_error)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn restart(&mut self) -> Result<()> {
        if self.written == 0 {
            return Ok(());
        }
        Err(Error::State(
            "the download had to start over, but bytes were already written to the host's writer"
                .into(),
        ))
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(writer_error)
    }

    fn discard(&mut self) {}
}

fn writer_error(e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("the host's writer: {e}"),
    ))
}
