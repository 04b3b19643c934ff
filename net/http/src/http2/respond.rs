//! A response on an HTTP/2 stream: the head as a HEADERS frame (without
//! HTTP/1.1's connection-specific fields), then the body as DATA frames
//! sent as the client's flow-control window opens, so a client that stops
//! reading holds back only its own stream, and only for
//! `server.timeouts.request`.

use std::future::poll_fn;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use h2::server::SendResponse;
use h2::{Reason, SendStream};
use http::{HeaderName, HeaderValue};

use crate::http1::response::{Response, ResponseBody};
use crate::http1::{date, status};

/// File bytes read per DATA batch.
const FILE_CHUNK: usize = 64 * 1024;

/// Sends `resp` on `send`; `extra` holds header lines every response on
/// this connection carries (HSTS). Returns the body bytes sent.
pub async fn send(
    send: &mut SendResponse<Bytes>,
    resp: Response,
    head_only: bool,
    extra: &[u8],
    limit: Duration,
) -> io::Result<u64> {
    let forbids_body = status::forbids_body(resp.status);
    let mut head = http::Response::new(());
    *head.status_mut() = http::StatusCode::from_u16(resp.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let fields = head.headers_mut();
    fields.insert(http::header::SERVER, HeaderValue::from_static("ephpm"));
    if let Ok(v) = HeaderValue::from_maybe_shared(date::now()) {
        fields.insert(http::header::DATE, v);
    }
    for (name, value) in &resp.headers {
        add_field(fields, name.as_bytes(), value.clone());
    }
    for line in resp.raw_headers.split(|b| *b == b'\n').chain(extra.split(|b| *b == b'\n')) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            let value = line[colon + 1..].trim_ascii();
            add_field(fields, &line[..colon], Bytes::copy_from_slice(value));
        }
    }
    if let (false, Some(n)) = (forbids_body, resp.body.len()) {
        fields.insert(http::header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    let end = head_only || forbids_body || resp.body.is_empty();
    let mut stream = send.send_response(head, end).map_err(h2_error)?;
    if end {
        return Ok(0);
    }
    match resp.body {
        ResponseBody::Bytes(b) => {
            let n = b.len() as u64;
            send_data(&mut stream, b, true, limit).await?;
            Ok(n)
        }
        ResponseBody::File { file, offset, len } => {
            let mut done = 0u64;
            while done < len {
                let want = ((len - done) as usize).min(FILE_CHUNK);
                let mut buf = vec![0u8; want];
                // As in HTTP/1.1: page-cache reads, a cold one blocks briefly.
                let n = file.read_at(&mut buf, offset + done)?;
                if n == 0 {
                    stream.send_reset(Reason::INTERNAL_ERROR);
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent"));
                }
                buf.truncate(n);
                done += n as u64;
                send_data(&mut stream, Bytes::from(buf), done == len, limit).await?;
            }
            Ok(done)
        }
        ResponseBody::Stream(mut s) => {
            let mut n = 0u64;
            while let Some(chunk) = s.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        stream.send_reset(Reason::INTERNAL_ERROR);
                        return Err(e);
                    }
                };
                n += chunk.len() as u64;
                send_data(&mut stream, chunk, false, limit).await?;
            }
            stream.send_data(Bytes::new(), true).map_err(h2_error)?;
            Ok(n)
        }
        ResponseBody::Empty | ResponseBody::HeadOnly(_) => Ok(0),
    }
}

/// Adds one field, leaving out what HTTP/2 forbids (connection-specific
/// fields) and what the stream writes itself.
fn add_field(fields: &mut http::HeaderMap, name: &[u8], value: Bytes) {
    let Ok(name) = HeaderName::from_bytes(name) else { return };
    let skip = [
        http::header::CONNECTION,
        http::header::TRANSFER_ENCODING,
        http::header::UPGRADE,
        http::header::CONTENT_LENGTH,
        http::header::SERVER,
        http::header::DATE,
    ];
    if skip.contains(&name) || name.as_str() == "keep-alive" || name.as_str() == "proxy-connection" {
        return;
    }
    if let Ok(v) = HeaderValue::from_maybe_shared(value) {
        fields.append(name, v);
    }
}

/// Sends `data` as the window allows; a window that stays shut for
/// `limit` resets the stream.
async fn send_data(stream: &mut SendStream<Bytes>, mut data: Bytes, end: bool, limit: Duration) -> io::Result<()> {
    if data.is_empty() {
        return if end { stream.send_data(data, true).map_err(h2_error) } else { Ok(()) };
    }
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let granted = match monoio::time::timeout(limit, poll_fn(|cx| stream.poll_capacity(cx))).await {
            Ok(Some(Ok(n))) => n,
            Ok(Some(Err(e))) => return Err(h2_error(e)),
            Ok(None) => return Err(io::Error::new(io::ErrorKind::BrokenPipe, "stream closed")),
            Err(_) => {
                stream.send_reset(Reason::CANCEL);
                return Err(io::Error::new(io::ErrorKind::TimedOut, "the client's window stayed shut"));
            }
        };
        if granted == 0 {
            continue;
        }
        let piece = data.split_to(granted.min(data.len()));
        stream.send_data(piece, end && data.is_empty()).map_err(h2_error)?;
    }
    Ok(())
}

fn h2_error(e: h2::Error) -> io::Error {
    io::Error::other(e)
}
