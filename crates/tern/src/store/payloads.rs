//! Message bodies in append-only segment files under `<data_dir>/payloads`. The committer
//! appends every body of a batch to the open segment and syncs it once for the whole batch, so
//! bodies share the group commit instead of costing one fsync each. A segment is sealed when it
//! grows past its size and deleted once no live message points into it.
//!
//! Each body is recorded with its length and CRC-32, and a read checks both: bytes that are not
//! the body that was stored (a bad offset, a damaged disk) are refused, never served.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::mapped::{Lend, Lender};
use crate::core::model::BlobRef;

/// Where one body is kept, and its checksum. Above the store it travels as an opaque
/// [`BlobRef`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub segment: i64,
    pub offset: u64,
    pub length: u64,
    /// CRC-32 of the body; `None` for bodies stored before checksums were kept, which are checked
    /// by length only.
    pub crc: Option<u32>,
}

impl Location {
    pub fn to_ref(self) -> BlobRef {
        let crc = self.crc.map_or_else(|| "-".to_owned(), |c| format!("{c:08x}"));
        BlobRef(format!("seg/{}/{}/{}/{crc}", self.segment, self.offset, self.length))
    }

    /// The location a reference names; `None` for one this store did not make.
    pub fn from_ref(r: &BlobRef) -> Option<Location> {
        let mut it = r.0.strip_prefix("seg/")?.split('/');
        let segment = it.next()?.parse().ok()?;
        let offset = it.next()?.parse().ok()?;
        let length = it.next()?.parse().ok()?;
        let crc = match it.next()? {
            "-" => None,
            hex => Some(u32::from_str_radix(hex, 16).ok()?),
        };
        it.next().is_none().then_some(Location { segment, offset, length, crc })
    }
}

/// A segment is sealed and a new one started beyond this size.
pub const SEGMENT_SIZE: u64 = 64 * 1024 * 1024;

/// The checksum a body is stored and read back with.
pub fn checksum(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
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

    /// Appends a body whose checksum is `crc` (not yet durable: see [`PayloadLog::sync`]).
    ///
    /// A failed write (a full disk, a file-size limit) may have written part of the body. The
    /// segment is cut back to where the body began, and if even that fails the end is taken
    /// from the file, so the next body's offset is where its bytes really go.
    pub fn append(&mut self, bytes: &[u8], crc: u32) -> io::Result<Location> {
        if let Err(e) = self.file.write_all(bytes) {
            self.recover();
            return Err(e);
        }
        let location = Location { segment: self.segment, offset: self.len, length: bytes.len() as u64, crc: Some(crc) };
        self.len += bytes.len() as u64;
        self.dirty = true;
        Ok(location)
    }

    /// After a failed write: drop what it left behind, or at least learn where the file ends.
    fn recover(&mut self) {
        if let Err(e) = self.file.set_len(self.len) {
            tracing::error!(error = %e, segment = self.segment, "cannot cut a partly written body off its segment");
        }
        match self.file.metadata() {
            Ok(meta) => self.len = meta.len(),
            Err(e) => tracing::error!(error = %e, segment = self.segment, "cannot read a segment's length"),
        }
    }

    /// Makes everything appended so far durable: one fdatasync for the whole batch.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            if let Err(e) = self.file.sync_data() {
                self.recover();
                return Err(e);
            }
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

/// Why a stored body could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The bytes at the body's place are not the body that was stored.
    #[error("body in segment {segment} at {offset} ({length} octets) {problem}")]
    Damaged { segment: i64, offset: u64, length: u64, problem: &'static str },
}

/// Reads one stored body and checks it against its recorded length and checksum.
pub fn read(dir: &Path, at: Location) -> Result<Vec<u8>, ReadError> {
    let mut file = File::open(segment_path(dir, at.segment))?;
    let len = usize::try_from(at.length).map_err(|_| damaged(at, "is larger than memory"))?;
    file.seek(SeekFrom::Start(at.offset))?;
    // Read into spare capacity rather than a zeroed buffer: a large body is not written twice.
    let mut buf = Vec::with_capacity(len);
    file.take(at.length).read_to_end(&mut buf)?;
    check(at, &buf)?;
    Ok(buf)
}

/// Whether `body`, read from `at`, is the body that was stored there: all of its length, and
/// its checksum.
fn check(at: Location, body: &[u8]) -> Result<(), ReadError> {
    if (body.len() as u64) < at.length {
        return Err(damaged(at, "runs past the end of its segment"));
    }
    if at.crc.is_some_and(|crc| crc != checksum(body)) {
        return Err(damaged(at, "does not match its checksum"));
    }
    Ok(())
}

fn damaged(at: Location, problem: &'static str) -> ReadError {
    ReadError::Damaged { segment: at.segment, offset: at.offset, length: at.length, problem }
}

/// Lends one stored body, checked as [`read`] does, straight from the page cache if every page
/// of it is there now; `Ok(None)` if some are not (or the segment cannot be mapped), when the
/// caller reads it with [`read`] where blocking does not hold up other work. It never waits for
/// the disk, so it may run on the async runtime's own threads, and a body that was read
/// recently (a retrieval soon after the notification) costs no hand-over to another thread and
/// no copy: it is checked and served where it lies ([`mapped`](super::mapped)).
pub fn read_cached(lender: &Lender, at: Location) -> Result<Option<Bytes>, ReadError> {
    if at.length == 0 {
        check(at, &[])?;
        return Ok(Some(Bytes::new()));
    }
    match lender.lend(at) {
        Ok(Lend::Lent(body)) => {
            check(at, body.as_ref())?;
            Ok(Some(Bytes::from_owner(body)))
        }
        Ok(Lend::PastEnd) => Err(damaged(at, "runs past the end of its segment")),
        // Not all cached, or a segment that cannot be opened or mapped: the ordinary read finds
        // out and reports.
        Ok(Lend::NotCached) | Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::samples::scratch;

    fn append(log: &mut PayloadLog, bytes: &[u8]) -> Location {
        log.append(bytes, checksum(bytes)).unwrap()
    }

    #[test]
    fn appends_survive_reopen_and_read_back() {
        let dir = scratch("segment-reopen");
        let mut log = PayloadLog::open(&dir, 1).unwrap();
        let a = append(&mut log, b"first body");
        let b = append(&mut log, b"second");
        log.sync().unwrap();
        drop(log);
        let mut log = PayloadLog::open(&dir, 1).unwrap();
        let c = append(&mut log, b"third");
        log.rotate(2).unwrap();
        let d = append(&mut log, b"fourth");
        log.sync().unwrap();
        assert_eq!(read(&dir, a).unwrap(), b"first body");
        assert_eq!(read(&dir, b).unwrap(), b"second");
        assert_eq!((c.segment, c.offset), (1, 16));
        assert_eq!(read(&dir, c).unwrap(), b"third");
        assert_eq!((d.segment, read(&dir, d).unwrap()), (2, b"fourth".to_vec()));
    }

    #[test]
    fn bytes_that_are_not_the_body_are_refused() {
        let dir = scratch("segment-damaged");
        let mut log = PayloadLog::open(&dir, 1).unwrap();
        let a = append(&mut log, b"alice's picture");
        let b = append(&mut log, b"bob's text");
        log.sync().unwrap();
        // An offset that is off by a few octets reads the neighbour's bytes.
        let shifted = Location { offset: a.offset + 3, ..a };
        assert!(matches!(read(&dir, shifted), Err(ReadError::Damaged { .. })));
        // A body that runs past the end of the segment.
        let past = Location { offset: b.offset + 1, ..b };
        assert!(matches!(read(&dir, past), Err(ReadError::Damaged { .. })));
        // A changed octet on disk.
        let path = segment_path(&dir, 1);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[usize::try_from(b.offset).unwrap()] ^= 0x20;
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(read(&dir, b), Err(ReadError::Damaged { .. })));
        assert_eq!(read(&dir, a).unwrap(), b"alice's picture");
        // The read that never waits for the disk refuses the same bytes (the segment was just
        // written, so its pages are cached).
        let lender = Lender::new(dir.to_path_buf());
        assert!(matches!(read_cached(&lender, b), Err(ReadError::Damaged { .. })));
        assert!(matches!(read_cached(&lender, past), Err(ReadError::Damaged { .. })));
        assert_eq!(read_cached(&lender, a).unwrap().unwrap(), &b"alice's picture"[..]);
        // Bodies stored before checksums were kept are checked by length only.
        assert_eq!(read(&dir, Location { crc: None, ..a }).unwrap(), b"alice's picture");
    }
}
