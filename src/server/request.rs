//! Request heads parsed with `httparse` into owned values, and the small raw answers the
//! acceptor sends itself (errors before a request reaches a worker).

use super::method::Method;

/// Headers beyond this many are refused (431), like an oversized head.
const MAX_HEADERS: usize = 64;

/// A parsed request line and headers.
#[derive(Debug)]
pub struct Head {
    pub method: Method,
    /// Path and query as sent (UTF-8 checked).
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// Declared body length (0 without a Content-Length).
    pub content_length: u64,
    /// The connection stays open after the answer.
    pub keep_alive: bool,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    pub fn is_upgrade(&self) -> bool {
        self.header("Upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
    }
}

/// Why a head cannot be served; each maps to one status.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// 400 with this message.
    Bad(&'static str),
    /// 431: too many headers.
    TooManyHeaders,
    /// 501: a transfer coding we do not read.
    NotImplemented(&'static str),
}

impl HeadError {
    pub fn status(&self) -> u16 {
        match self {
            HeadError::Bad(_) => 400,
            HeadError::TooManyHeaders => 431,
            HeadError::NotImplemented(_) => 501,
        }
    }
    pub fn message(&self) -> &'static str {
        match self {
            HeadError::Bad(m) | HeadError::NotImplemented(m) => m,
            HeadError::TooManyHeaders => "Too many request headers",
        }
    }
}

/// Parse the head at the start of `buf`: Ok(None) while incomplete, else the head and its
/// length in bytes. Bare-LF line ends are accepted (httparse allows them).
pub fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(httparse::Error::Token) => {
            return Err(HeadError::Bad(
                "Malformed request line (or a non-UTF-8 path)",
            ))
        }
        Err(httparse::Error::Version) => return Err(HeadError::Bad("Unsupported HTTP version")),
        Err(_) => return Err(HeadError::Bad("Malformed request")),
    };
    let method = Method::parse(req.method.unwrap_or_default());
    let target = req.path.unwrap_or("/").to_string();
    let minor = req.version.unwrap_or(1);
    let mut out = Vec::with_capacity(req.headers.len());
    let mut content_length: Option<u64> = None;
    let mut keep_alive = minor >= 1;
    for h in req.headers.iter() {
        let Ok(value) = std::str::from_utf8(h.value) else {
            return Err(HeadError::Bad("A header value is not UTF-8"));
        };
        let value = value.trim();
        if h.name.eq_ignore_ascii_case("Content-Length") {
            let n = value
                .parse::<u64>()
                .map_err(|_| HeadError::Bad("Invalid Content-Length"))?;
            if content_length.is_some_and(|c| c != n) {
                return Err(HeadError::Bad("Conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("Transfer-Encoding") {
            return Err(HeadError::NotImplemented(
                "Transfer-Encoding is not supported; send a Content-Length",
            ));
        } else if h.name.eq_ignore_ascii_case("Connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        }
        out.push((h.name.to_string(), value.to_string()));
    }
    Ok(Some((
        Head {
            method,
            target,
            headers: out,
            content_length: content_length.unwrap_or(0),
            keep_alive,
        },
        len,
    )))
}

/// The reason phrase of the statuses we send.
pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A whole response: status line, our headers, `extra` header lines, the body.
pub fn response(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    keep_alive: bool,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    use std::fmt::Write;
    let mut head = String::with_capacity(160);
    let _ = write!(
        head,
        "HTTP/1.1 {status} {}\r\nLavalink-Api-Version: 4\r\nContent-Length: {}\r\n",
        reason(status),
        body.len()
    );
    if let Some(ct) = content_type {
        let _ = write!(head, "Content-Type: {ct}\r\n");
    }
    for (k, v) in extra {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// An error in Lavalink's JSON shape, closing the connection.
pub fn error_response(status: u16, message: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let body = serde_json::json!({
        "timestamp": super::now_ms(),
        "status": status,
        "error": reason(status),
        "message": message,
        "path": path,
    })
    .to_string();
    response(
        status,
        Some("application/json"),
        body.as_bytes(),
        false,
        extra,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let (h, n) = parse(b"GET /v4/info?x=1 HTTP/1.1\r\nHost: a\r\n\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!((h.path(), n, h.keep_alive), ("/v4/info", 38, true));
        assert!(parse(b"GET /v4/info HTTP/1.1\r\nHost").unwrap().is_none());
        let (h, _) = parse(b"GET / HTTP/1.1\nHost: a\n\n").unwrap().unwrap();
        assert_eq!(h.target, "/");
        let (h, _) = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .unwrap_err()
                .status(),
            400
        );
        let (h, _) = parse(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.content_length, 2);
        assert_eq!(
            parse(b"GET /\xff\xfe HTTP/1.1\r\n\r\n")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap_err()
                .status(),
            501
        );
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")
                .unwrap_err()
                .status(),
            400
        );
    }
}
