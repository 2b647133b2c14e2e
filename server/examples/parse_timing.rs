//! Times `parse_client_message` on a relayed `send` and on an `accept`: the fastest
//! of 20 batches of 200,000, in ns per frame.
//!
//! ```text
//! cargo run --release -p switchboard-server --example parse_timing
//! ```

use std::hint::black_box;
use std::time::Instant;
use switchboard_server::protocol::parse_client_message;

fn main() {
    let frames = [
        (
            "send",
            r#"{"type":"send","req":7,"chat":12,"text":"Hi, Outlook prompts me every minute for my password"}"#,
        ),
        ("accept", r#"{"type":"accept","req":7,"chat":12}"#),
    ];
    let batch = 200_000;
    let mut best = [f64::MAX; 2];
    for _ in 0..20 {
        for (i, (_, frame)) in frames.iter().enumerate() {
            let t = Instant::now();
            for _ in 0..batch {
                let _ = black_box(parse_client_message(black_box(frame)));
            }
            best[i] = best[i].min(t.elapsed().as_nanos() as f64 / batch as f64);
        }
    }
    for ((name, _), ns) in frames.iter().zip(best) {
        println!("{name}: {ns:.1} ns");
    }
}
