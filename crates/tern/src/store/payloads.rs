//! Message bodies in append-only segment files under `<data_dir>/payloads`. The committer
//! appends every body of a batch to the open segment and syncs it once for the whole batch, so
//! bodies share the group commit instead of costing one fsync each. A segment is sealed when it
//! grows past its size and deleted once no live message points into it.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A segment is sealed and a new one started beyond this size.
pub const SEGMENT_SIZE: u64 = 64 * 1024 * 1024;

/// Where one body is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub segment: i64,
    pub offset: u64,
    pub length: u64,
}

/// The open segment, appended to by the committer only.
#[derive(Debug)]
pub struct PayloadLog {
    dir: PathBuf,
    segment: i64,
    file: File,
    len: u64,
    dirty: bool,
}

pub fn segment_path(dir: &Path, segment: i64) -> PathBuf {
    dir.join(format!("{segment:010}.seg"))
}

impl PayloadLog {
    /// Opens (or creates) segment `segment` for appending after what it already holds; bytes of
    /// a batch whose database commit never happened are left unreferenced, which is harmless.
    pub fn open(dir: &Path, segment: i64) -> io::Result<PayloadLog> {
        std::fs::create_dir_all(dir)?;
        let path = segment_path(dir, segment);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        File::open(dir)?.sync_all()?;
        Ok(PayloadLog { dir: dir.to_owned(), segment, file, len, dirty: false })
    }

    pub fn segment(&self) -> i64 {
        self.segment
    }

    pub fn is_full(&self) -> bool {
        self.len >= SEGMENT_SIZE
    }

    /// Appends a body (not yet durable: see [`PayloadLog::sync`]).
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<Location> {
        self.file.write_all(bytes)?;
        let location = Location { segment: self.segment, offset: self.len, length: bytes.len() as u64 };
        self.len += bytes.len() as u64;
        self.dirty = true;
        Ok(location)
    }

    /// Makes everything appended so far durable: one fdatasync for the whole batch.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Syncs and closes the current segment and starts segment `next`.
    pub fn rotate(&mut self, next: i64) -> io::Result<()> {
        self.sync()?;
        *self = PayloadLog::open(&self.dir, next)?;
        Ok(())
    }
}

/// Reads one stored body.
pub fn read(dir: &Path, at: Location) -> io::Result<Vec<u8>> {
    let file = File::open(segment_path(dir, at.segment))?;
    let len = usize::try_from(at.length).map_err(|_| io::Error::other("body too large for memory"))?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, at.offset)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_survive_reopen_and_read_back() {
        let dir = std::env::temp_dir().join(format!("tern-payloads-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut log = PayloadLog::open(&dir, 1).unwrap();
        let a = log.append(b"first body").unwrap();
        let b = log.append(b"second").unwrap();
        log.sync().unwrap();
        drop(log);
        let mut log = PayloadLog::open(&dir, 1).unwrap();
        let c = log.append(b"third").unwrap();
        log.rotate(2).unwrap();
        let d = log.append(b"fourth").unwrap();
        log.sync().unwrap();
        assert_eq!(read(&dir, a).unwrap(), b"first body");
        assert_eq!(read(&dir, b).unwrap(), b"second");
        assert_eq!((c.segment, c.offset), (1, 16));
        assert_eq!(read(&dir, c).unwrap(), b"third");
        assert_eq!((d.segment, read(&dir, d).unwrap()), (2, b"fourth".to_vec()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
