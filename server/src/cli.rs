//! What the command-line programs (the server, the simulator and the bench) share: how
//! an error that stops them is printed, and the open-files limit they raise.

use std::error::Error;

/// Raises the soft open-files limit to the hard one (a connection costs a descriptor,
/// and the soft limit is often 1024) and returns the limit now in force: the one
/// already in force if raising fails, `None` if it cannot even be read.
pub fn raise_open_files_limit() -> Option<u64> {
    let raised = rlimit::increase_nofile_limit(u64::MAX);
    // Elsewhere than on Unix there is no such limit: `raised` is the number asked for.
    #[cfg(unix)]
    let raised = raised.or_else(|_| rlimit::Resource::NOFILE.get().map(|(soft, _)| soft));
    raised.ok()
}

/// The error and its causes on one line, each cause once. Many errors here end
/// their message with their cause's as well as returning it as `source()` (`journal
/// FILE: already holds …`); printing the whole chain would repeat it. A cause is left
/// out only when the message just before it ends with it.
pub fn describe(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut before = text.clone();
    let mut cause = error.source();
    while let Some(c) = cause {
        let own = c.to_string();
        if !before.ends_with(&own) {
            text.push_str(": ");
            text.push_str(&own);
        }
        before = own;
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("journal {path}: {source}")]
        Says {
            path: String,
            source: std::io::Error,
        },
        #[error("cannot start")]
        Hides(#[source] std::io::Error),
    }

    #[test]
    fn each_cause_is_named_once() {
        let io = || std::io::Error::other("already holds 342 bytes");
        let says = Outer::Says {
            path: "j.jsonl".into(),
            source: io(),
        };
        assert_eq!(describe(&says), "journal j.jsonl: already holds 342 bytes");
        assert_eq!(
            describe(&Outer::Hides(io())),
            "cannot start: already holds 342 bytes"
        );
        // Through anyhow, with a context on top.
        let e = anyhow::Error::new(says).context("starting");
        assert_eq!(
            describe(e.as_ref()),
            "starting: journal j.jsonl: already holds 342 bytes"
        );
        // A cause whose words merely occur earlier is still another cause.
        let e = anyhow::Error::new(std::io::Error::other("timed out"))
            .context("timed out waiting for the journal");
        assert_eq!(
            describe(e.as_ref()),
            "timed out waiting for the journal: timed out"
        );
    }
}
