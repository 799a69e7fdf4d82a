//! `notify.command`: a shell command run with the alert as its last argument.
//!
//! The text (`title: message`) is passed as a positional parameter (`"$@"`), never spliced into
//! the shell text, so quotes or `$(…)` in a message cannot run anything. The link to act on is
//! passed in the environment (`PBAL_ALERT_LINK`), not in the arguments: it carries the approval
//! page's token, and a process's arguments are visible to every local user (`ps`), its
//! environment only to its owner. The argument names the page without the token.
use std::time::Duration;

use super::Alert;

/// Runs `command` for `alert`.
pub(super) async fn run(command: &str, alert: &Alert, link: Option<&str>) -> Result<(), String> {
    let mut text = format!("{}: {}", alert.title, alert.message);
    if let Some(l) = link {
        text.push_str(&format!(
            "\nOpen {} (the link with its token is in $PBAL_ALERT_LINK)",
            without_query(l)
        ));
    }
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(format!("{command} \"$@\""))
        .arg("pbal-notify")
        .arg(&text)
        .env("PBAL_ALERT_SEVERITY", alert.severity.as_str())
        .env("PBAL_ALERT_TITLE", &alert.title)
        .env("PBAL_ALERT_MESSAGE", &alert.message)
        .env_remove("PBAL_ALERT_LINK")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(l) = link {
        cmd.env("PBAL_ALERT_LINK", l);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{command}`: {e}"))?;
    match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("`{command}` exited with {status}")),
        Ok(Err(e)) => Err(format!("`{command}`: {e}")),
        Err(_) => Err(format!("`{command}` did not finish within 30 s")),
    }
}

/// The link without its query (the token) for places others may see.
pub(super) fn without_query(link: &str) -> String {
    match url::Url::parse(link) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => link.split('?').next().unwrap_or_default().to_owned(),
    }
}
