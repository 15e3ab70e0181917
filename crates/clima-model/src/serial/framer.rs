//! Cuts the bytes a serial port delivers into text lines, whatever the line ending and however
//! the reads happen to split them.

/// Longest line kept, in bytes. Real boards print far shorter lines; anything longer is noise
/// (often a wrong baud rate) and would otherwise grow the buffer without bound.
pub const MAX_LINE_BYTES: usize = 4096;

/// Turns a port's byte stream into lines, one framer per port.
///
/// CR, LF and CRLF all end a line, also when the CR and the LF arrive in different reads, so
/// every board's `println` gives exactly one line. Blank lines are kept: some sketches end a
/// block of values with one. Lines are never fatal: invalid UTF-8 becomes U+FFFD (which
/// [`garbage_score`](super::garbage_score) counts), and control characters other than tab,
/// including NUL and ANSI colour codes, are dropped.
#[derive(Debug, Default)]
pub struct LineFramer {
    line: Vec<u8>,
    /// The last byte seen was a CR, so a LF now completes the same line ending.
    after_cr: bool,
    /// The current line grew past [`MAX_LINE_BYTES`]; its rest is skipped up to the next end.
    discarding: bool,
    overlong: u64,
}

impl LineFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes read from the port and returns the lines they complete, in order.
    /// A partial line waits for the bytes that end it.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            match b {
                // The LF of a CRLF, possibly in the read after its CR.
                b'\n' if after_cr => {}
                b'\r' | b'\n' => {
                    if !std::mem::take(&mut self.discarding) {
                        lines.push(clean(&self.line));
                    }
                    self.line.clear();
                }
                _ if self.discarding => {}
                _ if self.line.len() == MAX_LINE_BYTES => {
                    self.line.clear();
                    self.discarding = true;
                    self.overlong += 1;
                }
                _ => self.line.push(b),
            }
        }
        lines
    }

    /// How many lines were dropped for being longer than [`MAX_LINE_BYTES`]; a growing count
    /// points at a wrong baud rate or a board that never ends its lines.
    pub fn overlong(&self) -> u64 {
        self.overlong
    }

    /// Forgets the partial line of the previous connection when the port is opened again, so
    /// its bytes are not glued to the new connection's first line. The counter is kept.
    pub fn reopened(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.discarding = false;
    }
}

/// Decodes one line leniently and drops control characters other than tab.
fn clean(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            // An ANSI escape such as the colour codes of ESP-IDF logs: `ESC [ params final`.
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(chunks: &[&[u8]], expected: &[&str], overlong: u64) {
        let mut framer = LineFramer::new();
        let got: Vec<String> = chunks.iter().flat_map(|c| framer.push(c)).collect();
        assert_eq!(got, expected, "{chunks:?}");
        assert_eq!(framer.overlong(), overlong, "{chunks:?}");
    }

    #[test]
    fn endings_and_cleaning() {
        check(&[b"a\nb\n"], &["a", "b"], 0);
        check(&[b"a\r\nb\r\n"], &["a", "b"], 0);
        check(&[b"a\rb\r"], &["a", "b"], 0);
        check(&[b"a\r", b"\nb\n"], &["a", "b"], 0);
        check(&[b"a\r", b"\n", b"\r", b"\n"], &["a", ""], 0);
        check(&[b"a\r\n\r\nb\n"], &["a", "", "b"], 0);
        check(&[b"\n\n"], &["", ""], 0);
        // LF CR is two endings: no board's println sends it, and a blank line is harmless.
        check(&[b"a\n\rb\n"], &["a", "", "b"], 0);
        check(&[b"a\r\r\n"], &["a", ""], 0);
        check(&[b"abc", b"def\n", b"gh"], &["abcdef"], 0);
        check(&[b"no end"], &[], 0);
        check(&[b"t\xffx\n"], &["t\u{fffd}x"], 0);
        check(&[b"23.4 \xc2", b"\xb0C\n"], &["23.4 °C"], 0);
        check(&[b"\0\x01te\tmp\x7f\x08\n"], &["te\tmp"], 0);
        check(&[b"\xc2\x85x\n"], &["x"], 0);
        check(
            &[b"\x1b[0;32mI (29) boot: ok\x1b[0m\n"],
            &["I (29) boot: ok"],
            0,
        );
    }

    #[test]
    fn overlong_lines_are_dropped_and_counted() {
        let max = vec![b'x'; MAX_LINE_BYTES];
        let over = vec![b'x'; MAX_LINE_BYTES + 1];
        let max_text = "x".repeat(MAX_LINE_BYTES);
        check(&[&max, b"\n"], &[&max_text], 0);
        check(&[&over, b"\nok\n"], &["ok"], 1);
        check(&[&over, b"more", b"\r", b"\nok\r\n"], &["ok"], 1);
        check(&[&max, b"y", b"\r\n", &over, b"\n", b"ok\n"], &["ok"], 2);
        check(&[b"a\n", &over, &over, b"\nb\n"], &["a", "b"], 1);
    }

    /// Every way three reads, or one read a byte, can split `stream` gives the lines of one read.
    fn check_splits(stream: &[u8], expected: &[&str]) {
        let whole = LineFramer::new().push(stream);
        assert_eq!(whole, expected);
        for i in 0..=stream.len() {
            for j in i..=stream.len() {
                let mut framer = LineFramer::new();
                let mut got = framer.push(&stream[..i]);
                got.extend(framer.push(&stream[i..j]));
                got.extend(framer.push(&stream[j..]));
                assert_eq!(got, whole, "split at {i} and {j}");
            }
        }
        let mut framer = LineFramer::new();
        let bytewise: Vec<String> = stream.iter().flat_map(|b| framer.push(&[*b])).collect();
        assert_eq!(bytewise, whole);
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        check_splits(
            b"temperature:22.5\r\nhumidity:41\r\rnext\n\n23.4 \xc2\xb0C\r\n\x00bad\xff\r\nend\r",
            &[
                "temperature:22.5",
                "humidity:41",
                "",
                "next",
                "",
                "23.4 °C",
                "bad\u{fffd}",
                "end",
            ],
        );
        check_splits(
            include_bytes!("../../tests/data/serial/esp32-boot-noise.txt"),
            &[
                "\u{fffd}\u{fffd}ets Jul 29 2019 12:21:46",
                "",
                "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
                "ature:22.0,humidity:40.0",
                "temperature:22.1,humidity:40.1",
                "temperature:22.2,humidity:40.2",
            ],
        );
    }

    #[test]
    fn reopening_drops_the_partial_line() {
        let mut framer = LineFramer::new();
        assert!(framer.push(b"temperat").is_empty());
        framer.reopened();
        assert_eq!(framer.push(b"humidity:40\n"), ["humidity:40"]);
        assert!(framer.push(b"x\r").len() == 1);
        framer.reopened();
        assert_eq!(framer.push(b"\ny\n"), ["", "y"]);
    }
}
