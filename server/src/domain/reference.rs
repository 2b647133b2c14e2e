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

/// Reference data indexed for lookups.
#[derive(Clone, Debug, Default)]
pub(crate) struct Library {
    pub articles: BTreeMap<ArticleId, KnowledgeArticle>,
    pub templates: BTreeMap<TemplateId, Template>,
    pub outages: Vec<Outage>,
    pub customers: BTreeMap<String, Customer>,
}

impl Library {
    pub fn new(data: ReferenceData) -> Self {
        Library {
            articles: data
                .articles
                .into_iter()
                .map(|a| (a.id.clone(), a))
                .collect(),
            templates: data
                .templates
                .into_iter()
                .map(|t| (t.id.clone(), t))
                .collect(),
            outages: data.outages,
            customers: data
                .customers
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect(),
        }
    }

    /// Articles whose title, keywords or body mention every word of `term`.
    pub fn search_articles(&self, term: &str, limit: usize) -> Vec<&KnowledgeArticle> {
        let words = words(term);
        self.articles
            .values()
            .filter(|a| {
                let hay = format!("{} {} {}", a.title, a.keywords.join(" "), a.body).to_lowercase();
                words.iter().all(|w| hay.contains(w.as_str()))
            })
            .take(limit)
            .collect()
    }

    /// Templates whose name or keywords mention every word of `term`.
    pub fn search_templates(&self, term: &str, limit: usize) -> Vec<&Template> {
        let words = words(term);
        self.templates
            .values()
            .filter(|t| {
                let hay = format!("{} {}", t.name, t.keywords.join(" ")).to_lowercase();
                words.iter().all(|w| hay.contains(w.as_str()))
            })
            .take(limit)
            .collect()
    }

    /// Articles suggested for a chat subject: those sharing any word with it.
    pub fn suggest_articles(&self, subject: &str, limit: usize) -> Vec<&KnowledgeArticle> {
        let words = words(subject);
        self.articles
            .values()
            .filter(|a| {
                let hay = format!("{} {}", a.title, a.keywords.join(" ")).to_lowercase();
                words
                    .iter()
                    .any(|w| w.len() > 2 && hay.contains(w.as_str()))
            })
            .take(limit)
            .collect()
    }

    /// Templates suggested for a chat subject.
    pub fn suggest_templates(&self, subject: &str, limit: usize) -> Vec<&Template> {
        let words = words(subject);
        self.templates
            .values()
            .filter(|t| {
                let hay = format!("{} {}", t.name, t.keywords.join(" ")).to_lowercase();
                words
                    .iter()
                    .any(|w| w.len() > 2 && hay.contains(w.as_str()))
            })
            .take(limit)
            .collect()
    }
}

fn words(term: &str) -> Vec<String> {
    term.split_whitespace().map(str::to_lowercase).collect()
}
