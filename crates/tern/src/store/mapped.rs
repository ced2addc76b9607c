//! Stored bodies lent straight from the page cache. Each segment that bodies are read
//! from is mapped read-only once, and a body is served as a slice of that mapping: it is never
//! copied out of the page cache into the relay's memory, so the only copy left is the one into
//! the socket, and a mapping serves many answers so that the cost of making and removing one
//! (the kernel must flush every core's view of it) is shared among them.
//!
//! Pages of a mapping that have been read count in the relay's resident memory although they
//! are the page cache's, so mappings are retired once [`RETIRE_AFTER`] octets have been asked
//! of them all together, or once [`MAPS_MAX`] segments are mapped, and those pages leave the
//! relay's count as the last answer using them is sent. A segment that is deleted is forgotten
//! here at once ([`Lender::forget`]).
//!
//! A current mapping also keeps its segment open, so that an answer lent from it can be sent
//! from the file by the kernel ([`Lender::file_of`], used by the HTTP listener's `sendfile`)
//! rather than copied from the mapping into the socket. A retired mapping closes its file at
//! once: the relay holds at most [`MAPS_MAX`] such descriptors (the connection cap is drawn
//! from the rest).
//!
//! This is the one place in the relay that uses `unsafe`, for the system calls a mapping needs.
//! What keeps it sound:
//! - A body's bytes never change once it is committed: segments are append-only, and the only
//!   cut (after a failed append) is at the end of the last body written, never inside one.
//! - Touching a mapped page that lies wholly past the end of the file raises `SIGBUS`: each body
//!   is checked against the file's length before it is lent, and the file never shrinks below a
//!   committed body. A segment deleted while mapped stays readable until unmapped.
//! - A page the disk must supply would be read on the runtime's thread (and a disk error there
//!   would be `SIGBUS`, not an error): a body is lent only if every one of its pages is in the
//!   page cache just then; any other goes the way of an ordinary read.

#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::c_void;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};

use super::payloads::{Location, SEGMENT_SIZE, segment_path};

/// Octets asked of the current mappings after which they are all retired: what the relay's
/// resident memory may count of the page cache, beside the answers being sent.
pub const RETIRE_AFTER: u64 = 64 * 1024 * 1024;
/// Segments mapped at most at once (each mapping reserves twice a segment's size of address
/// space); mapping one more retires them all.
pub const MAPS_MAX: usize = 64;

/// The segments' mappings, shared by every reader.
#[derive(Debug)]
pub struct Lender {
    dir: PathBuf,
    maps: Mutex<Maps>,
}

#[derive(Debug, Default)]
struct Maps {
    by_segment: HashMap<i64, Current>,
    /// Octets asked of these mappings so far.
    lent: u64,
}

/// A segment's mapping while bodies are lent from it, and the segment's file, open for sending.
#[derive(Debug)]
struct Current {
    map: Arc<SegmentMap>,
    file: Arc<File>,
}

/// What [`Lender::lend`] found.
#[derive(Debug)]
pub enum Lend {
    Lent(Lent),
    /// Some of the body's pages are not in the page cache (or the segment cannot be mapped).
    NotCached,
    /// The body runs past the end of its segment.
    PastEnd,
}

/// One body, a slice of its segment's mapping, which it keeps alive.
#[derive(Debug)]
pub struct Lent {
    map: Arc<SegmentMap>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `start + len` is within the mapping and within the file ([`Lender::lend`]),
        // the mapping lives as long as `self.map`, and its bytes never change (module header).
        unsafe { std::slice::from_raw_parts(self.map.base.as_ptr().cast::<u8>().add(self.start), self.len) }
    }
}

/// A read-only mapping of a segment, unmapped when the last body lent from it is dropped.
#[derive(Debug)]
struct SegmentMap {
    path: PathBuf,
    base: NonNull<c_void>,
    len: usize,
    /// The file's length when last asked.
    seen_len: AtomicU64,
}

// SAFETY: the mapping is read-only, owned by this value alone, and its bytes never change (see
// the module's header), so sharing or moving it between threads is as safe as for a `Box<[u8]>`.
unsafe impl Send for SegmentMap {}
unsafe impl Sync for SegmentMap {}

impl Drop for SegmentMap {
    fn drop(&mut self) {
        // SAFETY: the range is the one `mmap` returned, and no slice of it outlives `self`.
        if let Err(e) = unsafe { munmap(self.base.as_ptr(), self.len) } {
            tracing::error!(error = %e, "cannot unmap a segment");
        }
    }
}

impl SegmentMap {
    /// Maps segment `segment` with room for at least `need` octets. The open segment keeps
    /// growing, so the mapping reaches past its end (which is allowed, while those pages are
    /// not touched) far enough for it to be sealed. The file is returned too; the mapping does
    /// not need it.
    fn open(dir: &std::path::Path, segment: i64, need: u64) -> io::Result<(SegmentMap, File)> {
        let path = segment_path(dir, segment);
        let file = File::open(&path)?;
        let len = need.max(2 * SEGMENT_SIZE);
        let len = usize::try_from(len).map_err(|_| io::Error::other("a segment larger than memory"))?;
        // SAFETY: a fresh shared read-only mapping at an address the kernel picks; nothing else
        // is at that address, and the file's bytes there never change (see the module's header).
        let base = unsafe { mmap(std::ptr::null_mut(), len, ProtFlags::READ, MapFlags::SHARED, &file, 0)? };
        let base = NonNull::new(base).ok_or_else(|| io::Error::other("mmap gave a null address"))?;
        Ok((SegmentMap { path, base, len, seen_len: AtomicU64::new(0) }, file))
    }

    /// Whether every page of `start..start + len` is in the page cache now.
    fn cached(&self, start: usize, len: usize) -> io::Result<bool> {
        let page = rustix::param::page_size();
        // Asked in pieces of up to this many pages, so the answer fits on the stack.
        let mut resident = [0u8; 256];
        let mut at = start - start % page;
        while at < start + len {
            let span = (start + len - at).min(resident.len() * page);
            // SAFETY: `at` is page-aligned and `at + span` is within the mapping, and
            // `resident` has an octet for each page of the span, as mincore(2) asks.
            let addr = unsafe { self.base.as_ptr().cast::<u8>().add(at) };
            if unsafe { libc::mincore(addr.cast(), span, resident.as_mut_ptr()) } != 0 {
                return Err(io::Error::last_os_error());
            }
            if !resident[..span.div_ceil(page)].iter().all(|r| r & 1 == 1) {
                return Ok(false);
            }
            at += span;
        }
        Ok(true)
    }

    /// Whether the file holds `end` octets: a segment only grows, so a length seen once is
    /// asked of the file again only for a body beyond it.
    fn holds(&self, end: u64) -> io::Result<bool> {
        if end <= self.seen_len.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let len = std::fs::metadata(&self.path)?.len();
        self.seen_len.fetch_max(len, Ordering::Relaxed);
        Ok(end <= len)
    }
}

impl Maps {
    /// Retires every mapping: each closes its file now and is unmapped when the last answer
    /// lent from it is sent.
    fn retire(&mut self) {
        self.by_segment.clear();
        self.lent = 0;
    }
}

impl Lender {
    pub fn new(dir: PathBuf) -> Lender {
        Lender { dir, maps: Mutex::new(Maps::default()) }
    }

    /// Lends the body at `at` (not empty) if all of it is in the page cache.
    pub fn lend(&self, at: Location) -> io::Result<Lend> {
        let Some(end) = at.offset.checked_add(at.length) else { return Ok(Lend::PastEnd) };
        let map = {
            let mut maps = self.maps.lock().map_err(|_| io::Error::other("the mappings' lock is poisoned"))?;
            let current = maps.by_segment.get(&at.segment).filter(|c| end <= c.map.len as u64);
            let map = match current {
                Some(current) => Arc::clone(&current.map),
                None => {
                    let Ok((map, file)) = SegmentMap::open(&self.dir, at.segment, end) else {
                        return Ok(Lend::NotCached);
                    };
                    let map = Arc::new(map);
                    if maps.by_segment.len() >= MAPS_MAX {
                        maps.retire();
                    }
                    maps.by_segment.insert(at.segment, Current { map: Arc::clone(&map), file: Arc::new(file) });
                    map
                }
            };
            maps.lent += at.length;
            if maps.lent >= RETIRE_AFTER {
                maps.retire();
            }
            map
        };
        if !map.holds(end)? {
            return Ok(Lend::PastEnd);
        }
        // Both fit in the mapping: `end <= map.len`, which is a `usize`.
        let (start, len) = (at.offset as usize, at.length as usize);
        Ok(if map.cached(start, len)? { Lend::Lent(Lent { map, start, len }) } else { Lend::NotCached })
    }

    /// The segment file holding `bytes` and their offset in it, when they are a slice of a
    /// current mapping within the part of the file known to exist (so every body lent from it
    /// while the mapping is current). Two live regions of memory never overlap, so borrowed
    /// bytes that lie in a live mapping's range are that mapping's, which are the file's.
    pub fn file_of(&self, bytes: &[u8]) -> Option<(Arc<File>, u64)> {
        let at = bytes.as_ptr() as usize;
        let maps = self.maps.lock().ok()?;
        maps.by_segment.values().find_map(|current| {
            let offset = at.checked_sub(current.map.base.as_ptr() as usize)?;
            let end = offset.checked_add(bytes.len())?;
            let known = current.map.seen_len.load(Ordering::Relaxed);
            (end <= current.map.len && end as u64 <= known).then(|| (Arc::clone(&current.file), offset as u64))
        })
    }

    /// Drops the mapping of a segment about to be deleted, so that its space is freed as soon
    /// as the answers still using it are sent.
    pub fn forget(&self, segment: i64) {
        if let Ok(mut maps) = self.maps.lock() {
            maps.by_segment.remove(&segment);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::payloads::{PayloadLog, checksum, segment_path};
    use crate::store::samples::scratch;

    fn body(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    fn store(log: &mut PayloadLog, bytes: &[u8]) -> Location {
        let at = log.append(bytes, checksum(bytes)).unwrap();
        log.sync().unwrap();
        at
    }

    fn lent(lender: &Lender, at: Location) -> Lent {
        match lender.lend(at).unwrap() {
            Lend::Lent(body) => body,
            other => panic!("not lent: {other:?}"),
        }
    }

    #[test]
    fn a_lent_body_is_the_stored_one_and_outlives_its_deleted_segment() {
        let dir = scratch("outlives");
        let mut log = PayloadLog::open(&dir, 1).unwrap();
        let first = body(300 * 1024 + 7, 1);
        let second = body(5000, 2);
        let (a, b) = (store(&mut log, &first), store(&mut log, &second));
        let lender = Lender::new(dir.to_path_buf());
        let (lent_a, lent_b) = (lent(&lender, a), lent(&lender, b));
        assert_eq!(lent_a.as_ref(), &first[..]);
        assert_eq!(lent_b.as_ref(), &second[..]);
        // The segment is collected while both are still being sent.
        lender.forget(1);
        std::fs::remove_file(segment_path(&dir, 1)).unwrap();
        assert_eq!(lent_a.as_ref(), &first[..]);
        assert_eq!(lent_b.as_ref(), &second[..]);
        assert!(lender.maps.lock().unwrap().by_segment.is_empty());
    }

    #[test]
    fn a_lent_body_is_found_in_its_segment_file_while_its_mapping_is_current() {
        use std::os::unix::fs::FileExt;
        let dir = scratch("file-of");
        let mut log = PayloadLog::open(&dir, 1).unwrap();
        let first = body(5000, 6);
        let second = body(70_000, 7);
        let (a, b) = (store(&mut log, &first), store(&mut log, &second));
        let lender = Lender::new(dir.to_path_buf());
        let (lent_a, lent_b) = (lent(&lender, a), lent(&lender, b));
        for (lent, at, bytes) in [(&lent_a, a, &first), (&lent_b, b, &second)] {
            let (file, offset) = lender.file_of(lent.as_ref()).unwrap();
            assert_eq!(offset, at.offset);
            let mut read = vec![0; bytes.len()];
            file.read_exact_at(&mut read, offset).unwrap();
            assert_eq!(&read, bytes);
        }
        // What is left of a body after part of it was sent.
        assert_eq!(lender.file_of(&lent_b.as_ref()[1000..]).unwrap().1, b.offset + 1000);
        // The same bytes in the relay's own memory are no file's.
        assert!(lender.file_of(&second).is_none());
        // Once the mapping is retired its file is closed: the body is still lent, but copied.
        lender.forget(1);
        assert!(lender.file_of(lent_b.as_ref()).is_none());
        assert_eq!(lent_b.as_ref(), &second[..]);
    }

    #[test]
    fn a_body_past_the_end_of_its_segment_is_refused_not_touched() {
        let dir = scratch("past-end");
        let mut log = PayloadLog::open(&dir, 1).unwrap();
        let at = store(&mut log, &body(10_000, 3));
        let lender = Lender::new(dir.to_path_buf());
        lent(&lender, at);
        // Within the mapping (which reaches far past the file's end) but past the file: touching
        // it would kill the relay with SIGBUS.
        for bad in [
            Location { offset: at.offset + 8192, ..at },
            Location { offset: 1 << 20, ..at },
            Location { offset: u64::MAX - 2, ..at },
        ] {
            assert!(matches!(lender.lend(bad).unwrap(), Lend::PastEnd), "{bad:?}");
        }
        // Past the mapping too: a new mapping is made for it, and it is still past the file.
        let far = Location { offset: 3 * SEGMENT_SIZE, ..at };
        assert!(matches!(lender.lend(far).unwrap(), Lend::PastEnd));
    }

    #[test]
    fn a_body_whose_pages_left_the_page_cache_is_not_lent() {
        let dir = scratch("evicted");
        let mut log = PayloadLog::open(&dir, 1).unwrap();
        let at = store(&mut log, &body(256 * 1024, 4));
        let lender = Lender::new(dir.to_path_buf());
        // The pages are clean (synced), so the kernel drops them when asked.
        let file = File::open(segment_path(&dir, 1)).unwrap();
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        assert!(matches!(lender.lend(at).unwrap(), Lend::NotCached));
    }

    #[test]
    fn mappings_are_retired_once_their_share_is_lent_and_their_bodies_stay_whole() {
        let dir = scratch("retired");
        let mut log = PayloadLog::open(&dir, 1).unwrap();
        let big = body(4 * 1024 * 1024, 5);
        let at = store(&mut log, &big);
        let lender = Lender::new(dir.to_path_buf());
        let mut held = Vec::new();
        let mut retired = false;
        for _ in 0..=(RETIRE_AFTER / at.length) {
            held.push(lent(&lender, at));
            retired |= lender.maps.lock().unwrap().by_segment.is_empty();
        }
        assert!(retired, "the mappings were never retired");
        assert!(held.iter().all(|b| b.as_ref() == &big[..]));
    }

    #[test]
    fn no_more_than_maps_max_segments_are_mapped_at_once() {
        let dir = scratch("many");
        let mut log = PayloadLog::open(&dir, 1).unwrap();
        let mut stored = Vec::new();
        for segment in 1..=(MAPS_MAX as i64 + 8) {
            if segment > 1 {
                log.rotate(segment).unwrap();
            }
            let bytes = body(3000, segment as u8);
            stored.push((store(&mut log, &bytes), bytes));
        }
        let lender = Lender::new(dir.to_path_buf());
        let mut held = Vec::new();
        for (at, _) in &stored {
            held.push(lent(&lender, *at));
            assert!(lender.maps.lock().unwrap().by_segment.len() <= MAPS_MAX);
        }
        assert!(held.iter().zip(&stored).all(|(lent, (_, bytes))| lent.as_ref() == &bytes[..]));
    }
}
