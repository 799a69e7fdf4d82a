//! `notify.webhook`: ntfy's JSON publishing (other webhook receivers get the same
//! self-describing JSON).
//!
//! ntfy's JSON publishing takes the topic in the body and is POSTed to the server root, so
//! `notify.webhook = "https://ntfy.example/pbal"` posts `{"topic":"pbal",…}` to
//! `https://ntfy.example/`. When the alert carries a link (the approval page), it is the
//! notification's click target and a "view" action button: as the JSON fields `click` and
//! `actions` (what ntfy reads from a JSON body) and, for receivers that read ntfy's headers
//! instead, as the `Click` and `Actions` headers too. The link carries the page's token, so it
//! is sent only over https or to a loopback receiver, never over plain http to another host.
use std::time::Duration;

use serde::Serialize;

use super::{Alert, NotifyError, Severity};

/// Where the webhook posts and which topic it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Webhook {
    pub(super) post_url: url::Url,
    pub(super) topic: String,
    /// May the approval page's link (with its token) go here: over https, or to loopback.
    /// Over plain http to another host anyone on the path could read it, so it is left out.
    pub(super) carries_links: bool,
}

impl Webhook {
    /// The link to send, if this webhook may carry it.
    pub(super) fn link<'a>(&self, link: Option<&'a str>) -> Option<&'a str> {
        link.filter(|_| self.carries_links)
    }
}

/// The label of the action button.
const ACTION_LABEL: &str = "Open pbal";

/// One ntfy action button.
#[derive(Serialize)]
struct Action<'a> {
    action: &'static str,
    label: &'static str,
    url: &'a str,
}

/// The ntfy JSON body.
#[derive(Serialize)]
struct Body<'a> {
    topic: &'a str,
    title: &'a str,
    message: &'a str,
    priority: u8,
    tags: [&'a str; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    click: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actions: Vec<Action<'a>>,
}

/// Posts `alert` (with `link` as click target and view action).
pub(super) async fn post(
    client: &reqwest::Client,
    timeout: Duration,
    hook: &Webhook,
    alert: &Alert,
    link: Option<&str>,
) -> Result<(), String> {
    let link = hook.link(link);
    let (priority, tag) = match alert.severity {
        Severity::Info => (3, "white_check_mark"),
        Severity::Warning => (4, "warning"),
        Severity::Critical => (5, "rotating_light"),
    };
    let body = Body {
        topic: &hook.topic,
        title: &alert.title,
        message: &alert.message,
        priority,
        tags: [tag, "pbal"],
        click: link,
        actions: link
            .map(|url| Action {
                action: "view",
                label: ACTION_LABEL,
                url,
            })
            .into_iter()
            .collect(),
    };
    let mut req = client
        .post(hook.post_url.clone())
        .json(&body)
        .timeout(timeout);
    // Header values must be visible ASCII; a link that is not (it never is: pbal builds it)
    // still travels in the JSON body.
    if let Some(l) = link.filter(|l| l.bytes().all(|b| b.is_ascii_graphic())) {
        req = req
            .header("Click", l)
            .header("Actions", format!("view, {ACTION_LABEL}, {l}"));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("POST {}: {e}", redact(&hook.post_url)))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "POST {}: HTTP {}",
            redact(&hook.post_url),
            resp.status()
        ))
    }
}

pub(super) fn parse_webhook(raw: &str) -> Result<Webhook, NotifyError> {
    let err = |message: &str| NotifyError::WebhookUrl {
        url: raw.to_owned(),
        message: message.to_owned(),
    };
    let url = url::Url::parse(raw.trim()).map_err(|e| err(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(err("must be an http(s) URL"));
    }
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    let Some((topic, prefix)) = segments.split_last() else {
        return Err(err(
            "must end with the topic, e.g. https://ntfy.sh/my-pbal-alerts",
        ));
    };
    let mut post_url = url.clone();
    post_url.set_query(None);
    post_url.set_fragment(None);
    post_url.set_path(&format!(
        "/{}",
        prefix.iter().map(|p| format!("{p}/")).collect::<String>()
    ));
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    Ok(Webhook {
        post_url,
        topic: (*topic).to_owned(),
        carries_links: url.scheme() == "https" || loopback,
    })
}

/// The URL without credentials, for logs.
pub(super) fn redact(u: &url::Url) -> String {
    let mut u = u.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}
