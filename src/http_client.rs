//! How every outgoing HTTP client is built, and how every answer from outside
//! is read. `startup` builds one client per actix worker, shared by that
//! worker's sign-in flow and API clients, so connections are pooled and reused
//! on the thread that uses them (`app::AppState::for_worker` says why).
//!
//! It never follows redirects: a token endpoint that redirects could otherwise
//! send our code, verifier or client secret somewhere else (RFC 6749 §10.3 and
//! §10.5 ask to keep them confidential),
//! and an API that redirects is misconfigured. Every request has a timeout, so a
//! slow provider cannot hold a worker forever.
//!
//! Every body is read with [`read_capped`], never `bytes()`/`json()`/`text()`:
//! a hostile or broken provider could otherwise make one request hold gigabytes
//! in memory until the timeout. The caps below are per answer and far above
//! anything the providers document; over a cap the answer is dropped unread
//! and the caller reports "the provider's answer was too large" (502).

use std::time::Duration;

/// Time allowed to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Token responses, discovery documents, JWKS, userinfo and every API JSON
/// answer (a page of mail list, a profile). Real ones are a few KiB.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;
/// An error answer's body: we read only its error code and description.
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// One mail message with its body (Graph's `message`, Gmail's `format=full`,
/// which inlines small parts as base64; attachments are fetched separately
/// and never by us). Gmail caps inline part data well below this.
pub const MAX_MAIL_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The body is (or says it is) larger than the cap; nothing was kept.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The connection failed or timed out while reading.
    #[error("reading the answer failed: {0}")]
    Http(#[from] reqwest::Error),
}

/// The client, with `timeout` for each whole request (HTTP_TIMEOUT).
pub fn build(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .user_agent(concat!("signin-reference/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The whole body of `response`, at most `limit` bytes. A `Content-Length`
/// above the cap is refused before anything is read (the fast path); without
/// one (chunked) or when it lies, the body is read chunk by chunk and
/// dropped as soon as it passes the cap, so memory stays bounded either way.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    let declared = response.content_length();
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ReadError::TooLarge { limit });
    }
    // Trust the declared length only for the first allocation, and only up to the cap.
    let mut body = Vec::with_capacity(declared.map_or(8 * 1024, |length| length as usize));
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A server on 127.0.0.1 that answers one request with `head` and then
    /// `chunks` chunks of `chunk` bytes each, chunked (no Content-Length).
    async fn serve_chunked(head: &'static str, chunks: usize, chunk: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(head.as_bytes()).await;
            let data = vec![b'x'; chunk];
            for _ in 0..chunks {
                let framed = format!("{chunk:x}\r\n");
                if socket.write_all(framed.as_bytes()).await.is_err()
                    || socket.write_all(&data).await.is_err()
                    || socket.write_all(b"\r\n").await.is_err()
                {
                    // The client hung up at the cap: what we want.
                    return;
                }
            }
            let _ = socket.write_all(b"0\r\n\r\n").await;
        });
        format!("http://{address}/")
    }

    const CHUNKED: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

    #[tokio::test]
    async fn a_chunked_body_over_the_cap_is_dropped_while_it_is_read() {
        // 64 MiB offered in 64 KiB chunks; the cap is 1 MiB.
        let url = serve_chunked(CHUNKED, 1024, 64 * 1024).await;
        let client = build(Duration::from_secs(10)).expect("client");
        let response = client.get(url).send().await.expect("response");
        let read = read_capped(response, MAX_JSON_BYTES).await;
        assert!(
            matches!(read, Err(ReadError::TooLarge { limit }) if limit == MAX_JSON_BYTES),
            "{read:?}"
        );
    }

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let url = serve_chunked(CHUNKED, 4, 1000).await;
        let client = build(Duration::from_secs(10)).expect("client");
        let response = client.get(url).send().await.expect("response");
        let body = read_capped(response, 4000).await.expect("within the cap");
        assert_eq!(body.len(), 4000);
    }

    #[tokio::test]
    async fn a_declared_length_over_the_cap_is_refused_before_reading() {
        // Says 10 MiB and sends nothing: refused at once, not after a timeout.
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n";
        let url = serve_chunked(head, 0, 0).await;
        let client = build(Duration::from_secs(10)).expect("client");
        let response = client.get(url).send().await.expect("response");
        let read = read_capped(response, MAX_JSON_BYTES).await;
        assert!(matches!(read, Err(ReadError::TooLarge { .. })), "{read:?}");
    }
}
