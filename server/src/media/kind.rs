//! What a file is, decided from its bytes against the types Natter shares; never from its name or
//! the type its sender claims.

use app::model::MediaKind;
use app::protocol::Refusal;

/// Bytes read before a file's type is decided: the magic numbers of every allowed type lie within
/// them (tar's at 257, PDF's anywhere in the first 1024).
pub const SNIFF_BYTES: usize = 8 * 1024;

/// Text is served as text, whatever markup it holds: HTML, SVG and scripts never render.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// The types shared, by the MIME type `infer` names them with.
const ALLOWED: &[(&str, MediaKind)] = &[
    ("image/jpeg", MediaKind::Image),
    ("image/png", MediaKind::Image),
    ("image/gif", MediaKind::Image),
    ("image/webp", MediaKind::Image),
    ("application/pdf", MediaKind::File),
    ("application/zip", MediaKind::File),
    ("application/x-tar", MediaKind::File),
    ("application/gzip", MediaKind::File),
    ("application/x-bzip2", MediaKind::File),
    ("application/x-xz", MediaKind::File),
    ("application/zstd", MediaKind::File),
    ("application/x-7z-compressed", MediaKind::File),
    ("application/vnd.rar", MediaKind::File),
    ("audio/mpeg", MediaKind::Audio),
    ("audio/ogg", MediaKind::Audio),
    ("audio/opus", MediaKind::Audio),
    ("audio/x-flac", MediaKind::Audio),
    ("audio/x-wav", MediaKind::Audio),
    ("audio/m4a", MediaKind::Audio),
    ("audio/aac", MediaKind::Audio),
    ("video/mp4", MediaKind::Video),
    ("video/webm", MediaKind::Video),
    ("video/quicktime", MediaKind::Video),
    ("video/x-matroska", MediaKind::Video),
];

/// A file's type as decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detected {
    pub kind: MediaKind,
    pub mime: &'static str,
}

impl Detected {
    /// Text still has to read as text to its end ([`TextCheck`]).
    pub fn is_text(self) -> bool {
        self.mime == TEXT
    }
}

/// What a file whose first bytes are `head` (its first [`SNIFF_BYTES`], or all of a shorter one)
/// is: an allowed type by its magic number, else text, if it goes on to read as text.
pub fn detect(head: &[u8]) -> Result<Detected, Refusal> {
    let Some(found) = infer::get(head) else {
        return Ok(Detected {
            kind: MediaKind::File,
            mime: TEXT,
        });
    };
    if let Some((mime, kind)) = ALLOWED.iter().find(|(mime, _)| *mime == found.mime_type()) {
        return Ok(Detected { kind: *kind, mime });
    }
    // Markup `infer` recognises (HTML, XML, shell scripts) is shared as the text it is.
    if found.matcher_type() == infer::MatcherType::Text {
        return Ok(Detected {
            kind: MediaKind::File,
            mime: TEXT,
        });
    }
    Err(Refusal::FileTypeNotAllowed)
}

/// Checks, chunk by chunk, that a file is text: UTF-8 with no control characters but tabs, line
/// breaks and form feeds.
#[derive(Debug, Default)]
pub struct TextCheck {
    /// The start of a character cut at the end of the last chunk.
    carry: Vec<u8>,
}

impl TextCheck {
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Refusal> {
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(chunk);
        let whole = match std::str::from_utf8(&bytes) {
            Ok(_) => bytes.len(),
            Err(cut) if cut.error_len().is_none() => cut.valid_up_to(),
            Err(_) => return Err(Refusal::FileTypeNotAllowed),
        };
        let text = std::str::from_utf8(&bytes[..whole]).map_err(|_| Refusal::FileTypeNotAllowed)?;
        let allowed = |c: char| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c');
        if !text.chars().all(allowed) {
            return Err(Refusal::FileTypeNotAllowed);
        }
        self.carry = bytes[whole..].to_vec();
        Ok(())
    }

    /// The file ended: a character it left unfinished makes it no text.
    pub fn finish(self) -> Result<(), Refusal> {
        if self.carry.is_empty() {
            Ok(())
        } else {
            Err(Refusal::FileTypeNotAllowed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(chunks: &[&[u8]]) -> Result<(), Refusal> {
        let mut check = TextCheck::default();
        for chunk in chunks {
            check.feed(chunk)?;
        }
        check.finish()
    }

    #[test]
    fn types_come_from_the_bytes() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(detect(png).unwrap().mime, "image/png");
        assert_eq!(detect(b"%PDF-1.7\n").unwrap().kind, MediaKind::File);
        // Markup and text with any name or claimed type are text, served as such.
        for markup in [
            &b"<!DOCTYPE html><html><script>alert(1)</script>"[..],
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            b"<?xml version=\"1.0\"?><svg/>",
            b"just words, claiming to be a JPEG",
        ] {
            assert!(detect(markup).unwrap().is_text(), "{markup:?}");
        }
        // An executable is no type Natter shares.
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(64, 0);
        assert_eq!(detect(&elf), Err(Refusal::FileTypeNotAllowed));
    }

    #[test]
    fn text_is_utf8_without_control_characters_even_across_chunks() {
        let word = "naïve ☕".as_bytes();
        let (start, end) = word.split_at(3); // inside "ï"
        assert_eq!(text(&[start, end]), Ok(()));
        assert_eq!(text(&[b"tabs\tand\r\nlines\x0c"]), Ok(()));
        assert_eq!(text(&[start]), Err(Refusal::FileTypeNotAllowed), "cut off");
        assert_eq!(text(&[b"a\0b"]), Err(Refusal::FileTypeNotAllowed));
        assert_eq!(text(&[b"bell\x07"]), Err(Refusal::FileTypeNotAllowed));
        assert_eq!(text(&[b"\xff\xfe"]), Err(Refusal::FileTypeNotAllowed));
    }
}
