//! HTTP replies: JSON bodies, the `{"error", "message"}` shape of every error, and writing the
//! response bytes ourselves so that `Connection: close` can be sent when wanted.

use std::io::Write;

use serde::Serialize;

/// A response ready to be written.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
    /// Ask the client to close the connection after this response.
    pub close: bool,
}

impl Reply {
    pub fn json(status: u16, value: &impl Serialize) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()),
            headers: Vec::new(),
            close: false,
        }
    }

    /// An error reply: `code` is for programs, `message` says what was wrong and what to do.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
        Reply::json(
            status,
            &serde_json::json!({ "error": code, "message": message.into() }),
        )
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            content_type: "text/plain",
            body: Vec::new(),
            headers: Vec::new(),
            close: false,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Reply {
        self.body = body;
        self
    }

    pub fn closing(mut self) -> Reply {
        self.close = true;
        self
    }

    /// Serialises the status line, headers and (unless `head_only`) the body.
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + self.body.len());
        let _ = write!(out, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        if self.status != 204 {
            let _ = write!(
                out,
                "Content-Type: {}\r\nContent-Length: {}\r\n",
                self.content_type,
                self.body.len()
            );
        }
        out.extend_from_slice(b"X-Content-Type-Options: nosniff\r\n");
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        if self.close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only && self.status != 204 {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// Writes a body of unknown length with HTTP/1.1 chunked encoding. tiny_http keeps the
/// connection open after a raw reply, so a body cannot be ended by closing it.
pub struct Chunked<W: Write> {
    inner: W,
}

impl<W: Write> Chunked<W> {
    pub fn new(inner: W) -> Self {
        Chunked { inner }
    }

    /// Writes the last, empty chunk.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.inner.write_all(b"0\r\n\r\n")?;
        self.inner.flush()
    }
}

impl<W: Write> Write for Chunked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !buf.is_empty() {
            write!(self.inner, "{:x}\r\n", buf.len())?;
            self.inner.write_all(buf)?;
            self.inner.write_all(b"\r\n")?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        207 => "Multi-Status",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format() {
        let r = Reply::error(429, "rate_limited", "slow down")
            .with_header("Retry-After", "3")
            .closing();
        let text = String::from_utf8(r.to_bytes(false)).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
            "{text}"
        );
        assert!(text.contains("Retry-After: 3\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "rate_limited");
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())));
        let head = String::from_utf8(Reply::json(200, &1).to_bytes(true)).unwrap();
        assert!(head.ends_with("\r\n\r\n") && head.contains("Content-Length: 1\r\n"));
        let nc = String::from_utf8(Reply::empty(204).to_bytes(false)).unwrap();
        assert!(!nc.contains("Content-Length"));
    }

    #[test]
    fn chunked_bodies() {
        let mut out = Vec::new();
        let mut c = Chunked::new(&mut out);
        c.write_all(b"hello, ").unwrap();
        c.write_all(b"").unwrap();
        c.write_all(&[b'x'; 20]).unwrap();
        c.finish().unwrap();
        assert_eq!(
            out,
            [
                &b"7\r\nhello, \r\n14\r\n"[..],
                &[b'x'; 20],
                b"\r\n0\r\n\r\n"
            ]
            .concat()
        );
    }
}
