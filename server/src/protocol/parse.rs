//! Reading a client frame: the fast path for the plain `send` every chat message is,
//! and the general one, which gives each way a frame can be wrong its own code.

use super::{CLIENT_TYPES, ClientMessage, ProtocolError, ReqId, SERVER_ONLY_TYPES};
use crate::domain::{ChatId, Command};
use serde::Deserialize;

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
                // A set, not a list: a frame of thousands of keys must not cost their
                // square (every frame is read, a rate-limited one too).
                let mut seen = std::collections::HashSet::<std::borrow::Cow<'de, str>>::new();
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
                    envelope.twice |= !seen.insert(key);
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
pub(super) struct PlainSend {
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
pub(super) fn parse_generally(text: &str) -> Result<ClientMessage, (Option<ReqId>, ProtocolError)> {
    if let (Ok(Envelope { req, twice: false }), Ok(command)) = (
        serde_json::from_str::<Envelope>(text),
        serde_json::from_str::<Command>(text),
    ) && CLIENT_TYPES.contains(&command.name())
        && !nested_duplicate(text)
    {
        return Ok(ClientMessage { req, command });
    }
    parse_slowly(text)
}

/// Whether an object inside the frame gives a key twice: the typed reading refuses a
/// field of a struct given twice, but keeps the last of two equal keys of a map
/// (`fill_ticket`'s `fields`) and never looks inside a key it does not use. Only a
/// frame with a second `{` can hold an object inside it, so nearly every frame is
/// spared the second reading.
fn nested_duplicate(text: &str) -> bool {
    if text.bytes().filter(|&b| b == b'{').nth(1).is_none() {
        return false;
    }
    let mut reader = serde_json::Deserializer::from_str(text);
    serde::de::DeserializeSeed::deserialize(FirstDuplicate, &mut reader)
        .ok()
        .flatten()
        .is_some()
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
