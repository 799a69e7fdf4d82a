//! `[notify.email]`: alerts as e-mail over SMTP (lettre, rustls only).
//!
//! Why these rules:
//! - TLS verifies the server's certificate against the system's trust store (as the ntfy
//!   client does), plus `ca_file` for a self-hosted relay with a private CA. There is no
//!   switch to accept an invalid certificate: the password and the page's token travel here.
//! - Plain SMTP (`tls = "none"`) is allowed only to a loopback host: a local relay (postfix,
//!   msmtpd) or a test receiver. Anything else would send the password in clear.
//! - The password comes from the systemd credential `pbal-smtp-password`
//!   (`$CREDENTIALS_DIRECTORY`, `LoadCredential=`) or `password_file`, never from the config
//!   text; a file is refused unless 0600/0400 and owned by the user (the same rule as the IBKR
//!   login, `crate::util::check_private_file`). It is read for each message and dropped.
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Alert, NotifyError};

/// systemd credential name of the SMTP password.
pub const PASSWORD_CREDENTIAL: &str = "pbal-smtp-password";

/// How long one SMTP conversation may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// How the connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTls {
    /// Plain connection upgraded with STARTTLS, which is required (port 587 by default).
    #[default]
    Starttls,
    /// TLS from the first byte ("SMTPS", port 465 by default).
    Tls,
    /// No encryption: loopback hosts only (port 25 by default).
    None,
}

/// `[notify.email]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// The SMTP server.
    pub host: String,
    /// Default: 587 (starttls), 465 (tls), 25 (none).
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: EmailTls,
    /// The sender, e.g. `"pbal <pbal@example.org>"`.
    pub from: String,
    /// One or more recipients.
    pub to: Vec<String>,
    /// SMTP login; needs a password (credential or `password_file`).
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the SMTP password (0600/0400, yours).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Extra trusted CA (PEM) for a relay with a private certificate authority.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// A checked `[notify.email]`, ready to send.
#[derive(Debug)]
pub struct Mailer {
    host: String,
    port: u16,
    tls: EmailTls,
    from: Mailbox,
    to: Vec<Mailbox>,
    username: Option<String>,
    password: Option<PathBuf>,
    ca: Option<Vec<u8>>,
}

fn bad(field: &'static str, message: impl Into<String>) -> NotifyError {
    NotifyError::Email {
        field,
        message: message.into(),
    }
}

/// Loopback names and addresses (where plain SMTP is allowed).
fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where the SMTP password is: the systemd credential wins (it is the copy a sandboxed service
/// can read), else the configured file.
fn locate_password(file: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let p = Path::new(&dir).join(PASSWORD_CREDENTIAL);
        if p.exists() {
            return Some(p);
        }
    }
    file.map(Path::to_owned)
}

impl Mailer {
    /// Checks `[notify.email]`.
    ///
    /// # Errors
    /// [`NotifyError::Email`] naming the field: an address that does not parse, no recipient,
    /// plain SMTP to a non-loopback host, a login without a private password file.
    pub fn from_settings(s: &EmailSettings) -> Result<Self, NotifyError> {
        let host = s.host.trim().to_owned();
        if host.is_empty() {
            return Err(bad("host", "is empty"));
        }
        if s.tls == EmailTls::None && !is_loopback(&host) {
            return Err(bad(
                "tls",
                format!(
                    "\"none\" (plain SMTP) is allowed only to a loopback host, not `{host}`; \
                     use \"starttls\" or \"tls\""
                ),
            ));
        }
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|e| bad("from", format!("`{}`: {e}", s.from)))?;
        if s.to.is_empty() {
            return Err(bad("to", "names no recipient"));
        }
        let to =
            s.to.iter()
                .map(|t| t.parse().map_err(|e| bad("to", format!("`{t}`: {e}"))))
                .collect::<Result<Vec<Mailbox>, _>>()?;
        let username = s
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        let password = locate_password(s.password_file.as_deref());
        match (&username, &password) {
            (Some(_), None) => {
                return Err(bad(
                    "password_file",
                    format!(
                        "a username is set but no password: set password_file or the systemd \
                         credential `{PASSWORD_CREDENTIAL}`"
                    ),
                ));
            }
            (None, Some(_)) if s.password_file.is_some() => {
                return Err(bad("username", "password_file is set but no username"));
            }
            (Some(_), Some(p)) => crate::util::check_private_file(p)
                .map_err(|e| bad("password_file", format!("{}: {e}", p.display())))?,
            _ => {}
        }
        let ca = s
            .ca_file
            .as_ref()
            .map(|p| {
                let pem = std::fs::read(p)
                    .map_err(|e| bad("ca_file", format!("{}: {e}", p.display())))?;
                Certificate::from_pem(&pem)
                    .map_err(|e| bad("ca_file", format!("{}: {e}", p.display())))?;
                Ok::<_, NotifyError>(pem)
            })
            .transpose()?;
        let port = s.port.unwrap_or(match s.tls {
            EmailTls::Starttls => 587,
            EmailTls::Tls => 465,
            EmailTls::None => 25,
        });
        Ok(Self {
            host,
            port,
            tls: s.tls,
            from,
            to,
            username: username.filter(|_| password.is_some()),
            password,
            ca,
        })
    }

    /// "e-mail to … via host:port (tls)", for `pbal check`.
    pub fn describe(&self) -> String {
        let to: Vec<String> = self.to.iter().map(|m| m.email.to_string()).collect();
        let tls = match self.tls {
            EmailTls::Starttls => "STARTTLS",
            EmailTls::Tls => "TLS",
            EmailTls::None => "plain, loopback",
        };
        let login = match (&self.username, &self.password) {
            (Some(u), Some(p)) => format!(", login {u}, password from {}", p.display()),
            _ => String::new(),
        };
        format!(
            "e-mail to {} via {}:{} ({tls}{login})",
            to.join(", "),
            self.host,
            self.port
        )
    }

    /// The e-mail for `alert`: the title as subject, the message, then the link.
    fn message(&self, alert: &Alert, link: Option<&str>) -> Result<Message, String> {
        let mut body = alert.message.clone();
        if let Some(l) = link {
            body.push_str(&format!("\n\nOpen pbal: {l}\n"));
        }
        body.push_str("\n-- \npbal\n");
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(alert.title.clone())
            .header(ContentType::TEXT_PLAIN);
        for t in &self.to {
            b = b.to(t.clone());
        }
        b.body(body)
            .map_err(|e| format!("cannot build the e-mail: {e}"))
    }

    fn tls_parameters(&self) -> Result<TlsParameters, String> {
        let mut p = TlsParameters::builder(self.host.clone());
        if let Some(pem) = &self.ca {
            p = p.add_root_certificate(Certificate::from_pem(pem).map_err(|e| e.to_string())?);
        }
        p.build_rustls().map_err(|e| e.to_string())
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let tls = match self.tls {
            EmailTls::Starttls => Tls::Required(self.tls_parameters()?),
            EmailTls::Tls => Tls::Wrapper(self.tls_parameters()?),
            EmailTls::None => Tls::None,
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.clone())
            .port(self.port)
            .tls(tls)
            .timeout(Some(TIMEOUT));
        if let (Some(user), Some(path)) = (&self.username, &self.password) {
            crate::util::check_private_file(path)
                .map_err(|e| format!("SMTP password {}: {e}", path.display()))?;
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("SMTP password {}: {e}", path.display()))?,
            );
            let password = text.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                return Err(format!("SMTP password {}: empty", path.display()));
            }
            b = b.credentials(Credentials::new(user.clone(), password.to_owned()));
        }
        Ok(b.build())
    }

    /// Sends `alert` to every recipient.
    ///
    /// # Errors
    /// The SMTP or TLS failure (never the password).
    pub async fn send(&self, alert: &Alert, link: Option<&str>) -> Result<(), String> {
        let msg = self.message(alert, link)?;
        let transport = self.transport()?;
        transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP {}:{}: {e}", self.host, self.port))
    }
}
