//! One participant's WebSocket: connect, send commands as protocol messages, read the
//! server's frames. Conversation messages carry the real time they were sent, so the
//! receiving side measures `message_latency` on the same clock.

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use switchboard_server::domain::{Command, Entry, EntryBody, Notice};
use switchboard_server::gateway::WS_READ_BUFFER;
use switchboard_server::protocol::{ClientMessage, ReqId, ServerFrame};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The write half.
pub struct Sender(SplitSink<Ws, Message>);
/// The read half.
pub struct Receiver(SplitStream<Ws>);

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// Connecting or the handshake failed.
    #[error("connect: {0}")]
    Connect(String),
    /// The server sent a notice (or something) this build cannot read.
    #[error("bad frame from the server: {0}")]
    BadFrame(String),
    /// The server answered a command with a frame this build cannot read: the command
    /// it answers cannot be told, so the connection is given up as broken.
    #[error("unreadable answer from the server: {0}")]
    BadAnswer(String),
    /// The connection closed or broke.
    #[error("connection closed: {0}")]
    Closed(String),
}

impl ConnError {
    /// A short code for error counters.
    pub fn code(&self) -> &'static str {
        match self {
            ConnError::Connect(_) => "connect_failed",
            ConnError::BadFrame(_) | ConnError::BadAnswer(_) => "bad_frame",
            ConnError::Closed(_) => "connection_closed",
        }
    }
}

/// Connects to `url` (`ws://host:port/ws`, with `?token=` for agents) and reads the
/// welcome frame; returns the halves and the welcome.
pub async fn connect(
    url: &str,
    timeout: Duration,
) -> Result<(Sender, Receiver, ServerFrame), ConnError> {
    // A small read buffer: tungstenite's default (128 KiB, zero-filled, so resident)
    // would cost 1.3 GiB for 10,000 participants. Nagle off: a frame leaves when it is
    // written instead of waiting for the previous one's acknowledgement, so latencies
    // measure the server rather than TCP's coalescing.
    let config = WebSocketConfig::default().read_buffer_size(WS_READ_BUFFER);
    let (ws, _) = tokio::time::timeout(timeout, connect_async_with_config(url, Some(config), true))
        .await
        .map_err(|_| ConnError::Connect(format!("timed out after {timeout:?}")))?
        .map_err(|e| ConnError::Connect(e.to_string()))?;
    let (tx, rx) = ws.split();
    let mut rx = Receiver(rx);
    let welcome = tokio::time::timeout(timeout, rx.next())
        .await
        .map_err(|_| ConnError::Connect("no welcome frame".into()))??;
    Ok((Sender(tx), rx, welcome))
}

/// What the simulator writes at the start of a message's text: when it was sent and
/// which message it is ([`super::ledger`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The real send time, µs since the run started.
    pub sent_us: u64,
    /// The message's id in the run's ledger.
    pub id: u64,
}

impl Stamp {
    /// `text` with the stamp in front: `[sent 1234us #7] text`.
    pub fn on(self, text: &str) -> String {
        format!("[sent {}us #{}] {text}", self.sent_us, self.id)
    }

    /// The stamp at the start of `text`, if it carries one.
    pub fn of(text: &str) -> Option<Stamp> {
        let (sent, rest) = text.strip_prefix("[sent ")?.split_once("us #")?;
        let (id, _) = rest.split_once("] ")?;
        Some(Stamp {
            sent_us: sent.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

/// The stamp of a message notice, if it carries one.
pub fn stamped(notice: &Notice) -> Option<Stamp> {
    match notice {
        Notice::Message { entry, .. } => stamp_of(entry),
        _ => None,
    }
}

/// The stamp of a transcript entry, if it is a stamped message.
pub fn stamp_of(entry: &Entry) -> Option<Stamp> {
    match &entry.body {
        EntryBody::Text { text } => Stamp::of(text),
        _ => None,
    }
}

/// Longest a send may wait for the socket: a server that stops reading must not hold
/// a participant (and so the run) forever.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

impl Sender {
    /// Sends `command` with request id `req`; a send still blocked after
    /// [`SEND_TIMEOUT`] fails as a closed connection.
    pub async fn send(&mut self, req: u64, command: Command) -> Result<(), ConnError> {
        let msg = ClientMessage {
            req: Some(ReqId::Num(req)),
            command,
        };
        match tokio::time::timeout(SEND_TIMEOUT, self.0.send(Message::text(msg.to_json()))).await {
            Ok(sent) => sent.map_err(|e| ConnError::Closed(e.to_string())),
            Err(_) => Err(ConnError::Closed(format!(
                "send blocked for {SEND_TIMEOUT:?}: the server is not reading"
            ))),
        }
    }

    /// Closes the connection politely (giving up after [`SEND_TIMEOUT`]).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(SEND_TIMEOUT, async {
            let _ = self.0.send(Message::Close(None)).await;
            let _ = self.0.close().await;
        })
        .await;
    }
}

impl Receiver {
    /// The next protocol frame; `Err(Closed)` when the connection ends.
    pub async fn next(&mut self) -> Result<ServerFrame, ConnError> {
        loop {
            match self.0.next().await {
                Some(Ok(Message::Text(t))) => {
                    return ServerFrame::parse(t.as_str()).map_err(|e| {
                        // A reply or error carries the `req` of a command that waits
                        // for it; a notice carries none.
                        let answers = serde_json::from_str::<serde_json::Value>(t.as_str())
                            .ok()
                            .is_some_and(|v| v.get("req").is_some_and(|r| !r.is_null()));
                        if answers {
                            ConnError::BadAnswer(e.to_string())
                        } else {
                            ConnError::BadFrame(e.to_string())
                        }
                    });
                }
                Some(Ok(Message::Close(c))) => {
                    return Err(ConnError::Closed(c.map_or_else(
                        || "no reason".into(),
                        |c| format!("{} {}", c.code, c.reason),
                    )));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(ConnError::Closed(e.to_string())),
                None => return Err(ConnError::Closed("end of stream".into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_server::domain::{ChatId, Party, Time};

    #[test]
    fn stamps_round_trip() {
        let stamp = Stamp {
            sent_us: 1234,
            id: 7,
        };
        let text = stamp.on("hello [sent 1us #2] world");
        assert_eq!(text, "[sent 1234us #7] hello [sent 1us #2] world");
        let notice = Notice::Message {
            chat: ChatId(1),
            entry: Entry {
                seq: 1,
                at: Time(0),
                from: Party::User,
                body: EntryBody::Text { text },
            },
        };
        assert_eq!(stamped(&notice), Some(stamp));
        for unstamped in [
            "hello",
            "[sent 12us] hello",
            "[sent xus #1] hi",
            "[sent 1us #] hi",
        ] {
            assert_eq!(Stamp::of(unstamped), None, "{unstamped}");
        }
    }
}
