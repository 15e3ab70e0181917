//! A minimal HTTP/1.1 client on one kept-alive `TcpStream`: requests written by hand, replies
//! read by status line and `Content-Length` (or chunks), reconnecting when the server says close.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Largest reply head accepted; a bigger one means we are not talking to an HTTP server.
const MAX_HEAD: usize = 64 * 1024;
/// Largest reply body kept; ingest replies are tiny.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A reply as far as the benchmark cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The server will close the connection after this reply.
    pub close: bool,
    pub body: Vec<u8>,
}

/// What the head of a reply says about the body that follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub close: bool,
    pub body: BodyLength,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    None,
    Exact(usize),
    Chunked,
    UntilClose,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Parses a status line and header lines (without their CRLF) into what the body reading needs.
pub fn parse_head(status_line: &str, headers: &[String]) -> io::Result<Head> {
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(invalid(format!("bad status line {status_line:?}"))),
    };
    let (mut length, mut chunked, mut close, mut keep_alive) = (None, false, false, false);
    for line in headers {
        let Some((name, value)) = line.split_once(':') else {
            return Err(invalid(format!("bad header line {line:?}")));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| invalid(format!("bad Content-Length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        }
    }
    let body = if (100..200).contains(&status) || status == 204 || status == 304 {
        BodyLength::None
    } else if chunked {
        BodyLength::Chunked
    } else if let Some(n) = length {
        BodyLength::Exact(n)
    } else {
        BodyLength::UntilClose
    };
    let close = close || (http10 && !keep_alive) || body == BodyLength::UntilClose;
    Ok(Head {
        status,
        close,
        body,
    })
}

/// Reads one line ending in LF and returns it without CR LF; `Ok(None)` at end of stream.
fn read_line<R: BufRead>(r: &mut R, budget: &mut usize) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r
        .by_ref()
        .take(*budget as u64)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(if n >= *budget {
            invalid("reply head is too large")
        } else {
            io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-line")
        });
    }
    *budget -= n;
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| invalid("reply head is not UTF-8"))
}

/// Reads a status line and headers. `UnexpectedEof` if the server closed before any byte.
pub fn read_head<R: BufRead>(r: &mut R) -> io::Result<Head> {
    let mut budget = MAX_HEAD;
    let status_line = read_line(r, &mut budget)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "server closed the connection before replying",
        )
    })?;
    let mut headers = Vec::new();
    loop {
        match read_line(r, &mut budget)? {
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside the reply head",
                ))
            }
            Some(l) if l.is_empty() => break,
            Some(l) => headers.push(l),
        }
    }
    parse_head(&status_line, &headers)
}

/// Reads one whole reply.
pub fn read_response<R: BufRead>(r: &mut R) -> io::Result<Response> {
    let head = read_head(r)?;
    let body = match head.body {
        BodyLength::None => Vec::new(),
        BodyLength::Exact(n) if n > MAX_BODY => return Err(invalid("reply body is too large")),
        BodyLength::Exact(n) => {
            let mut body = vec![0; n];
            r.read_exact(&mut body)?;
            body
        }
        BodyLength::Chunked => read_chunked(r)?,
        BodyLength::UntilClose => {
            let mut body = Vec::new();
            r.take(MAX_BODY as u64).read_to_end(&mut body)?;
            body
        }
    };
    Ok(Response {
        status: head.status,
        close: head.close,
        body,
    })
}

fn read_chunked<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_HEAD;
        let line = read_line(r, &mut budget)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "closed inside chunks"))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, then the blank line.
            while let Some(l) = read_line(r, &mut budget)? {
                if l.is_empty() {
                    break;
                }
            }
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid("reply body is too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        r.read_exact(&mut crlf)?;
    }
}

/// Builds a request with a body. `extra` holds whole header lines, each ending in CRLF.
pub fn request(
    method: &str,
    path: &str,
    host: &str,
    content_type: &str,
    extra: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + extra.len() + body.len());
    let _ = write!(
        out,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: clima-bench\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    );
    out.extend_from_slice(body);
    out
}

/// One persistent connection, replaced when the server asks to close or an error breaks it.
pub struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    /// Connections opened after the first.
    pub reconnects: u64,
    opened: u64,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            conn: None,
            reconnects: 0,
            opened: 0,
        }
    }

    /// Opens the connection now (if it is not open), so connecting can be timed on its own.
    pub fn connect(&mut self, timeout: Duration) -> io::Result<()> {
        if self.conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, timeout)?;
            stream.set_nodelay(true)?;
            self.opened += 1;
            if self.opened > 1 {
                self.reconnects += 1;
            }
            self.conn = Some(BufReader::with_capacity(16 * 1024, stream));
        }
        Ok(())
    }

    /// Sends a whole request and reads its reply, waiting at most `timeout` for each read.
    /// Any error drops the connection; the next call opens a new one.
    pub fn call(&mut self, request: &[u8], timeout: Duration) -> io::Result<Response> {
        self.connect(timeout)?;
        let result = self.exchange(request, timeout);
        match &result {
            Ok(resp) if !resp.close => {}
            _ => self.conn = None,
        }
        result
    }

    fn exchange(&mut self, request: &[u8], timeout: Duration) -> io::Result<Response> {
        let conn = self.conn.as_mut().expect("connected above");
        let stream = conn.get_mut();
        stream.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        stream.set_write_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        stream.write_all(request)?;
        read_response(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: Result<(u16, bool, &str), &str>) {
        let mut r = io::Cursor::new(raw.as_bytes().to_vec());
        match (read_response(&mut r), expected) {
            (Ok(resp), Ok((status, close, body))) => {
                assert_eq!(resp.status, status, "{raw:?}");
                assert_eq!(resp.close, close, "{raw:?}");
                assert_eq!(String::from_utf8_lossy(&resp.body), body, "{raw:?}");
            }
            (Err(e), Err(fragment)) => assert!(e.to_string().contains(fragment), "{raw:?}: {e}"),
            (got, _) => panic!("{raw:?}: unexpected {got:?}"),
        }
    }

    #[test]
    fn replies() {
        check(
            "HTTP/1.1 201 Created\r\nContent-Length: 14\r\n\r\n{\"accepted\":1}",
            Ok((201, false, "{\"accepted\":1}")),
        );
        // Clima's 204 carries no Content-Length; the next reply must still parse.
        check(
            "HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\nHTTP/1.1",
            Ok((204, false, "")),
        );
        check(
            "HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 2\r\n\r\nok",
            Ok((200, true, "ok")),
        );
        check(
            "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            Ok((400, false, "abcde")),
        );
        check(
            "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
            Ok((200, true, "")),
        );
        check(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            Ok((200, false, "")),
        );
        check(
            "HTTP/1.1 200 OK\r\n\r\nrest of stream",
            Ok((200, true, "rest of stream")),
        );
        check("", Err("before replying"));
        check(
            "HTTP/1.1 201 Created\r\nContent-Length: 9\r\n",
            Err("inside the reply head"),
        );
        check("SSH-2.0-OpenSSH\r\n\r\n", Err("bad status line"));
        check(
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            Err("bad Content-Length"),
        );
        check(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
            Err("fill whole buffer"),
        );
    }

    #[test]
    fn two_replies_on_one_stream() {
        let raw =
            "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}";
        let mut r = io::Cursor::new(raw.as_bytes().to_vec());
        assert_eq!(read_response(&mut r).unwrap().status, 204);
        assert_eq!(read_response(&mut r).unwrap().body, b"{}");
    }

    #[test]
    fn request_bytes() {
        let req = request(
            "POST",
            "/write?precision=ms",
            "127.0.0.1:1",
            "text/plain",
            "Authorization: Bearer t\r\n",
            b"a b",
        );
        let text = String::from_utf8(req).unwrap();
        assert!(text.starts_with("POST /write?precision=ms HTTP/1.1\r\nHost: 127.0.0.1:1\r\n"));
        assert!(text.contains("Content-Length: 3\r\nAuthorization: Bearer t\r\n\r\na b"));
    }
}
