//! Reaching a human: `notify.command` (run with the message as its last argument) and/or
//! `notify.webhook` (an ntfy-compatible JSON POST).
//!
//! Why both: a desktop user wires `notify-send` or `osascript` in one line; a headless server
//! posts to an ntfy topic that reaches a phone. A failed notification is logged and never
//! stops the daemon — the journal stays the record of what happened; alerts are best effort.
//!
//! ntfy's JSON publishing takes the topic in the body and is POSTed to the server root, so
//! `notify.webhook = "https://ntfy.example/pbal"` posts `{"topic":"pbal",…}` to
//! `https://ntfy.example/`. Other webhook receivers get the same self-describing JSON.
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[notify]`: how the daemon reaches a human.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// A command run with the message as its last argument.
    pub command: Option<String>,
    /// An ntfy-compatible URL that receives a JSON POST.
    pub webhook: Option<String>,
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

/// One message to a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub severity: Severity,
    pub title: String,
    pub message: String,
}

impl Alert {
    pub fn new(severity: Severity, title: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity,
            title: title.into(),
            message: message.into(),
        }
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
}

/// Where the webhook posts and which topic it names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Webhook {
    post_url: url::Url,
    topic: String,
}

/// The configured channels.
#[derive(Debug, Clone)]
pub struct Notifier {
    command: Option<String>,
    webhook: Option<Webhook>,
    client: reqwest::Client,
    timeout: Duration,
}

/// The ntfy JSON body.
#[derive(Serialize)]
struct NtfyBody<'a> {
    topic: &'a str,
    title: &'a str,
    message: &'a str,
    priority: u8,
    tags: [&'a str; 2],
}

impl Notifier {
    /// Builds the notifier from `[notify]`.
    ///
    /// # Errors
    /// [`NotifyError::WebhookUrl`] when the URL is not http(s) or names no topic.
    pub fn from_settings(s: &NotifySettings) -> Result<Self, NotifyError> {
        let webhook = s
            .webhook
            .as_deref()
            .filter(|w| !w.trim().is_empty())
            .map(parse_webhook)
            .transpose()?;
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
            client,
            timeout,
        })
    }

    /// True if no channel is configured (alerts only reach the log).
    pub fn is_silent(&self) -> bool {
        self.command.is_none() && self.webhook.is_none()
    }

    async fn run_command(&self, command: &str, alert: &Alert) -> Result<(), String> {
        let text = format!("{}: {}", alert.title, alert.message);
        // The message is passed as a positional parameter ("$@"), never spliced into the
        // shell text, so quotes or `$(…)` in a message cannot run anything.
        let mut child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{command} \"$@\""))
            .arg("pbal-notify")
            .arg(&text)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start `{command}`: {e}"))?;
        match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(format!("`{command}` exited with {status}")),
            Ok(Err(e)) => Err(format!("`{command}`: {e}")),
            Err(_) => Err(format!("`{command}` did not finish within 30 s")),
        }
    }

    async fn post_webhook(&self, hook: &Webhook, alert: &Alert) -> Result<(), String> {
        let (priority, tag) = match alert.severity {
            Severity::Info => (3, "white_check_mark"),
            Severity::Warning => (4, "warning"),
            Severity::Critical => (5, "rotating_light"),
        };
        let body = NtfyBody {
            topic: &hook.topic,
            title: &alert.title,
            message: &alert.message,
            priority,
            tags: [tag, "pbal"],
        };
        let resp = self
            .client
            .post(hook.post_url.clone())
            .json(&body)
            .timeout(self.timeout)
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
}

impl Notify for Notifier {
    async fn notify(&self, alert: &Alert) {
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
        if let Some(cmd) = &self.command
            && let Err(e) = self.run_command(cmd, alert).await
        {
            tracing::warn!(error = %e, "notify.command failed");
        }
        if let Some(hook) = &self.webhook
            && let Err(e) = self.post_webhook(hook, alert).await
        {
            tracing::warn!(error = %e, "notify.webhook failed");
        }
    }
}

fn parse_webhook(raw: &str) -> Result<Webhook, NotifyError> {
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
    Ok(Webhook {
        post_url,
        topic: (*topic).to_owned(),
    })
}

/// The URL without credentials, for logs.
fn redact(u: &url::Url) -> String {
    let mut u = u.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn settings(command: Option<String>, webhook: Option<String>) -> NotifySettings {
        NotifySettings { command, webhook }
    }

    #[test]
    fn webhook_topic_is_the_last_path_segment() {
        let w = parse_webhook("https://ntfy.example/pbal-alerts").unwrap();
        assert_eq!(w.post_url.as_str(), "https://ntfy.example/");
        assert_eq!(w.topic, "pbal-alerts");
        let w = parse_webhook("http://127.0.0.1:8080/ntfy/alerts/").unwrap();
        assert_eq!(w.post_url.as_str(), "http://127.0.0.1:8080/ntfy/");
        assert_eq!(w.topic, "alerts");
        for bad in ["https://ntfy.example/", "ftp://x/y", "not a url"] {
            let e = parse_webhook(bad).unwrap_err().to_string();
            assert!(e.contains("notify.webhook"), "{e}");
        }
    }

    #[tokio::test]
    async fn command_receives_the_message_as_one_argument_without_shell_expansion() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.txt");
        let cmd = format!("printf '%s|' >> '{}'", out.display());
        let n = Notifier::from_settings(&settings(Some(cmd), None)).unwrap();
        let pwned = dir.path().join("pwned");
        let message = format!("due; $(touch '{}') \"quoted\" `id`", pwned.display());
        n.notify(&Alert::new(Severity::Warning, "Login needed", &message))
            .await;
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("Login needed: {message}|")
        );
        assert!(!pwned.exists());
    }

    #[tokio::test]
    async fn failing_command_does_not_panic_or_block() {
        let n = Notifier::from_settings(&settings(Some("exit 3; true".into()), None)).unwrap();
        n.notify(&Alert::new(Severity::Info, "t", "m")).await;
    }

    #[tokio::test]
    async fn webhook_posts_ntfy_json_to_the_server_root() {
        let seen: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
        let seen2 = seen.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, axum::Json(body): axum::Json<serde_json::Value>| {
                let seen = seen2.clone();
                async move {
                    seen.lock().unwrap().push((uri.path().to_owned(), body));
                    "ok"
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let n = Notifier::from_settings(&settings(None, Some(format!("http://{addr}/pbal-test"))))
            .unwrap();
        n.notify(&Alert::new(
            Severity::Critical,
            "Period 2027-Q1 missed",
            "no login within 6 h",
        ))
        .await;
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (path, body) = &seen[0];
        assert_eq!(path, "/");
        assert_eq!(body["topic"], "pbal-test");
        assert_eq!(body["title"], "Period 2027-Q1 missed");
        assert_eq!(body["message"], "no login within 6 h");
        assert_eq!(body["priority"], 5);
        assert_eq!(body["tags"][1], "pbal");
    }

    #[tokio::test]
    async fn unreachable_webhook_is_logged_not_fatal() {
        // Port 1 on loopback: connection refused at once.
        let n =
            Notifier::from_settings(&settings(None, Some("http://127.0.0.1:1/t".into()))).unwrap();
        assert!(!n.is_silent());
        n.notify(&Alert::new(Severity::Info, "t", "m")).await;
    }
}
