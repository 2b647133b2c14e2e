//! Protocol frames against the documentation and against serde's own text.

use super::parse::{PlainSend, parse_generally};
use super::*;
use crate::domain::{ChatId, ChatState, Entry, EntryBody, Party, Time};

/// Every error code and close code the server can send is in the protocol page.
#[test]
fn every_code_is_documented() {
    let page = include_str!("../../../docs/protocol.md");
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
        // Inside a map, where the typed reading too would keep the last.
        (
            r#"{"type":"fill_ticket","ticket":1,"fields":{"tag":"A","tag":"B"},"req":3}"#,
            "fields.tag",
        ),
        // Inside a key the command does not use, at any depth.
        (r#"{"type":"sign_in","x":{"a":1,"a":2},"req":3}"#, "x.a"),
        (
            r#"{"type":"sign_in","x":[{"a":1,"a":2}],"req":3}"#,
            "x[0].a",
        ),
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
    // Thousands of keys (a frame up to the size limit) are read once each; the one
    // given twice is still found, the last of them.
    let keys: String = (0..8_000).map(|i| format!(r#""k{i}":0,"#)).collect();
    let many = format!(r#"{{"type":"accept","chat":1,{keys}"k7999":1,"req":3}}"#);
    let (_, e) = parse_client_message(&many).expect_err("k7999 twice");
    assert!(e.to_string().contains("`k7999` is given twice"), "{e}");
    let distinct = format!(r#"{{"type":"accept","chat":1,{keys}"req":3}}"#);
    assert!(parse_client_message(&distinct).is_ok());
    // Equal keys in different objects are not duplicates.
    let fine = r#"{"type":"transfer","chat":1,"to":{"agent":"alice"},"req":3,"notes":"to"}"#;
    assert!(parse_client_message(fine).is_ok(), "{fine}");
    // Nesting is bounded: 128 levels or more (the frame's own object is the first) is
    // refused, even in a field the server ignores.
    let nested = |depth: usize| {
        format!(
            r#"{{"type":"accept","chat":1,"x":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    assert!(parse_client_message(&nested(126)).is_ok(), "127 levels");
    for depth in [127, 200] {
        let (_, e) = parse_client_message(&nested(depth)).expect_err("too deep");
        assert_eq!(e.code(), "malformed", "{e}");
    }
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
    assert!(serde_json::from_str::<PlainSend>(text).is_ok());
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
    assert!(serde_json::from_str::<PlainSend>(extra).is_err());
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

/// Reading a frame grows with its keys, not with their square: sixteen times the keys
/// take about sixteen times as long (256 times when each key was compared with every
/// earlier one, as it once was). Small and large alternate, and the smallest ratio of
/// five rounds counts, so that a busy machine does not decide.
#[test]
fn reading_grows_with_the_keys_not_their_square() {
    let frame = |n: usize| {
        let keys: String = (0..n).map(|i| format!(r#""k{i}":0,"#)).collect();
        format!(r#"{{"type":"accept","chat":1,{keys}"req":3}}"#)
    };
    let time = |text: &str| {
        let t = std::time::Instant::now();
        let _ = parse_client_message(text);
        t.elapsed().as_secs_f64()
    };
    let (small, large) = (frame(2_000), frame(32_000));
    let ratio = (0..5)
        .map(|_| time(&large) / time(&small).max(1e-9))
        .fold(f64::INFINITY, f64::min);
    assert!(ratio < 64.0, "16x the keys took {ratio:.1}x as long");
}
