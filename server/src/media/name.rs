//! The name a file was uploaded with, made safe to show and to offer as a download's name. It is
//! never part of a storage key.

use app::model::limits::MEDIA_NAME_MAX_CHARS;

/// `given` without any path (of either kind of slash), control characters or characters that turn
/// the direction of text (which can make "gpj.exe" read as "exe.jpg"), and at most
/// `MEDIA_NAME_MAX_CHARS` long; "file" when nothing is left.
pub fn display_name(given: Option<&str>) -> String {
    let base = given
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let kept: String = base
        .chars()
        .filter(|c| !c.is_control() && !turns_direction(*c))
        .take(MEDIA_NAME_MAX_CHARS)
        .collect();
    match kept.trim() {
        "" | "." | ".." => "file".into(),
        name => name.into(),
    }
}

fn turns_direction(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `Content-Disposition` for a download named `name`: an ASCII fallback for old clients, and the
/// name itself encoded (RFC 6266, RFC 8187).
pub fn disposition(inline: bool, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    let how = if inline { "inline" } else { "attachment" };
    format!("{how}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_controls_and_direction_marks() {
        assert_eq!(display_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(display_name(Some("C:\\Users\\me\\photo.jpg")), "photo.jpg");
        assert_eq!(display_name(Some("bad\nname\u{0}.txt")), "badname.txt");
        assert_eq!(display_name(Some("photo\u{202E}gpj.exe")), "photogpj.exe");
        assert_eq!(display_name(Some("..")), "file");
        assert_eq!(display_name(None), "file");
        let long = "é".repeat(500);
        assert_eq!(
            display_name(Some(&long)).chars().count(),
            MEDIA_NAME_MAX_CHARS
        );
    }

    #[test]
    fn download_names_are_quoted_and_encoded() {
        assert_eq!(
            disposition(false, "Été \"1\".pdf"),
            "attachment; filename=\"_t_ _1_.pdf\"; filename*=UTF-8''%C3%89t%C3%A9%20%221%22.pdf"
        );
        assert!(disposition(true, "a.png").starts_with("inline; "));
    }
}
