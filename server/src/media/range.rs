//! A download's `Range` header: one range of bytes, so audio and video can seek. Several ranges
//! at once are answered with the whole file, as HTTP allows.

use std::ops::Range;

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Asked {
    /// No range, or none this server answers with a part: the whole file.
    Whole,
    /// These bytes, the end excluded.
    Part(Range<u64>),
    /// A range that starts past the end: `416`.
    Unsatisfiable,
}

pub fn asked(header: Option<&str>, size: u64) -> Asked {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Asked::Whole;
    };
    if spec.contains(',') {
        return Asked::Whole;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Asked::Whole;
    };
    let number = |text: &str| text.trim().parse::<u64>().ok();
    match (start.trim().is_empty(), number(start), number(end)) {
        // The last `n` bytes (all of them, if the file is shorter).
        (true, _, Some(suffix)) if suffix > 0 && size > 0 => {
            Asked::Part(size.saturating_sub(suffix)..size)
        }
        (true, _, _) => Asked::Unsatisfiable,
        (false, Some(start), _) if start >= size => Asked::Unsatisfiable,
        (false, Some(start), None) if end.trim().is_empty() => Asked::Part(start..size),
        (false, Some(start), Some(last)) if last >= start => {
            Asked::Part(start..last.saturating_add(1).min(size))
        }
        _ => Asked::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_range_is_a_part_of_the_file() {
        assert_eq!(asked(None, 10), Asked::Whole);
        assert_eq!(asked(Some("bytes=2-4"), 10), Asked::Part(2..5));
        assert_eq!(asked(Some("bytes=6-"), 10), Asked::Part(6..10));
        assert_eq!(asked(Some("bytes=8-99"), 10), Asked::Part(8..10));
        assert_eq!(asked(Some("bytes=-3"), 10), Asked::Part(7..10));
        assert_eq!(asked(Some("bytes=-30"), 10), Asked::Part(0..10));
        assert_eq!(asked(Some("bytes=10-"), 10), Asked::Unsatisfiable);
        assert_eq!(asked(Some("bytes=-0"), 10), Asked::Unsatisfiable);
        // What this server does not answer in part is answered whole.
        assert_eq!(asked(Some("bytes=0-1,4-5"), 10), Asked::Whole);
        assert_eq!(asked(Some("bytes=5-2"), 10), Asked::Whole);
        assert_eq!(asked(Some("lines=1-2"), 10), Asked::Whole);
        assert_eq!(asked(Some("bytes=x-2"), 10), Asked::Whole);
    }
}
