//! Writing the server's frames: `reply` and `notice` frames of the relay path field by
//! field (the same text serde derives, without building a frame), everything else
//! through serde.

use super::ReqId;
use crate::domain::{Entry, EntryBody, Notice, Reply};
use serde::Serialize;

/// The JSON text of a `reply` frame, written straight from the Desk's borrowed reply: the
/// same text as [`ServerFrame::Reply`](super::ServerFrame::Reply)'s, without building one.
pub fn encode_reply(req: &Option<ReqId>, command: &str, reply: &Reply) -> String {
    let head = |buf: &mut Vec<u8>| {
        buf.extend_from_slice(br#"{"type":"reply","req":"#);
        serde_json::to_writer(&mut *buf, req)?;
        buf.extend_from_slice(br#","command":"#);
        serde_json::to_writer(&mut *buf, command)
    };
    match reply {
        // The reply to every message relayed: written field by field (a third of the
        // instructions serde's tagged enum takes).
        Reply::Sent { chat, seq } => written(|buf| {
            head(buf)?;
            buf.extend_from_slice(br#","reply":"sent","chat":"#);
            serde_json::to_writer(&mut *buf, chat)?;
            buf.extend_from_slice(br#","seq":"#);
            serde_json::to_writer(&mut *buf, seq)?;
            buf.push(b'}');
            Ok(())
        }),
        _ => encode_tagged(head, reply),
    }
}

/// The JSON text of a `notice` frame (the same as [`ServerFrame::Notice`](super::ServerFrame::Notice)'s). A
/// notice is encoded once per delivery and the text shared by its recipients.
pub fn encode_notice(notice: &Notice) -> String {
    match notice {
        // Every message relayed: written field by field (serde writes the entry as a
        // map, its body being flattened, and the notice through the tagged enum's
        // machinery: more than twice the instructions).
        Notice::Message {
            chat,
            entry:
                Entry {
                    seq,
                    at,
                    from,
                    body: EntryBody::Text { text },
                },
        } => written(|buf| {
            buf.extend_from_slice(br#"{"type":"notice","notice":"message","chat":"#);
            serde_json::to_writer(&mut *buf, chat)?;
            buf.extend_from_slice(br#","entry":{"seq":"#);
            serde_json::to_writer(&mut *buf, seq)?;
            buf.extend_from_slice(br#","at":"#);
            serde_json::to_writer(&mut *buf, at)?;
            buf.extend_from_slice(br#","from":"#);
            serde_json::to_writer(&mut *buf, from)?;
            buf.extend_from_slice(br#","kind":"text","text":"#);
            serde_json::to_writer(&mut *buf, text)?;
            buf.extend_from_slice(b"}}");
            Ok(())
        }),
        _ => encode_tagged(
            |buf| {
                buf.extend_from_slice(br#"{"type":"notice""#);
                Ok(())
            },
            notice,
        ),
    }
}

/// The text `write` puts in a fresh buffer.
fn written(write: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>) -> String {
    let mut buf = Vec::with_capacity(256);
    // Frames hold strings, numbers, maps and sequences only: writing cannot fail, and
    // serde_json writes UTF-8.
    if write(&mut buf).is_err() {
        return String::new();
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// A frame whose last fields are those of `body`, an internally tagged enum (so an
/// object holding at least its tag): `head` writes the frame's opening brace and first
/// fields, then the body is written after them with its own opening brace turned into
/// the comma between. The text `#[serde(flatten)]` gives, without serde's detour
/// through a map of buffered fields (a third of the notice's encoding time).
fn encode_tagged<B: Serialize>(
    head: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
    body: &B,
) -> String {
    written(|buf| {
        head(buf)?;
        let start = buf.len();
        serde_json::to_writer(&mut *buf, body)?;
        match buf.get(start..start + 2) {
            // An empty object adds no field: only its closing brace stays.
            Some(b"{}") => {
                buf.remove(start);
            }
            Some([b'{', _]) => buf[start] = b',',
            _ => return Err(serde::ser::Error::custom("the body is not an object")),
        }
        Ok(())
    })
}

/// The JSON text of an `error` frame (the same as [`ServerFrame::Error`](super::ServerFrame::Error)'s).
pub fn encode_error(req: &Option<ReqId>, code: &str, message: &str) -> String {
    #[derive(Serialize)]
    struct ErrorFrame<'a> {
        r#type: &'static str,
        req: &'a Option<ReqId>,
        code: &'a str,
        message: &'a str,
    }
    encode(&ErrorFrame {
        r#type: "error",
        req,
        code,
        message,
    })
}

/// Serialises a frame into a buffer big enough for the common frames (a chat message's
/// notice is about 150 bytes: `serde_json::to_string`'s 128 would grow, copying, on
/// every one).
fn encode<T: Serialize>(frame: &T) -> String {
    let mut buf = Vec::with_capacity(256);
    // Frames hold strings, numbers, maps and sequences only: serialising cannot fail,
    // and serde_json writes UTF-8.
    match serde_json::to_writer(&mut buf, frame) {
        Ok(()) => String::from_utf8(buf).unwrap_or_default(),
        Err(_) => String::new(),
    }
}
