//! The read API (`/api/…`): what an agent (or the admin) may read, copied from the Desk
//! under its lock and written as JSON off it, in pages.

use crate::domain::{
    AgentId, ChatId, KnowledgeArticle, QueueId, Template, Ticket, TicketId, UserId,
    render_transcript,
};
use crate::gateway::state::{Shared, lock};
use hyper::{Response, StatusCode};
use serde::Serialize;
use std::sync::Arc;

use super::auth::Viewer;
use super::query::query_param;
use super::{Body, Fail, Res, json_response, text_response};

/// Chats per page of `GET /api/chats` unless `limit` says otherwise, and the most
/// `limit` may ask for: the page is copied while the Desk is locked.
const CHATS_PAGE: usize = 500;
const CHATS_PAGE_MAX: usize = 5_000;
/// The same for `GET /api/tickets`, whose items are whole tickets (a ticket's
/// description holds its chat's transcript).
const TICKETS_PAGE: usize = 100;
const TICKETS_PAGE_MAX: usize = 1_000;
/// Most items one page looks at (an agent sees only some of them).
const SCAN_MAX: usize = 50_000;

/// A number written plainly: decimal digits only, no sign, no leading zero (so that each
/// id has one spelling: `/api/chats/007` and `+7` are not chat 7).
fn numeric(s: &str) -> Option<u64> {
    let plain =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    plain.then(|| s.parse().ok()).flatten()
}

/// A page request's `after` (default 0) and `limit` (default `default`, 1..=`max`).
fn page_query(query: Option<&str>, default: usize, max: usize) -> Result<(u64, usize), Fail> {
    let bad = |msg: String| Fail::new(StatusCode::BAD_REQUEST, "bad_request", msg);
    let after = match query_param(query, "after") {
        None => 0,
        Some(s) => {
            numeric(&s).ok_or_else(|| bad(format!("`after` must be a numeric id, not `{s}`")))?
        }
    };
    let limit = match query_param(query, "limit") {
        None => default,
        Some(s) => numeric(&s)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| bad(format!("`limit` must be 1..={max}, not `{s}`")))?,
    };
    Ok((after, limit))
}

/// One page of `items` (in id order, after the previous page): up to `limit` items
/// that `keep`, looking at no more than `scan_max` items, and the id to continue after
/// — the last item's if more may follow, `None` when the items are exhausted. A page
/// cut short by `scan_max` may hold fewer than `limit` items, even none.
fn page<Id: Copy, T>(
    items: impl Iterator<Item = (Id, T)>,
    keep: impl Fn(&T) -> bool,
    limit: usize,
    scan_max: usize,
) -> (Vec<T>, Option<Id>) {
    let mut items = items.peekable();
    let mut page = Vec::new();
    let (mut last_kept, mut last_looked) = (None, None);
    for _ in 0..scan_max {
        let Some((id, item)) = items.next() else {
            return (page, None);
        };
        if keep(&item) {
            if page.len() == limit {
                // A full page and one more: the next page starts after this one's last.
                return (page, last_kept);
            }
            page.push(item);
            last_kept = Some(id);
        }
        last_looked = Some(id);
    }
    // Stopped by the scan bound: go on after what was looked at, if anything is left.
    let next = items.peek().and(last_looked);
    (page, next)
}

/// One chat in `GET /api/chats`: the chat without its transcript.
#[derive(Serialize)]
struct ChatListItem {
    id: ChatId,
    user: UserId,
    queue: QueueId,
    subject: String,
    state: &'static str,
    owner: Option<AgentId>,
    requested_at: u64,
    ticket: Option<TicketId>,
    messages: usize,
}

impl ChatListItem {
    fn of(c: &crate::domain::Chat) -> ChatListItem {
        ChatListItem {
            id: c.id,
            user: c.user,
            queue: c.queue.clone(),
            subject: c.subject.clone(),
            state: c.state.name(),
            owner: c.state.owner().cloned(),
            requested_at: c.requested_at.as_millis(),
            ticket: c.ticket,
            messages: c.transcript.len(),
        }
    }
}

#[derive(Serialize)]
struct ChatsPage {
    chats: Vec<ChatListItem>,
    next: Option<ChatId>,
}

#[derive(Serialize)]
struct TicketsPage {
    tickets: Vec<Ticket>,
    next: Option<TicketId>,
}

#[derive(Serialize)]
struct Articles {
    articles: Vec<KnowledgeArticle>,
}

#[derive(Serialize)]
struct Templates {
    templates: Vec<Template>,
}

/// A read API answer: what it needs was copied from the Desk while it was locked, and
/// this turns it into the response after the lock is released.
type Render = Box<dyn FnOnce() -> Response<Body> + Send>;

/// Renders `body` as JSON, later.
fn json_later<T: Serialize + Send + 'static>(body: T) -> Render {
    Box::new(move || json_response(StatusCode::OK, &body))
}

/// A read API path after `/api/`: its segments percent-decoded (free-form ids such as
/// `VPN guide`), and as written (numeric ids have one spelling: `%31` is not 1).
#[derive(Clone, Copy)]
pub(super) struct ApiPath<'a> {
    pub(super) segments: &'a [&'a str],
    pub(super) raw: &'a [&'a str],
}

/// Answers a read API request. The Desk is locked only to copy what the answer holds
/// (a ticket's description is shared, not copied); the JSON is written after, on the
/// blocking pool: a page of long tickets is megabytes of JSON, which under the lock
/// would hold up every connection, and on a worker the connections that worker serves.
/// At most [`READ_API_RENDERS`](super::state::READ_API_RENDERS) answers are copied and written at once.
pub(super) async fn read_api(
    shared: &Shared,
    viewer: &Viewer,
    path: ApiPath<'_>,
    query: Option<&str>,
) -> Res {
    // The semaphore is never closed. The turn goes with the writing: a request dropped
    // meanwhile (its client gone) does not give it back before the JSON is written.
    let turn = Arc::clone(&shared.read_renders).acquire_owned().await.ok();
    let render = read_api_copy(shared, viewer, path, query)?;
    let written = move || {
        let response = render();
        drop(turn);
        response
    };
    tokio::task::spawn_blocking(written).await.map_err(|_| {
        Fail::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the answer could not be written",
        )
    })
}

/// The part of [`read_api`] done under the Desk's lock.
fn read_api_copy(
    shared: &Shared,
    viewer: &Viewer,
    path: ApiPath<'_>,
    query: Option<&str>,
) -> Result<Render, Fail> {
    let core = lock(&shared.core);
    let desk = &core.desk;
    // R1: an agent without the live-chat permission reads nothing of live chat.
    if let Viewer::Agent(a) = viewer
        && !desk.agent(a).is_some_and(|ag| ag.profile.may_chat())
    {
        return Err(Fail::new(
            StatusCode::FORBIDDEN,
            "permission_denied",
            format!("agent `{a}` does not hold the ESChat_Agent permission (R1)"),
        ));
    }
    // An agent reads the chats it has had, and the chats its queues could give it —
    // but a transfer addressed to one agent only that agent (R5).
    let visible = |chat: &crate::domain::Chat| match viewer {
        Viewer::Admin => true,
        Viewer::Agent(a) => desk.may_see(a, chat),
    };
    // A ticket goes with its chat; once the chat was dropped (`keep_ended_chats`), it
    // stays visible to the admin and to the agent who created it.
    let ticket_visible = |t: &&Ticket| match desk.chat(t.chat) {
        Some(chat) => visible(chat),
        None => match viewer {
            Viewer::Admin => true,
            Viewer::Agent(a) => &t.agent == a,
        },
    };
    let not_found =
        |what: &str| Fail::new(StatusCode::NOT_FOUND, "not_found", format!("no {what}"));
    let parse_id = |s: &str| {
        numeric(s).ok_or_else(|| {
            Fail::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("`{s}` is not a numeric id"),
            )
        })
    };
    // The numeric id of `chats/{id}` and `tickets/{id}`, as written (the second segment).
    let path_id = || parse_id(path.raw.get(1).copied().unwrap_or_default());
    let visible_chat = || {
        desk.chat(ChatId(path_id()?))
            .filter(|c| visible(c))
            .ok_or_else(|| not_found("such chat"))
    };
    match path.segments {
        ["chats"] => {
            let (after, limit) = page_query(query, CHATS_PAGE, CHATS_PAGE_MAX)?;
            let (page, next) = page(
                desk.chats_after(ChatId(after)).map(|c| (c.id, c)),
                |c| visible(c),
                limit,
                SCAN_MAX,
            );
            let chats = page.into_iter().map(ChatListItem::of).collect();
            Ok(json_later(ChatsPage { chats, next }))
        }
        ["chats", _] => Ok(json_later(visible_chat()?.clone())),
        ["chats", _, "transcript"] => {
            let transcript = visible_chat()?.transcript.clone();
            Ok(Box::new(move || {
                text_response(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    render_transcript(&transcript),
                )
            }))
        }
        ["tickets"] => {
            let (after, limit) = page_query(query, TICKETS_PAGE, TICKETS_PAGE_MAX)?;
            let (tickets, next) = page(
                desk.tickets_after(TicketId(after)).map(|t| (t.id, t)),
                ticket_visible,
                limit,
                SCAN_MAX,
            );
            let tickets = tickets.into_iter().cloned().collect();
            Ok(json_later(TicketsPage { tickets, next }))
        }
        ["tickets", _] => {
            let id = TicketId(path_id()?);
            let t = desk
                .ticket(id)
                .filter(|t| ticket_visible(t))
                .ok_or_else(|| not_found("such ticket"))?;
            Ok(json_later(t.clone()))
        }
        ["articles"] => {
            let term = query_param(query, "term").unwrap_or_default();
            let articles = desk.find_articles(&term).into_iter().cloned().collect();
            Ok(json_later(Articles { articles }))
        }
        ["articles", id] => {
            let a = desk
                .articles()
                .find(|a| a.id.as_str() == *id)
                .ok_or_else(|| not_found("such article"))?;
            Ok(json_later(a.clone()))
        }
        ["templates"] => {
            let term = query_param(query, "term").unwrap_or_default();
            let templates = desk.find_templates(&term).into_iter().cloned().collect();
            Ok(json_later(Templates { templates }))
        }
        ["templates", id] => {
            let t = desk
                .templates()
                .find(|t| t.id.as_str() == *id)
                .ok_or_else(|| not_found("such template"))?;
            Ok(json_later(t.clone()))
        }
        _ => Err(not_found("such API path")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_one_spelling() {
        assert_eq!(numeric("0"), Some(0));
        assert_eq!(numeric("7"), Some(7));
        assert_eq!(numeric("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "+7",
            "-7",
            "007",
            "00",
            "7 ",
            " 7",
            "1e3",
            "18446744073709551616",
        ] {
            assert_eq!(numeric(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn pages_go_through_everything_kept_within_the_scan_bound() {
        let items = || (1..=10u64).map(|i| (i, i));
        let even = |i: &u64| i.is_multiple_of(2);
        // Plain paging: full pages, then the rest, then the end.
        assert_eq!(page(items(), even, 2, 100), (vec![2, 4], Some(4)));
        let after = |a: u64| items().filter(move |(i, _)| *i > a);
        assert_eq!(page(after(4), even, 2, 100), (vec![6, 8], Some(8)));
        assert_eq!(page(after(8), even, 2, 100), (vec![10], None));
        assert_eq!(page(after(10), even, 2, 100), (vec![], None));
        // Exactly a full page left: no further page.
        assert_eq!(page(after(6), even, 2, 100), (vec![8, 10], None));
        // The scan bound cuts a page short and says where to go on.
        assert_eq!(page(items(), even, 5, 3), (vec![2], Some(3)));
        assert_eq!(page(after(3), |_| false, 5, 3), (vec![], Some(6)));
        assert_eq!(page(after(8), |_| false, 5, 3), (vec![], None));
        // Following `next` from the start visits every kept item once.
        let (mut seen, mut at) = (Vec::new(), 0);
        loop {
            let (p, next) = page(after(at), even, 2, 3);
            seen.extend(p);
            match next {
                Some(n) => at = n,
                None => break,
            }
        }
        assert_eq!(seen, vec![2, 4, 6, 8, 10]);
    }
}
