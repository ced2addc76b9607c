//! Notifications held for a decision: a deferred notification is kept in the `--state`
//! directory, as the m-notification.ind PDU itself, so that a later run can still fetch or
//! reject it, as a phone keeps a "download?" entry in its inbox. The relay keeps the message
//! until it expires.

use std::io::Read;
use std::path::{Path, PathBuf};

use tern_codec::mms::{Message, NotificationInd, Pdu};

use super::names;
use super::origin::Origin;

/// Notifications are a few hundred octets; anything much larger in the directory is not ours.
const MAX_FILE: u64 = 64 << 10;
const SUFFIX: &str = ".mms";

#[derive(Debug)]
pub struct Held {
    dir: PathBuf,
}

/// A held notification and the file that keeps it.
#[derive(Debug)]
pub struct Entry {
    pub path: PathBuf,
    pub notification: NotificationInd,
}

impl Held {
    pub fn open(dir: &Path) -> std::io::Result<Held> {
        std::fs::create_dir_all(dir)?;
        Ok(Held { dir: dir.to_owned() })
    }

    /// Keeps `notification` (from `origin`) and returns the file that holds it. A notification
    /// sent again replaces its own file. Names are sanitised (a Transaction-ID with a `/` keeps
    /// only what follows it; characters a file name cannot hold become `_`), so another one
    /// whose name comes out the same gets a numbered file rather than overwriting a message
    /// still waiting.
    pub fn keep(&self, origin: &Origin, notification: &NotificationInd) -> std::io::Result<PathBuf> {
        let tid = notification.transaction_id.as_deref().unwrap_or_default();
        let name = names::sanitize(&format!("{origin}-{tid}")).unwrap_or_else(|| "notification".to_owned());
        let mut n = 1;
        let path = loop {
            let file = if n == 1 { format!("{name}{SUFFIX}") } else { format!("{name}-{n}{SUFFIX}") };
            let path = self.dir.join(file);
            match read(&path) {
                Ok(held) if is_same(&held, origin, tid) => break path,
                Err(_) if !path.exists() => break path,
                _ => n += 1,
            }
        };
        std::fs::write(&path, Message::new(notification.clone()).encode())?;
        Ok(path)
    }

    /// Every held notification, and for each file that is not one, why.
    pub fn entries(&self) -> std::io::Result<(Vec<Entry>, Vec<String>)> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| *x == SUFFIX[1..]))
            .collect();
        paths.sort();
        let (mut entries, mut problems) = (Vec::new(), Vec::new());
        for path in paths {
            match read(&path) {
                Ok(notification) => entries.push(Entry { path, notification }),
                Err(why) => problems.push(format!("{}: {why}", path.display())),
            }
        }
        Ok((entries, problems))
    }
}

fn read(path: &Path) -> Result<NotificationInd, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut bytes)).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(format!("larger than {MAX_FILE} octets"));
    }
    match Message::decode(&bytes).map_err(|e| e.to_string())?.pdu {
        Pdu::NotificationInd(n) => Ok(n),
        other => Err(format!("an {}, not an m-notification-ind", other.message_type())),
    }
}

/// Whether `held` is the notification of transaction `tid` from `origin`.
fn is_same(held: &NotificationInd, origin: &Origin, tid: &str) -> bool {
    held.transaction_id.as_deref() == Some(tid)
        && held.content_location.as_deref().and_then(|url| Origin::of(url).ok()).as_ref() == Some(origin)
}

/// Forgets a held notification once it is decided.
pub fn forget(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(tid: &str, url: &str) -> NotificationInd {
        NotificationInd {
            transaction_id: Some(tid.to_owned()),
            content_location: Some(url.to_owned()),
            ..NotificationInd::default()
        }
    }

    #[test]
    fn notifications_whose_names_collide_are_all_kept() {
        let dir = std::env::temp_dir().join(format!("tern-ue-held-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let held = Held::open(&dir).unwrap();
        let origin = Origin::of("http://127.0.0.1:8012").unwrap();
        let first = notification("shop/1", "http://127.0.0.1:8012/m/a");
        let second = notification("club/1", "http://127.0.0.1:8012/m/b");
        let kept = held.keep(&origin, &first).unwrap();
        assert_ne!(held.keep(&origin, &second).unwrap(), kept);
        assert_eq!(held.keep(&origin, &first).unwrap(), kept, "sent again, kept once");
        let (entries, problems) = held.entries().unwrap();
        let mut tids: Vec<String> = entries.into_iter().filter_map(|e| e.notification.transaction_id).collect();
        tids.sort();
        assert_eq!((tids, problems), (vec!["club/1".to_owned(), "shop/1".to_owned()], vec![]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
