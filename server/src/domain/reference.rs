//! Reference data the Desk searches and shows beside a chat (R9, R11, R13): knowledge
//! articles, ticket templates, outages and customer records.

use super::ids::{ArticleId, TemplateId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A knowledge article.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeArticle {
    /// Its id.
    pub id: ArticleId,
    /// Title.
    pub title: String,
    /// Body text (searched).
    #[serde(default)]
    pub body: String,
    /// Keywords (searched).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The link shared with users and written to activity logs.
    #[serde(default)]
    pub link: String,
}

/// A field of a ticket template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateField {
    /// Field name.
    pub name: String,
    /// Must be filled before the ticket is created.
    #[serde(default)]
    pub required: bool,
    /// Value the template fills in (blank if absent).
    #[serde(default)]
    pub value: String,
}

/// A ticket template (R13).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Its id.
    pub id: TemplateId,
    /// Name (searched).
    pub name: String,
    /// Keywords (searched).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Its fields.
    #[serde(default)]
    pub fields: Vec<TemplateField>,
}

/// A current outage, shown among a chat's resources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// Its id.
    pub id: String,
    /// What is down.
    pub title: String,
    /// The affected service.
    #[serde(default)]
    pub service: String,
}

/// A customer record shown on the Customer Information tab (R9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// The contact's login (what a user gives as `customer`).
    pub id: String,
    /// Full name.
    #[serde(default)]
    pub name: String,
    /// Email or phone.
    #[serde(default)]
    pub contact: String,
    /// Site.
    #[serde(default)]
    pub site: String,
    /// Company.
    #[serde(default)]
    pub company: String,
    /// Their existing tickets.
    #[serde(default)]
    pub tickets: Vec<String>,
    /// Their assets.
    #[serde(default)]
    pub assets: Vec<String>,
}

/// All reference data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferenceData {
    /// Knowledge articles.
    pub articles: Vec<KnowledgeArticle>,
    /// Ticket templates.
    pub templates: Vec<Template>,
    /// Current outages.
    pub outages: Vec<Outage>,
    /// Customer records.
    pub customers: Vec<Customer>,
}

/// Reference data indexed for lookups, with the searchable text of each article and
/// template lower-cased once, so a search or a chat's suggestions allocate nothing per
/// item.
#[derive(Clone, Debug, Default)]
pub(crate) struct Library {
    pub articles: BTreeMap<ArticleId, KnowledgeArticle>,
    pub templates: BTreeMap<TemplateId, Template>,
    pub outages: Vec<Outage>,
    pub customers: BTreeMap<String, Customer>,
    /// Per article, in id order: title and keywords; and those plus the body.
    article_text: Vec<(ArticleId, String, String)>,
    /// Per template, in id order: name and keywords.
    template_text: Vec<(TemplateId, String)>,
}

/// How the words of a query must meet an item's text.
#[derive(Clone, Copy)]
enum Match {
    /// Every word (a search).
    All,
    /// Any word longer than two letters (suggestions for a subject).
    Any,
}

/// The keys of the items whose text matches `query`, in order, at most `limit`.
fn matching<'a, K: 'a>(
    texts: impl Iterator<Item = (&'a K, &'a str)>,
    query: &str,
    how: Match,
    limit: usize,
) -> Vec<&'a K> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    texts
        .filter(|(_, hay)| match how {
            Match::All => words.iter().all(|w| hay.contains(w.as_str())),
            Match::Any => words
                .iter()
                .any(|w| w.len() > 2 && hay.contains(w.as_str())),
        })
        .map(|(k, _)| k)
        .take(limit)
        .collect()
}

impl Library {
    pub fn new(data: ReferenceData) -> Self {
        let articles: BTreeMap<ArticleId, KnowledgeArticle> = data
            .articles
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        let templates: BTreeMap<TemplateId, Template> = data
            .templates
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        let article_text = articles
            .values()
            .map(|a| {
                let short = format!("{} {}", a.title, a.keywords.join(" ")).to_lowercase();
                let full = format!("{short} {}", a.body.to_lowercase());
                (a.id.clone(), short, full)
            })
            .collect();
        let template_text = templates
            .values()
            .map(|t| {
                let text = format!("{} {}", t.name, t.keywords.join(" ")).to_lowercase();
                (t.id.clone(), text)
            })
            .collect();
        Library {
            articles,
            templates,
            outages: data.outages,
            customers: data
                .customers
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect(),
            article_text,
            template_text,
        }
    }

    fn articles_matching(
        &self,
        query: &str,
        full: bool,
        how: Match,
        limit: usize,
    ) -> Vec<&KnowledgeArticle> {
        let texts = self
            .article_text
            .iter()
            .map(|(id, short, long)| (id, if full { long.as_str() } else { short.as_str() }));
        matching(texts, query, how, limit)
            .into_iter()
            .filter_map(|id| self.articles.get(id))
            .collect()
    }

    fn templates_matching(&self, query: &str, how: Match, limit: usize) -> Vec<&Template> {
        let texts = self.template_text.iter().map(|(id, t)| (id, t.as_str()));
        matching(texts, query, how, limit)
            .into_iter()
            .filter_map(|id| self.templates.get(id))
            .collect()
    }

    /// Articles whose title, keywords or body mention every word of `term`.
    pub fn search_articles(&self, term: &str, limit: usize) -> Vec<&KnowledgeArticle> {
        self.articles_matching(term, true, Match::All, limit)
    }

    /// Templates whose name or keywords mention every word of `term`.
    pub fn search_templates(&self, term: &str, limit: usize) -> Vec<&Template> {
        self.templates_matching(term, Match::All, limit)
    }

    /// Articles suggested for a chat subject: those whose title or keywords share a
    /// word with it.
    pub fn suggest_articles(&self, subject: &str, limit: usize) -> Vec<&KnowledgeArticle> {
        self.articles_matching(subject, false, Match::Any, limit)
    }

    /// Templates suggested for a chat subject.
    pub fn suggest_templates(&self, subject: &str, limit: usize) -> Vec<&Template> {
        self.templates_matching(subject, Match::Any, limit)
    }
}
