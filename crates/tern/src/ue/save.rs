//! Saving a retrieved message: one directory per message under `--save DIR` (named after its
//! Message-ID), one file per part named from its name parameter or Content-Location. Names come
//! from the relay, so they are sanitised; nothing is written outside the message's directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tern_codec::mms::{Body, BodyData};

use super::names;

/// Writes the parts of `body` into `dir/<message>/` and returns each file written with its
/// size. `message` names the directory (a Message-ID or Transaction-ID).
pub fn parts(dir: &Path, message: &str, body: &Body<'_>) -> std::io::Result<Vec<(PathBuf, usize)>> {
    let folder = dir.join(names::sanitize(message).unwrap_or_else(|| "message".to_owned()));
    std::fs::create_dir_all(&folder)?;
    let mut taken = HashSet::new();
    let mut written = Vec::new();
    let mut write = |name: Option<&str>, fallback: String, data: &[u8]| -> std::io::Result<()> {
        let name = name.and_then(names::sanitize).unwrap_or(fallback);
        let path = folder.join(names::unique(&name, &mut taken));
        std::fs::write(&path, data)?;
        written.push((path, data.len()));
        Ok(())
    };
    match &body.data {
        BodyData::Multipart(parts) => {
            for (n, part) in parts.iter().enumerate() {
                write(part.name(), format!("part-{}", n + 1), &part.data)?;
            }
        }
        BodyData::Single(data) => write(body.content_type.params.name.as_deref(), "body".to_owned(), data)?,
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_codec::wsp::{ContentType, Part};

    #[test]
    fn hostile_names_stay_inside_the_message_directory() {
        let dir = std::env::temp_dir().join(format!("tern-ue-save-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let named = |name: &str, data: &'static [u8]| {
            let mut part = Part::new(ContentType::new("image/jpeg"), data);
            part.headers.content_location = Some(name.to_owned());
            part
        };
        let body = Body::multipart(
            ContentType::new("application/vnd.wap.multipart.related"),
            vec![
                named("../../escape.jpg", b"1"),
                named("/etc/passwd", b"2"),
                named("..", b"3"),
                named("ESCAPE.JPG", b"4"),
            ],
        );
        let written = parts(&dir, "../id/..", &body).unwrap();
        let names: Vec<String> =
            written.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["escape.jpg", "passwd", "part-3", "ESCAPE-2.JPG"]);
        for (path, _) in &written {
            assert_eq!(path.parent().unwrap(), dir.join("message"), "{}", path.display());
        }
        assert_eq!(std::fs::read(&written[3].0).unwrap(), b"4");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
