//! The wire protocol between the reference server and its WebSocket clients (users and
//! agents), shared with the simulator's live driver.
//!
//! One JSON object per text frame. A client message is a Desk [`Command`] as JSON (its
//! `type` tag names the command) plus an optional client-chosen `req` id:
//!
//! ```json
//! {"type": "accept", "req": 7, "chat": 12}
//! ```
//!
//! The server answers every message with exactly one frame echoing `req`: a `reply`
//! (the Desk's [`Reply`], tagged by `reply`) or an `error` (`code`, `message`). Notices
//! for other participants arrive as `notice` frames (the Desk's [`Notice`], tagged by
//! `notice`). The first frame on every connection is `welcome`, saying who the server
//! thinks the client is. `docs/protocol.md` lists every message, field and code.
//!
//! [`parse_client_message`] is what the server uses to read a client frame; it gives
//! each way a frame can be wrong its own [`ProtocolError`] code. [`ServerFrame`]
//! serialises and deserialises the server's frames.

use crate::domain::{AgentId, ChatId, Command, Entry, EntryBody, Notice, Reply, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A client-chosen request id, echoed in the reply: a non-negative integer or a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReqId {
    /// A number.
    Num(u64),
    /// A string.
    Str(String),
}

impl From<u64> for ReqId {
    fn from(n: u64) -> Self {
        ReqId::Num(n)
    }
}

impl fmt::Display for ReqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReqId::Num(n) => write!(f, "{n}"),
            ReqId::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// A client → server message: a Desk command with an optional request id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientMessage {
    /// Echoed in the reply; lets a client match replies to requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub req: Option<ReqId>,
    /// The command; serialised inline with its `type` tag.
    #[serde(flatten)]
    pub command: Command,
}

impl ClientMessage {
    /// The JSON text of the message, as a client sends it.
    pub fn to_json(&self) -> String {
        // A Command always serialises: its fields are strings, numbers and maps.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Every `type` a client may send over WebSocket.
pub const CLIENT_TYPES: [&str; 22] = [
    "sign_in",
    "sign_out",
    "set_availability",
    "list_queue",
    "list_transferred",
    "list_my_chats",
    "accept",
    "accept_transfer",
    "transfer",
    "search_articles",
    "share_article",
    "pin_article",
    "search_templates",
    "create_ticket",
    "fill_ticket",
    "confirm_ticket",
    "start_chat",
    "send",
    "close",
    // Admin commands are Desk commands too; over WebSocket the Desk refuses them
    // (`wrong_role`): use the HTTP admin API.
    "set_routing",
    "add_queue",
    "add_agent",
];

/// Desk commands the server issues itself and never accepts from a client.
pub const SERVER_ONLY_TYPES: [&str; 2] = ["tick", "disconnect"];

/// Why a client frame could not be read as a message. Nothing was done.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Not JSON, not an object, or `type`/`req` missing or of the wrong kind.
    #[error("{0}")]
    Malformed(String),
    /// `type` names no message.
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    /// A known `type` with missing fields or fields of the wrong type.
    #[error("invalid `{kind}` message: {detail}")]
    InvalidFields {
        /// The message type.
        kind: String,
        /// What serde said.
        detail: String,
    },
    /// A command only the server itself issues.
    #[error("`{0}` is issued by the server itself and cannot be sent by a client")]
    ServerOnly(String),
    /// Over the per-connection message rate.
    #[error("rate limit exceeded: at most {0} messages per second; message dropped")]
    RateLimited(u32),
}

impl ProtocolError {
    /// The stable code sent in error frames and counted in metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::Malformed(_) => "malformed",
            ProtocolError::UnknownType(_) => "unknown_type",
            ProtocolError::InvalidFields { .. } => "invalid_fields",
            ProtocolError::ServerOnly(_) => "wrong_role",
            ProtocolError::RateLimited(_) => "rate_limited",
        }
    }

    /// Every code the gateway itself produces (the Desk's are in
    /// [`crate::domain::DeskError::CODES`]; `wrong_role` is shared).
    pub const CODES: [&'static str; 4] = [
        "malformed",
        "unknown_type",
        "invalid_fields",
        "rate_limited",
    ];
}

/// The `req` field of a client frame, read without building the rest, and whether a
/// top-level key is given twice (the typed reading of the command ignores keys it
/// does not use, so it would not notice a repeated one).
struct Envelope {
    req: Option<ReqId>,
    twice: bool,
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Envelope;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Envelope, A::Error> {
                let mut seen: Vec<std::borrow::Cow<'de, str>> = Vec::new();
                let mut envelope = Envelope {
                    req: None,
                    twice: false,
                };
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "req" {
                        envelope.req = map.next_value()?;
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                    envelope.twice |= seen.contains(&key);
                    seen.push(key);
                }
                Ok(envelope)
            }
        }
        d.deserialize_map(Keys)
    }
}

/// A `send` with nothing but its own fields and `req`, each once: the frame a chat
/// relays most, read in one pass into a plain struct. Anything else about the frame
/// (another type, a field it does not know, a field twice, a missing one) fails this
/// reading, usually at its first key, and the frame takes the general path, which
/// reads it the same way or tells what is wrong.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainSend {
    #[serde(rename = "type")]
    _type: SendTag,
    req: Option<ReqId>,
    chat: ChatId,
    text: String,
}

/// The `type` of a [`PlainSend`]: the string `send`, and nothing else.
struct SendTag;

impl<'de> Deserialize<'de> for SendTag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Tag;
        impl serde::de::Visitor<'_> for Tag {
            type Value = SendTag;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the string `send`")
            }
            fn visit_str<E: serde::de::Error>(self, tag: &str) -> Result<SendTag, E> {
                if tag == "send" {
                    Ok(SendTag)
                } else {
                    Err(E::custom("not a send"))
                }
            }
        }
        d.deserialize_str(Tag)
    }
}

/// Reads a client text frame. On error, also returns the `req` id if one could be read,
/// so the error frame can echo it.
///
/// A well-formed frame is read straight from the text into the typed command (no
/// intermediate `serde_json::Value`, which cost a map and a string per field on every
/// message); only a frame that fails that way is read again, as a `Value`, to tell
/// exactly what is wrong with it.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, (Option<ReqId>, ProtocolError)> {
    // Only an object that names `send` can be one: other frames skip the attempt (a
    // failed reading costs an error's allocation). An object, because serde would also
    // read the struct from an array of its four values.
    if text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
        && text.contains(r#""send""#)
        && let Ok(send) = serde_json::from_str::<PlainSend>(text)
    {
        return Ok(ClientMessage {
            req: send.req,
            command: Command::Send {
                chat: send.chat,
                text: send.text,
            },
        });
    }
    parse_generally(text)
}

/// [`parse_client_message`] for any frame: the `req` and a repeated top-level key in
/// one reading, the typed command in another, and if either fails, the slow path that
/// tells what is wrong.
fn parse_generally(text: &str) -> Result<ClientMessage, (Option<ReqId>, ProtocolError)> {
    if let (Ok(Envelope { req, twice: false }), Ok(command)) = (
        serde_json::from_str::<Envelope>(text),
        serde_json::from_str::<Command>(text),
    ) && CLIENT_TYPES.contains(&command.name())
    {
        return Ok(ClientMessage { req, command });
    }
    parse_slowly(text)
}

/// The path of the first key a JSON value gives twice in one object, at any depth
/// (`to.agent`, `[2].x`), if any. A `Value` would silently keep the last of the two.
struct FirstDuplicate;

impl<'de> serde::de::DeserializeSeed<'de> for FirstDuplicate {
    type Value = Option<String>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// `path` inside `outer` (`to` + `agent` is `to.agent`, `[2]` + `x` is `[2].x`).
fn within(outer: &str, path: &str) -> String {
    if path.starts_with('[') {
        format!("{outer}{path}")
    } else {
        format!("{outer}.{path}")
    }
}

impl<'de> serde::de::Visitor<'de> for FirstDuplicate {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = std::collections::HashSet::new();
        let mut first = None;
        while let Some(key) = map.next_key::<String>()? {
            let inner = map.next_value_seed(FirstDuplicate)?;
            if first.is_none() {
                first = match inner {
                    Some(path) => Some(within(&key, &path)),
                    None if seen.contains(&key) => Some(key.clone()),
                    None => None,
                };
            }
            seen.insert(key);
        }
        Ok(first)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut first = None;
        let mut i = 0;
        while let Some(inner) = seq.next_element_seed(FirstDuplicate)? {
            if first.is_none() {
                first = inner.map(|path| within(&format!("[{i}]"), &path));
            }
            i += 1;
        }
        Ok(first)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// [`parse_client_message`] by way of a `Value`, classifying each way a frame can be
/// wrong.
fn parse_slowly(text: &str) -> Result<ClientMessage, (Option<ReqId>, ProtocolError)> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        (
            None,
            ProtocolError::Malformed(format!("not valid JSON: {e}")),
        )
    })?;
    let serde_json::Value::Object(mut obj) = value else {
        return Err((
            None,
            ProtocolError::Malformed("a message must be a JSON object".into()),
        ));
    };
    // A `Value` keeps the last of two equal keys; the typed reading refuses them. Which
    // command `{"type":"accept","type":"close"}` is must not depend on that.
    let mut reader = serde_json::Deserializer::from_str(text);
    let duplicate = serde::de::DeserializeSeed::deserialize(FirstDuplicate, &mut reader)
        .ok()
        .flatten();
    let req = match obj.remove("req") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(serde_json::from_value::<ReqId>(v).map_err(|_| {
            (
                None,
                ProtocolError::Malformed("`req` must be a non-negative integer or a string".into()),
            )
        })?),
    };
    if let Some(key) = duplicate {
        return Err((
            req,
            ProtocolError::Malformed(format!("`{key}` is given twice")),
        ));
    }
    let kind = match obj.get("type") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => {
            return Err((
                req,
                ProtocolError::Malformed("`type` must be a string".into()),
            ));
        }
        None => {
            return Err((req, ProtocolError::Malformed("missing `type`".into())));
        }
    };
    if SERVER_ONLY_TYPES.contains(&kind.as_str()) {
        return Err((req, ProtocolError::ServerOnly(kind)));
    }
    if !CLIENT_TYPES.contains(&kind.as_str()) {
        return Err((req, ProtocolError::UnknownType(kind)));
    }
    match serde_json::from_value::<Command>(serde_json::Value::Object(obj)) {
        Ok(command) => Ok(ClientMessage { req, command }),
        Err(e) => Err((
            req,
            ProtocolError::InvalidFields {
                kind,
                detail: e.to_string(),
            },
        )),
    }
}

/// The role a connection was given, as told in the `welcome` frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "role")]
pub enum Welcome {
    /// An agent, authenticated by their token. They still have to `sign_in`.
    Agent {
        /// Who.
        agent: AgentId,
    },
    /// A self-service (or chatbot) user with a server-assigned id.
    User {
        /// The id the server gave this connection.
        user: UserId,
    },
}

/// A server → client frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ServerFrame {
    /// The first frame of every connection.
    Welcome {
        /// Who the server thinks the client is.
        #[serde(flatten)]
        who: Welcome,
        /// The limits in force for this connection.
        limits: WireLimits,
    },
    /// A command succeeded.
    Reply {
        /// The request id of the command, if it had one.
        #[serde(default)]
        req: Option<ReqId>,
        /// The command's `type`.
        command: String,
        /// The Desk's reply, inline with its `reply` tag.
        #[serde(flatten)]
        reply: Reply,
    },
    /// Something happened that this client must know.
    Notice {
        /// The Desk's notice, inline with its `notice` tag.
        #[serde(flatten)]
        notice: Notice,
    },
    /// A message was refused; nothing changed.
    Error {
        /// The request id of the message, if it could be read.
        #[serde(default)]
        req: Option<ReqId>,
        /// Machine-readable code.
        code: String,
        /// What went wrong, for people.
        message: String,
    },
}

impl ServerFrame {
    /// The JSON text of the frame.
    pub fn to_json(&self) -> String {
        // Frames hold strings, numbers, maps and sequences only: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a server frame (what a client does).
    pub fn parse(text: &str) -> Result<ServerFrame, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// The JSON text of a `reply` frame, written straight from the Desk's borrowed reply: the
/// same text as [`ServerFrame::Reply`]'s, without building one.
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

/// The JSON text of a `notice` frame (the same as [`ServerFrame::Notice`]'s). A
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

/// The JSON text of an `error` frame (the same as [`ServerFrame::Error`]'s).
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

/// Limits a client should respect, sent in the `welcome` frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLimits {
    /// Largest accepted message, in bytes; larger ones close the connection (1009).
    pub max_message_bytes: usize,
    /// Sustained messages per second; more are refused with `rate_limited`.
    pub messages_per_sec: u32,
    /// Burst allowance above the sustained rate.
    pub burst: u32,
    /// Frames the server buffers for this connection before it closes it as a slow
    /// consumer (1008).
    pub outbound_queue: usize,
}

/// WebSocket close codes the server uses.
pub mod close {
    /// Normal closure: the connection was replaced by a newer one of the same agent.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The peer broke the WebSocket protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A binary frame: the protocol is JSON text.
    pub const UNSUPPORTED: u16 = 1003;
    /// A text frame that is not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy: slow consumer (outbound queue full) or no pong within the idle timeout.
    pub const POLICY: u16 = 1008;
    /// A message over the size limit.
    pub const TOO_BIG: u16 = 1009;
}

/// One line of the server's journal: a command the Desk handled, in the order it
/// handled them (what the simulator's checker reads).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Position in the journal, from 1, without gaps.
    pub seq: u64,
    /// Desk time: milliseconds since the server started.
    pub at_ms: u64,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub wall_ms: u64,
    /// Who sent the command.
    pub principal: crate::domain::Principal,
    /// The command.
    pub command: Command,
    /// What came of it.
    #[serde(flatten)]
    pub result: JournalResult,
}

/// The result part of a [`JournalEntry`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalResult {
    /// The Desk accepted the command.
    Ok {
        /// The reply to the sender.
        reply: Reply,
        /// Notices for others, in order.
        deliveries: Vec<crate::domain::Delivery>,
    },
    /// The Desk refused it; nothing changed.
    Error {
        /// The error code.
        code: String,
        /// The message.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    /// Every error code and close code the server can send is in the protocol page.
    #[test]
    fn every_code_is_documented() {
        let page = include_str!("../../docs/protocol.md");
        let codes = crate::domain::DeskError::CODES
            .iter()
            .chain(super::ProtocolError::CODES.iter());
        for code in codes {
            assert!(
                page.contains(&format!("`{code}`")),
                "`{code}` is not documented"
            );
        }
        use super::close::*;
        for code in [
            NORMAL,
            GOING_AWAY,
            PROTOCOL_ERROR,
            UNSUPPORTED,
            INVALID_PAYLOAD,
            POLICY,
            TOO_BIG,
        ] {
            assert!(
                page.contains(&format!("| `{code}` |")),
                "close {code} is not documented"
            );
        }
    }

    use super::*;
    use crate::domain::{ChatState, Entry, EntryBody, Party, Time};

    #[test]
    fn parses_commands_and_echoes_req() {
        let m = parse_client_message(r#"{"type":"accept","req":7,"chat":3}"#).expect("valid");
        assert_eq!(m.req, Some(ReqId::Num(7)));
        assert_eq!(m.command, Command::Accept { chat: ChatId(3) });
        let again = parse_client_message(&m.to_json()).expect("round trip");
        assert_eq!(again, m);
    }

    #[test]
    fn classifies_bad_frames() {
        let code = |s: &str| {
            parse_client_message(s)
                .map(|_| ())
                .map_err(|(_, e)| e.code())
        };
        assert_eq!(code("{not json"), Err("malformed"));
        assert_eq!(code("[1,2]"), Err("malformed"));
        assert_eq!(code(r#"{"req":1}"#), Err("malformed"));
        assert_eq!(code(r#"{"type":5}"#), Err("malformed"));
        assert_eq!(code(r#"{"type":"fly"}"#), Err("unknown_type"));
        assert_eq!(code(r#"{"type":"accept"}"#), Err("invalid_fields"));
        assert_eq!(
            code(r#"{"type":"accept","chat":"x"}"#),
            Err("invalid_fields")
        );
        assert_eq!(code(r#"{"type":"tick"}"#), Err("wrong_role"));
        let (req, _) = parse_client_message(r#"{"type":"accept","req":"a"}"#).expect_err("bad");
        assert_eq!(req, Some(ReqId::Str("a".into())));
        // A key given twice is refused, whichever reading sees it first: which command
        // (or chat) a frame means must not depend on the parser.
        for (twice, key) in [
            (
                r#"{"type":"accept","chat":1,"type":"close","req":3}"#,
                "type",
            ),
            (r#"{"type":"accept","chat":1,"chat":2,"req":3}"#, "chat"),
            // Nested, where a `Value` would quietly keep bob.
            (
                r#"{"type":"transfer","chat":1,"to":{"agent":"alice","agent":"bob"},"req":3}"#,
                "to.agent",
            ),
            // A key the command does not use, given twice, is still given twice.
            (r#"{"type":"accept","chat":1,"x":1,"x":2,"req":3}"#, "x"),
        ] {
            let (req, e) = parse_client_message(twice).expect_err(twice);
            assert_eq!(
                (req, e.code()),
                (Some(ReqId::Num(3)), "malformed"),
                "{twice}"
            );
            assert!(
                e.to_string().contains(&format!("`{key}` is given twice")),
                "{twice}: {e}"
            );
        }
        // Equal keys in different objects are not duplicates.
        let fine = r#"{"type":"transfer","chat":1,"to":{"agent":"alice"},"req":3,"notes":"to"}"#;
        assert!(parse_client_message(fine).is_ok(), "{fine}");
        // Nesting is bounded (128 levels), even in a field the server ignores.
        let nested = |depth: usize| {
            format!(
                r#"{{"type":"accept","chat":1,"x":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        assert!(parse_client_message(&nested(100)).is_ok());
        let (_, e) = parse_client_message(&nested(200)).expect_err("too deep");
        assert_eq!(e.code(), "malformed", "{e}");
    }

    proptest::proptest! {
        /// The hand-written encodings of the relay's frames (the `sent` reply and the
        /// text `message` notice) write what serde's derived encoding writes, for any
        /// ids, numbers and texts (quotes, backslashes, control characters, any
        /// Unicode).
        #[test]
        fn relay_frames_are_written_as_serde_writes_them(
            req in proptest::option::of(proptest::prop_oneof![
                proptest::strategy::Strategy::prop_map(
                    proptest::prelude::any::<u64>(),
                    ReqId::Num,
                ),
                proptest::strategy::Strategy::prop_map("(?s).*", ReqId::Str),
            ]),
            command in "[a-z_]{1,12}|(?s).*",
            chat: u64,
            seq: u64,
            at: u64,
            agent in proptest::option::of("(?s).*"),
            text in "(?s).*",
        ) {
            let reply = ServerFrame::Reply {
                req,
                command,
                reply: Reply::Sent { chat: ChatId(chat), seq },
            };
            let ServerFrame::Reply { req, command, reply: sent } = &reply else {
                unreachable!()
            };
            proptest::prop_assert_eq!(encode_reply(req, command, sent), reply.to_json());
            let notice = Notice::Message {
                chat: ChatId(chat),
                entry: Entry {
                    seq,
                    at: Time(at),
                    from: agent.map_or(Party::User, |a| Party::Agent(a.as_str().into())),
                    body: EntryBody::Text { text },
                },
            };
            let text = ServerFrame::Notice { notice: notice.clone() }.to_json();
            proptest::prop_assert_eq!(encode_notice(&notice), text);
        }

        /// The one-pass reading of plain `send` frames gives what the general path
        /// gives, for any mix of its keys (in any order, missing, twice, unknown ones
        /// beside them) and values of the right and wrong kinds. Most frames drawn
        /// are plain sends, with and without `req`.
        #[test]
        fn plain_sends_read_as_the_general_path_reads_them(
            tag in proptest::option::weighted(0.95, proptest::sample::select(vec![
                r#""send""#, r#""send""#, r#""send""#, r#""s\u0065nd""#, r#""accept""#, "7",
            ])),
            req in proptest::option::weighted(0.7, proptest::sample::select(vec![
                "7", "0", r#""r""#, "null", "-1", "1.5", "{}",
            ])),
            chat in proptest::option::weighted(0.9, proptest::sample::select(vec![
                "7", "0", "7", r#""7""#, "-1",
            ])),
            text in proptest::option::weighted(0.9, proptest::sample::select(vec![
                r#""hi""#, r#""""#, r#""tab\there \"quoted\"""#, "7",
            ])),
            extra in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["type", "req", "chat", "text", "other"]),
                    proptest::sample::select(vec![r#""send""#, "7", r#""x""#, "null"]),
                ),
                0..2,
            ),
            rotate in 0..6usize,
            array in proptest::bool::weighted(0.3),
        ) {
            let mut parts: Vec<String> = [("type", tag), ("req", req), ("chat", chat), ("text", text)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .chain(extra.iter().copied())
                .map(|(k, v)| format!(r#""{k}":{v}"#))
                .collect();
            // An array keeps the fields' order, the one a struct would read them in.
            if !array {
                let n = parts.len().max(1);
                parts.rotate_left(rotate % n);
            }
            let text = if array {
                // The values alone: a frame must be an object, however its values line up.
                let values: Vec<&str> = parts.iter().filter_map(|p| p.split_once(':').map(|(_, v)| v)).collect();
                format!("[{}]", values.join(","))
            } else {
                format!("{{{}}}", parts.join(","))
            };
            proptest::prop_assert_eq!(parse_client_message(&text), parse_generally(&text), "{}", text);
        }
    }

    #[test]
    fn plain_sends_take_the_one_pass_reading() {
        let text = r#"{"type":"send","req":"r1","chat":4,"text":"hello"}"#;
        assert!(serde_json::from_str::<super::PlainSend>(text).is_ok());
        let m = parse_client_message(text).unwrap();
        assert_eq!(m.req, Some(ReqId::Str("r1".into())));
        assert_eq!(
            m.command,
            Command::Send {
                chat: ChatId(4),
                text: "hello".into()
            }
        );
        // Not plain: left to the general path, which accepts the unknown key and
        // refuses the repeated one.
        let extra = r#"{"type":"send","chat":4,"text":"hi","mood":"happy"}"#;
        assert!(serde_json::from_str::<super::PlainSend>(extra).is_err());
        assert!(parse_client_message(extra).is_ok());
        let twice = r#"{"type":"send","chat":4,"text":"hi","text":"ho"}"#;
        assert_eq!(
            parse_client_message(twice).unwrap_err().1.code(),
            "malformed"
        );
        // The four values in an array would make the struct too: not a frame.
        let array = r#"["send","r1",4,"hi"]"#;
        assert_eq!(
            parse_client_message(array).unwrap_err().1.code(),
            "malformed"
        );
        let spaced = " \n\t{\"type\":\"send\",\"chat\":4,\"text\":\"hi\"}";
        assert!(parse_client_message(spaced).is_ok());
    }

    #[test]
    fn server_frames_round_trip() {
        let frames = [
            ServerFrame::Welcome {
                who: Welcome::User { user: UserId(4) },
                limits: WireLimits {
                    max_message_bytes: 1,
                    messages_per_sec: 2,
                    burst: 3,
                    outbound_queue: 4,
                },
            },
            ServerFrame::Reply {
                req: Some(ReqId::Num(1)),
                command: "send".into(),
                reply: Reply::Sent {
                    chat: ChatId(1),
                    seq: 2,
                },
            },
            ServerFrame::Reply {
                req: None,
                command: "sign_out".into(),
                reply: Reply::Done,
            },
            ServerFrame::Reply {
                req: Some(ReqId::Str("a \"quoted\" \\ id".into())),
                command: "transfer".into(),
                reply: Reply::Sent {
                    chat: ChatId(3),
                    seq: 9,
                },
            },
            ServerFrame::Notice {
                notice: Notice::ChatEnded {
                    chat: ChatId(1),
                    state: ChatState::Closed {
                        by: Party::Agent("a".into()),
                    },
                },
            },
            ServerFrame::Notice {
                notice: Notice::Message {
                    chat: ChatId(1),
                    entry: Entry {
                        seq: 1,
                        at: Time(5),
                        from: Party::User,
                        body: EntryBody::Text { text: "hi".into() },
                    },
                },
            },
            ServerFrame::Error {
                req: Some(ReqId::Str("x".into())),
                code: "malformed".into(),
                message: "m".into(),
            },
        ];
        for f in frames {
            let text = f.to_json();
            let back = ServerFrame::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(back, f, "{text}");
            // The server's encoders, which borrow instead of building a frame, write
            // the same text.
            let encoded = match &f {
                ServerFrame::Welcome { .. } => continue,
                ServerFrame::Reply {
                    req,
                    command,
                    reply,
                } => encode_reply(req, command, reply),
                ServerFrame::Notice { notice } => encode_notice(notice),
                ServerFrame::Error { req, code, message } => encode_error(req, code, message),
            };
            assert_eq!(encoded, text);
        }
    }

    #[test]
    fn long_frames_are_encoded_whole() {
        let text = "ü".repeat(1000);
        let notice = Notice::Message {
            chat: ChatId(1),
            entry: Entry {
                seq: 1,
                at: Time(5),
                from: Party::User,
                body: EntryBody::Text { text: text.clone() },
            },
        };
        let frame = ServerFrame::parse(&encode_notice(&notice)).expect("valid frame");
        assert_eq!(frame, ServerFrame::Notice { notice });
    }
}
