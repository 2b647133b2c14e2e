//! How much the server's frame encoders save over serde's `#[serde(flatten)]`, which
//! writes the same text: both encode the two frames of a relayed chat message (the
//! `message` notice and the `reply` to the `send`), interleaved in one process, and
//! the fastest of 30 batches of 200,000 is kept (this machine is shared and noisy).
//!
//! ```text
//! cargo run --release -p switchboard-server --example encode_vs_flatten
//! ```

use serde::Serialize;
use std::hint::black_box;
use std::time::Instant;
use switchboard_server::domain::{ChatId, Notice, Reply};
use switchboard_server::protocol::{ReqId, encode_notice, encode_reply};

/// The reply frame as derived code writes it.
fn flattened_reply(req: &Option<ReqId>, command: &str, reply: &Reply) -> String {
    #[derive(Serialize)]
    struct ReplyFrame<'a> {
        r#type: &'static str,
        req: &'a Option<ReqId>,
        command: &'a str,
        #[serde(flatten)]
        reply: &'a Reply,
    }
    to_json(&ReplyFrame {
        r#type: "reply",
        req,
        command,
        reply,
    })
}

/// The notice frame as derived code writes it.
fn flattened_notice(notice: &Notice) -> String {
    #[derive(Serialize)]
    struct NoticeFrame<'a> {
        r#type: &'static str,
        #[serde(flatten)]
        notice: &'a Notice,
    }
    to_json(&NoticeFrame {
        r#type: "notice",
        notice,
    })
}

/// Into a buffer of the size the server's encoders start with.
fn to_json<T: Serialize>(frame: &T) -> String {
    let mut buf = Vec::with_capacity(256);
    serde_json::to_writer(&mut buf, frame).expect("frames serialise");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

/// The fastest batch's time per call, in ns.
fn fastest(best: &mut f64, batch: usize, mut f: impl FnMut()) {
    let t = Instant::now();
    for _ in 0..batch {
        f();
    }
    *best = best.min(t.elapsed().as_nanos() as f64 / batch as f64);
}

fn main() {
    // The notice of a relayed message, as the server sends it (less its `type`).
    let notice: Notice = serde_json::from_str(
        r#"{"notice":"message","chat":12,"entry":{"seq":41,"at":1234567,
            "from":{"agent":"alice"},"kind":"text",
            "text":"Hi, Outlook prompts me every minute for my password"}}"#,
    )
    .expect("a message notice");
    let reply = Reply::Sent {
        chat: ChatId(12),
        seq: 41,
    };
    let req = Some(ReqId::Num(41));
    assert_eq!(flattened_notice(&notice), encode_notice(&notice));
    assert_eq!(
        flattened_reply(&req, "send", &reply),
        encode_reply(&req, "send", &reply)
    );
    let batch = 200_000;
    let mut best = [f64::MAX; 4];
    for _ in 0..30 {
        fastest(&mut best[0], batch, || {
            black_box(flattened_notice(black_box(&notice)));
        });
        fastest(&mut best[1], batch, || {
            black_box(encode_notice(black_box(&notice)));
        });
        fastest(&mut best[2], batch, || {
            black_box(flattened_reply(black_box(&req), "send", black_box(&reply)));
        });
        fastest(&mut best[3], batch, || {
            black_box(encode_reply(black_box(&req), "send", black_box(&reply)));
        });
    }
    println!(
        "message notice: flatten {:.1} ns, encode_notice {:.1} ns\nsend reply:     flatten {:.1} ns, encode_reply {:.1} ns",
        best[0], best[1], best[2], best[3]
    );
}
