//! A serial port's bytes, read in arbitrary chunks, through the framer and the line parser the
//! port reader uses (clima-core's serial/reader.rs).
//!
//! Input: two control bytes (a seed for the read sizes, and how often the reader's quiet-port
//! flush and baud-change reopen happen), then the port's bytes.
#![no_main]

use clima_fuzz::{check_reading, NOW};
use clima_model::serial::{LineFramer, LineOutcome, SerialParser, MAX_LINE_BYTES};
use clima_model::SensorId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [seed, every, stream @ ..] = data else {
        return;
    };

    let mut whole = LineFramer::new();
    let lines = whole.push(stream);
    check_framing(stream, &lines, whole.overlong());

    // Read sizes of 1 to 64 bytes from a small xorshift, as a port delivers them.
    let mut framer = LineFramer::new();
    let mut chunked = Vec::new();
    let (mut state, mut rest) = (u32::from(*seed) << 8 | 0x9e37, stream);
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let (chunk, tail) = rest.split_at((1 + state as usize % 64).min(rest.len()));
        chunked.extend(framer.push(chunk));
        rest = tail;
    }
    assert_eq!(chunked, lines, "read sizes changed the lines");
    assert_eq!(framer.overlong(), whole.overlong());

    let mut parser = SerialParser::new(SensorId::parse("board").unwrap());
    let mut now = NOW;
    for (i, line) in lines.iter().enumerate() {
        now = NOW + 1000 * i as i64;
        match parser.parse_line(line, now) {
            LineOutcome::Readings(readings) => {
                assert!(
                    (1..=2).contains(&readings.len()),
                    "{line:?} gave {readings:?}"
                );
                for r in &readings {
                    check_reading(r, now);
                }
            }
            LineOutcome::Unparsed(reason) => assert!(!reason.trim().is_empty(), "{line:?}"),
            LineOutcome::Pending | LineOutcome::Ignored => {}
        }
        // The reader flushes a block when the port goes quiet, and starts over on a new baud rate.
        if *every > 0 && i % usize::from(*every) == 0 {
            if every & 1 == 0 {
                if let Some(r) = parser.flush() {
                    check_reading(&r, now);
                }
            } else {
                parser.reopened();
            }
        }
    }
    if let Some(r) = parser.flush() {
        check_reading(&r, now);
    }
    assert!(parser.flush().is_none(), "a flushed block came back");
});

/// Checks the framer's lines against a plain reading of its contract: CR, LF and CRLF end a
/// line; a line over `MAX_LINE_BYTES` bytes is dropped and counted; what is kept is the line's
/// text with control characters other than tab removed, one character at most per byte.
fn check_framing(stream: &[u8], lines: &[String], overlong: u64) {
    let mut raw_lines: Vec<&[u8]> = Vec::new();
    let (mut start, mut dropped, mut i) = (0, 0u64, 0);
    while i < stream.len() {
        let b = stream[i];
        if b == b'\r' || b == b'\n' {
            let raw = &stream[start..i];
            if raw.len() <= MAX_LINE_BYTES {
                raw_lines.push(raw);
            }
            if b == b'\r' && stream.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            start = i + 1;
        }
        i += 1;
        // A line is counted as overlong when its first byte past the cap arrives.
        if i - start == MAX_LINE_BYTES + 1 && !matches!(stream[i - 1], b'\r' | b'\n') {
            dropped += 1;
        }
    }
    assert_eq!(overlong, dropped, "overlong count");
    assert_eq!(lines.len(), raw_lines.len(), "line count");
    for (line, raw) in lines.iter().zip(raw_lines) {
        assert!(
            line.chars().count() <= raw.len() && raw.len() <= MAX_LINE_BYTES,
            "line longer than its {} bytes: {line:?}",
            raw.len()
        );
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "control character kept in {line:?}"
        );
        if raw.iter().all(|b| *b == b'\t' || (b' '..=b'~').contains(b)) {
            assert_eq!(line.as_bytes(), raw, "plain ASCII line altered");
        }
    }
}
