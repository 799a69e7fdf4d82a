//! Reaching a human: `notify.command` (run with the message as its last argument),
//! `notify.webhook` (an ntfy-compatible JSON POST) and `[notify.email]` (SMTP).
//!
//! Why three: a desktop user wires `notify-send` or `osascript` in one line; a headless server
//! posts to an ntfy topic that reaches a phone; e-mail reaches everyone and keeps a record. A
//! failed notification is logged and never stops the daemon — the journal stays the record of
//! what happened; alerts are best effort.
//!
//! Alerts are meant to be acted on: an [`Alert`] may carry a link (the approval page with its
//! token, see [`Notifier::with_page_link`]), which ntfy shows as the notification's click target
//! and a "view" action button, and the e-mail puts under the message. An alert with a cause
//! ([`Alert::with_cause`]) is sent at most once per cause: the [`ledger`] remembers, in a 0600
//! file in the state dir, the last cause sent for each kind, so neither the next tick nor a
//! restart repeats it, while a new cause (another period, plan or reason) alerts again.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod command;
pub mod email;
pub mod ledger;
pub mod messages;
mod ntfy;

pub use email::EmailSettings;
use ledger::Ledger;

/// `[notify]`: how the daemon reaches a human.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// A command run with the message as its last argument.
    pub command: Option<String>,
    /// An ntfy-compatible URL that receives a JSON POST.
    pub webhook: Option<String>,
    /// E-mail over SMTP (`[notify.email]`).
    #[serde(default)]
    pub email: Option<EmailSettings>,
}

/// How loudly to alert (maps to ntfy priorities 3, 4, 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Routine: a run completed.
    Info,
    /// Needs attention soon: a pre-flight problem, a login needed.
    Warning,
    /// Something did not happen: a period missed, a run refused.
    Critical,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// The alert kinds pbal sends with a cause (see [`Alert::with_cause`]); one constant each so a
/// kind is spelled the same at every call site and in the ledger file.
pub mod kind {
    /// A plan waits for approval; cause: the staged plan id.
    pub const PLAN_STAGED: &str = "plan-staged";
    /// A run finished (completed, partial, dry-run…); cause: the run id.
    pub const RUN_FINISHED: &str = "run-finished";
    /// A scheduled run waits for a brokerage login; cause: period and reason.
    pub const LOGIN_NEEDED: &str = "login-needed";
    /// Something stops the daemon from doing its work until a human acts (automatic logins
    /// stopped, an order of unknown fate…); cause: the reason.
    pub const DAEMON_BLOCKED: &str = "daemon-blocked";
    /// A period closed without a rebalance; cause: the period.
    pub const PERIOD_MISSED: &str = "period-missed";
    /// The pre-flight check found problems; cause: period and problems.
    pub const PREFLIGHT: &str = "preflight";
}

/// Why an alert is sent: its kind and the cause within that kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub kind: String,
    pub key: String,
}

/// One message to a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub severity: Severity,
    pub title: String,
    pub message: String,
    /// A link to act on (shown as the ntfy click target and action, under the e-mail text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Link to the approval page when the notifier knows it ([`Notifier::with_page_link`]) and
    /// no explicit [`Alert::link`] is set. The sender of an alert need not know the page's
    /// address or token (the scheduler does not).
    #[serde(skip)]
    pub page: bool,
    /// Sent at most once per cause (absent: every time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

impl Alert {
    pub fn new(severity: Severity, title: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity,
            title: title.into(),
            message: message.into(),
            link: None,
            page: false,
            cause: None,
        }
    }

    /// Carries `url` as the thing to open.
    #[must_use]
    pub fn with_link(mut self, url: impl Into<String>) -> Self {
        self.link = Some(url.into());
        self
    }

    /// Links to the approval page, if the notifier knows it.
    #[must_use]
    pub fn with_page(mut self) -> Self {
        self.page = true;
        self
    }

    /// Sends this alert at most once for `key` within `kind` (see [`kind`]): the same cause
    /// again is dropped, a different one is sent and becomes the one remembered.
    #[must_use]
    pub fn with_cause(mut self, kind: impl Into<String>, key: impl Into<String>) -> Self {
        self.cause = Some(Cause {
            kind: kind.into(),
            key: key.into(),
        });
        self
    }
}

/// Anything that can deliver an [`Alert`]: the real [`Notifier`], or a recorder in tests.
pub trait Notify: Send + Sync {
    /// Delivers the alert on every configured channel. Never fails: errors are logged.
    fn notify(&self, alert: &Alert) -> impl Future<Output = ()> + Send;
}

impl<T: Notify> Notify for std::sync::Arc<T> {
    fn notify(&self, alert: &Alert) -> impl Future<Output = ()> + Send {
        (**self).notify(alert)
    }
}

/// Configuration problems with `[notify]`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    #[error("notify.webhook `{url}`: {message}")]
    WebhookUrl { url: String, message: String },
    #[error("notify: cannot build the HTTP client: {0}")]
    Client(String),
    #[error("notify.email.{field}: {message}")]
    Email {
        field: &'static str,
        message: String,
    },
}

/// The configured channels.
#[derive(Debug, Clone)]
pub struct Notifier {
    command: Option<String>,
    webhook: Option<ntfy::Webhook>,
    email: Option<Arc<email::Mailer>>,
    client: reqwest::Client,
    timeout: Duration,
    page_link: Option<String>,
    ledger: Arc<Ledger>,
}

impl Notifier {
    /// Builds the notifier from `[notify]`. Causes are remembered in memory only until
    /// [`Notifier::with_ledger_in`] names the state dir.
    ///
    /// # Errors
    /// [`NotifyError::WebhookUrl`] when the URL is not http(s) or names no topic;
    /// [`NotifyError::Email`] for an unusable `[notify.email]` (address, TLS, password file).
    pub fn from_settings(s: &NotifySettings) -> Result<Self, NotifyError> {
        let webhook = s
            .webhook
            .as_deref()
            .filter(|w| !w.trim().is_empty())
            .map(ntfy::parse_webhook)
            .transpose()?;
        if let Some(h) = webhook.as_ref().filter(|h| !h.carries_links) {
            tracing::warn!(
                url = %ntfy::redact(&h.post_url),
                "notify.webhook is plain http to another host: alerts go without the approval \
                 page's link (it carries the page's token); use https"
            );
        }
        let email = s
            .email
            .as_ref()
            .map(email::Mailer::from_settings)
            .transpose()?
            .map(Arc::new);
        // reqwest is built without a default crypto provider (ring is ours; see AGENTS.md).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_secs(10);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("pbal/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Client(e.to_string()))?;
        Ok(Self {
            command: s.command.clone().filter(|c| !c.trim().is_empty()),
            webhook,
            email,
            client,
            timeout,
            page_link: None,
            ledger: Arc::new(Ledger::in_memory()),
        })
    }

    /// Remembers the causes sent in `state_dir/alerts-sent.json` (0600), so a restart does not
    /// repeat an alert.
    #[must_use]
    pub fn with_ledger_in(mut self, state_dir: &Path) -> Self {
        self.ledger = Arc::new(Ledger::open(state_dir.join(ledger::FILE)));
        self
    }

    /// The approval page's link (with its token) for alerts made [`Alert::with_page`].
    #[must_use]
    pub fn with_page_link(mut self, link: Option<String>) -> Self {
        self.page_link = link;
        self
    }

    /// True if no channel is configured (alerts only reach the log).
    pub fn is_silent(&self) -> bool {
        self.command.is_none() && self.webhook.is_none() && self.email.is_none()
    }

    /// The configured channels in one line, for `pbal check` (no secret, no token).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.command.is_some() {
            parts.push("command".to_owned());
        }
        if let Some(h) = &self.webhook {
            parts.push(format!("ntfy topic `{}`", h.topic));
        }
        if let Some(m) = &self.email {
            parts.push(m.describe());
        }
        if parts.is_empty() {
            "no channel configured: alerts only reach the log".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// The link this alert carries, if any.
    fn link_for(&self, alert: &Alert) -> Option<String> {
        alert
            .link
            .clone()
            .or_else(|| alert.page.then(|| self.page_link.clone()).flatten())
    }

    /// Delivers on every channel; true if at least one took it (or none is configured).
    async fn deliver(&self, alert: &Alert, link: Option<&str>) -> bool {
        let mut delivered = self.is_silent();
        if let Some(cmd) = &self.command {
            match command::run(cmd, alert, link).await {
                Ok(()) => delivered = true,
                Err(e) => tracing::warn!(error = %e, "notify.command failed"),
            }
        }
        if let Some(hook) = &self.webhook {
            match ntfy::post(&self.client, self.timeout, hook, alert, link).await {
                Ok(()) => delivered = true,
                Err(e) => tracing::warn!(error = %e, "notify.webhook failed"),
            }
        }
        if let Some(mailer) = &self.email {
            match mailer.send(alert, link).await {
                Ok(()) => delivered = true,
                Err(e) => tracing::warn!(error = %e, "notify.email failed"),
            }
        }
        delivered
    }
}

impl Notify for Notifier {
    async fn notify(&self, alert: &Alert) {
        let claim = match &alert.cause {
            Some(c) => match self.ledger.claim(&c.kind, &c.key) {
                Some(claim) => Some(claim),
                None => {
                    tracing::debug!(kind = %c.kind, title = %alert.title, "alert already sent for this cause");
                    return;
                }
            },
            None => None,
        };
        // The link is not logged: it carries the page's token.
        match alert.severity {
            Severity::Info => {
                tracing::info!(title = %alert.title, message = %alert.message, "alert")
            }
            Severity::Warning => {
                tracing::warn!(title = %alert.title, message = %alert.message, "alert")
            }
            Severity::Critical => {
                tracing::error!(title = %alert.title, message = %alert.message, "alert")
            }
        }
        let link = self.link_for(alert);
        let delivered = self.deliver(alert, link.as_deref()).await;
        if let Some(claim) = claim {
            // Undelivered on every channel: the next occurrence of the cause tries again.
            if delivered {
                self.ledger.commit(claim);
            } else {
                self.ledger.release(claim);
            }
        }
    }
}

#[cfg(test)]
mod fake_smtp;
#[cfg(test)]
mod tests;
