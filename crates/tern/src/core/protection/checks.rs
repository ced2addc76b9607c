//! The content checks that need no scanner, for one profile: a part's real type (by its magic
//! bytes, not the type it declares or its name), a part's size, a blocklist of the SHA-256 of
//! parts' bytes, and banned words with scores in the subject and the text parts (in their
//! charset). Pure.

use sha2::{Digest, Sha256};

use super::{Action, BannedWords, Decision, FileFilter, Profile, Scope};

/// One part of the content, as the screen sees it.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    pub declared: &'a str,
    /// The charset a text part declares, if any (UTF-8 is assumed otherwise).
    pub charset: Option<&'a str>,
    pub data: &'a [u8],
}

/// Every match of the profile's content checks on the message's `subject` and `parts`.
pub fn content_decisions(profile: &Profile, subject: Option<&str>, parts: &[Part<'_>]) -> Vec<Decision> {
    let mut out = Vec::new();
    let decide = |check, detail: String, scope, actions: &[Action]| Decision {
        profile: profile.name.clone(),
        check,
        detail,
        scope,
        actions: actions.to_vec(),
    };
    for (i, part) in parts.iter().enumerate() {
        if let Some(f) = &profile.file_filter
            && let Some(why) = file_match(f, part)
        {
            out.push(decide("file-filter", why, Scope::Part(i), &f.actions));
        }
        if let Some(c) = &profile.checksums {
            let digest = hex::encode(Sha256::digest(part.data));
            if c.sha256.iter().any(|d| d.eq_ignore_ascii_case(&digest)) {
                out.push(decide("checksum", format!("a part with SHA-256 {digest}"), Scope::Part(i), &c.actions));
            }
        }
    }
    if let Some(b) = &profile.banned_words {
        let score = word_score(b, subject, parts);
        if score >= b.threshold.max(1) {
            out.push(decide("banned-words", format!("banned words scoring {score}"), Scope::Message, &b.actions));
        }
    }
    out
}

/// The words of some text, lower case, one space between them: what phrases are found in.
fn words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        out.extend(word.chars().flat_map(char::to_lowercase));
        out.push(' ');
    }
    out
}

/// The text of a text part, in its charset; `None` for a part that is not text.
pub fn text_of(part: &Part<'_>) -> Option<String> {
    if !part.declared.trim_start().get(..5).is_some_and(|t| t.eq_ignore_ascii_case("text/")) {
        return None;
    }
    let encoding =
        part.charset.and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes())).unwrap_or(encoding_rs::UTF_8);
    Some(encoding.decode_without_bom_handling(part.data).0.into_owned())
}

/// What the subject and the text parts score: each occurrence of a word or phrase counts.
fn word_score(b: &BannedWords, subject: Option<&str>, parts: &[Part<'_>]) -> u32 {
    let phrases: Vec<(String, u32)> =
        b.words.iter().map(|w| (words(&w.word), w.score)).filter(|(p, _)| !p.trim().is_empty()).collect();
    let texts = subject.map(str::to_owned).into_iter().chain(parts.iter().filter_map(text_of));
    let mut score = 0u32;
    for text in texts {
        let text = words(&text);
        for (phrase, points) in &phrases {
            let hits = u32::try_from(text.matches(phrase.as_str()).count()).unwrap_or(u32::MAX);
            score = score.saturating_add(hits.saturating_mul(*points));
        }
    }
    score
}

/// The real type of some bytes, by their magic; `None` when nothing known starts them.
pub fn real_type(data: &[u8]) -> Option<&'static str> {
    infer::get(data).map(|t| t.mime_type())
}

fn type_matches(pattern: &str, media_type: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some(kind) => media_type.split('/').next().is_some_and(|k| k.eq_ignore_ascii_case(kind)),
        None => pattern.eq_ignore_ascii_case(media_type),
    }
}

fn file_match(f: &FileFilter, part: &Part<'_>) -> Option<String> {
    if f.max_part_size > 0 && part.data.len() > f.max_part_size {
        return Some(format!("a part of {} octets, over {}", part.data.len(), f.max_part_size));
    }
    let real = real_type(part.data)?;
    if f.types.iter().any(|t| type_matches(t, real)) {
        return Some(format!("a part that is {real} (declared {})", part.declared));
    }
    let declared = part.declared.split(';').next().unwrap_or_default().trim();
    if f.mislabelled && !type_matches(&format!("{}/*", real.split('/').next().unwrap_or_default()), declared) {
        return Some(format!("a part declared {declared} that is {real}"));
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::{Checksums, Interface, Policy, ProtectionConfig, ScoredWord, Subject};
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    /// An ELF header (x86-64 executable), as long as a real one.
    const ELF: &[u8; 64] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0\x01\0\0\0\0\0\0\0\0\0\0\0\
        \0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

    fn cfg(profile: Profile, interfaces: &[Interface]) -> ProtectionConfig {
        let policy = Policy { interfaces: interfaces.to_vec(), profile: profile.name.clone(), ..Policy::default() };
        ProtectionConfig { profiles: vec![profile], policies: vec![policy], ..ProtectionConfig::default() }
    }

    fn screen(c: &ProtectionConfig, interface: Interface, subject: Option<&str>, parts: &[Part<'_>]) -> Vec<Decision> {
        let s = Subject { interface, source: None, client: None, sender: "+15550100001", recipients: &[] };
        c.profiles_for(&s).into_iter().flat_map(|p| content_decisions(p, subject, parts)).collect()
    }

    fn filter(types: &[&str], mislabelled: bool, max: usize, action: Action) -> Profile {
        Profile {
            name: "files".into(),
            file_filter: Some(FileFilter {
                types: types.iter().map(|t| (*t).to_owned()).collect(),
                mislabelled,
                max_part_size: max,
                actions: vec![action],
            }),
            ..Profile::default()
        }
    }

    #[test]
    fn parts_are_judged_by_their_real_type_not_the_declared_one() {
        let c = cfg(filter(&["application/x-executable"], true, 0, Action::Block), &[Interface::Mm1Sent]);
        let renamed = [Part { declared: "text/plain", charset: None, data: PNG }];
        let d = screen(&c, Interface::Mm1Sent, None, &renamed);
        assert_eq!(d.len(), 1);
        assert!(d[0].blocks() && d[0].detail.contains("declared text/plain that is image/png"), "{d:?}");
        let honest = [Part { declared: "image/png", charset: None, data: PNG }];
        assert!(screen(&c, Interface::Mm1Sent, None, &honest).is_empty());
        let program = [Part { declared: "image/jpeg", charset: None, data: ELF.as_slice() }];
        assert_eq!(screen(&c, Interface::Mm1Sent, None, &program)[0].check, "file-filter");
        let text = [Part { declared: "text/plain", charset: None, data: b"hello" }];
        assert!(screen(&c, Interface::Mm1Sent, None, &text).is_empty(), "plain text has no magic");
        // Another interface, another policy: nothing screens it.
        assert!(screen(&c, Interface::Mm4, None, &renamed).is_empty());
    }

    #[test]
    fn kinds_sizes_and_checksums_match() {
        let c = cfg(filter(&["image/*"], false, 0, Action::Log), &[Interface::Mm7]);
        let d = screen(&c, Interface::Mm7, None, &[Part { declared: "image/png", charset: None, data: PNG }]);
        assert_eq!((d.len(), d[0].blocks()), (1, false));
        let c = cfg(filter(&[], false, 4, Action::Block), &[Interface::Mm3]);
        assert!(
            screen(&c, Interface::Mm3, None, &[Part { declared: "text/plain", charset: None, data: b"hello" }])[0]
                .blocks()
        );
        let digest = hex::encode(Sha256::digest(b"known bad"));
        let profile = Profile {
            name: "sums".into(),
            file_filter: None,
            checksums: Some(Checksums { sha256: vec![digest.to_uppercase()], actions: vec![Action::Block] }),
            ..Profile::default()
        };
        let c = cfg(profile, &[Interface::Mm4]);
        let d = screen(&c, Interface::Mm4, None, &[Part { declared: "text/plain", charset: None, data: b"known bad" }]);
        assert_eq!(d[0].check, "checksum");
        assert!(
            screen(&c, Interface::Mm4, None, &[Part { declared: "text/plain", charset: None, data: b"known good" }])
                .is_empty()
        );
    }

    #[test]
    fn banned_words_score_in_the_subject_and_text_parts_in_their_charset() {
        let words = |w: &[(&str, u32)]| w.iter().map(|(w, s)| ScoredWord { word: (*w).into(), score: *s }).collect();
        let profile = Profile {
            name: "words".into(),
            banned_words: Some(BannedWords {
                words: words(&[("gewinnspiel", 5), ("free money", 5), ("prize", 1)]),
                threshold: 10,
                actions: vec![Action::Block],
            }),
            ..Profile::default()
        };
        let c = cfg(profile, &[Interface::Mm1Sent]);
        // "Gewinnspiel" in ISO-8859-1 with an umlaut beside it, and the phrase across a line break.
        let latin1 = b"Gro\xdfes GEWINNSPIEL: free\r\nmoney";
        let part = Part { declared: "text/plain", charset: Some("iso-8859-1"), data: latin1 };
        let d = screen(&c, Interface::Mm1Sent, None, &[part]);
        assert_eq!((d.len(), d[0].check, d[0].detail.as_str()), (1, "banned-words", "banned words scoring 10"));
        // Scores add up across the subject and the parts, whole words only.
        let prizes = Part { declared: "text/plain", charset: None, data: b"prize prizes prize" };
        assert!(screen(&c, Interface::Mm1Sent, Some("Gewinnspiel"), &[prizes]).is_empty(), "5 + 2 < 10");
        let more = Part { declared: "text/plain", charset: None, data: b"free money" };
        assert_eq!(screen(&c, Interface::Mm1Sent, Some("Gewinnspiel!"), &[more]).len(), 1);
        // A picture is not text.
        let picture = Part { declared: "image/png", charset: None, data: b"free money free money" };
        assert!(screen(&c, Interface::Mm1Sent, None, &[picture]).is_empty());
    }
}
