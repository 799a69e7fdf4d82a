//! Where the login secrets come from, and the checks before they are believed.
//!
//! Never the config file: the password and the TOTP secret are read from a file named in the
//! config (refused unless mode 0600/0400 and owned by the user running pbal), from a systemd
//! credential (`$CREDENTIALS_DIRECTORY/<name>`, `LoadCredential=` in the generated unit), or
//! from an environment variable (containers). They are read at each login and dropped (wiped)
//! right after it, so the daemon holds no secret between logins.
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::totp::TotpKey;

/// systemd credential name of the password.
pub const PASSWORD_CREDENTIAL: &str = "pbal-ibkr-password";
/// systemd credential name of the TOTP secret.
pub const TOTP_CREDENTIAL: &str = "pbal-ibkr-totp-secret";
/// Environment variable with the password (containers).
pub const PASSWORD_ENV: &str = "PBAL_IBKR_PASSWORD";
/// Environment variable with the TOTP secret (containers).
pub const TOTP_ENV: &str = "PBAL_IBKR_TOTP_SECRET";

/// One secret's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file (mode 0600/0400, owned by the user).
    File(PathBuf),
    /// A systemd credential: `$CREDENTIALS_DIRECTORY/<name>`.
    Systemd(PathBuf),
    /// An environment variable (its name).
    Env(String),
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::File(p) => write!(f, "file {}", p.display()),
            SecretSource::Systemd(p) => write!(f, "systemd credential {}", p.display()),
            SecretSource::Env(v) => write!(f, "environment variable {v}"),
        }
    }
}

impl SecretSource {
    /// The first configured source of a secret: the systemd credential `credential` if
    /// `$CREDENTIALS_DIRECTORY` has it (under systemd the unit's `LoadCredential=` copy of the
    /// configured file is the one the sandboxed service can read), else the named file, else
    /// the environment variable `env`.
    pub fn locate(file: Option<&Path>, credential: &str, env: &str) -> Option<SecretSource> {
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let p = Path::new(&dir).join(credential);
            if p.exists() {
                return Some(SecretSource::Systemd(p));
            }
        }
        if let Some(f) = file {
            return Some(SecretSource::File(f.to_owned()));
        }
        std::env::var_os(env).map(|_| SecretSource::Env(env.to_owned()))
    }

    /// Reads the secret (trailing newline removed).
    ///
    /// # Errors
    /// [`CredentialError`] naming the source: unreadable, too open, someone else's, empty.
    pub fn read(&self) -> Result<SecretString, CredentialError> {
        let text = match self {
            SecretSource::File(p) | SecretSource::Systemd(p) => {
                check_private(p).map_err(|detail| self.err(detail))?;
                Zeroizing::new(std::fs::read_to_string(p).map_err(|e| self.err(e.to_string()))?)
            }
            SecretSource::Env(v) => Zeroizing::new(
                std::env::var(v).map_err(|_| self.err("not set or not UTF-8".into()))?,
            ),
        };
        let trimmed = text.trim_end_matches(['\n', '\r']);
        if trimmed.is_empty() {
            return Err(self.err("empty".into()));
        }
        Ok(SecretString::from(trimmed.to_owned()))
    }

    fn err(&self, detail: String) -> CredentialError {
        CredentialError {
            origin: self.to_string(),
            detail,
        }
    }
}

/// A secret that cannot be used (message names the source, never the value).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("login credential ({origin}): {detail}")]
pub struct CredentialError {
    pub origin: String,
    pub detail: String,
}

/// The shared rule for secret files ([`crate::util::check_private_file`]).
fn check_private(path: &Path) -> Result<(), String> {
    crate::util::check_private_file(path)
}

/// Where the username and secrets come from (no secret held).
#[derive(Debug, Clone)]
pub struct CredentialSources {
    pub username: String,
    pub password: SecretSource,
    pub totp_secret: Option<SecretSource>,
}

/// The secrets for one login; wiped on drop.
pub struct Credentials {
    pub username: String,
    pub password: SecretString,
    pub totp: Option<TotpKey>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("totp", &self.totp.is_some())
            .finish_non_exhaustive()
    }
}

impl CredentialSources {
    /// Reads every secret now.
    ///
    /// # Errors
    /// The first unusable secret (including a TOTP secret that is not base32).
    pub fn load(&self) -> Result<Credentials, CredentialError> {
        let password = self.password.read()?;
        let totp = match &self.totp_secret {
            Some(src) => Some(
                TotpKey::from_base32(&src.read()?).map_err(|e| CredentialError {
                    origin: src.to_string(),
                    detail: e.to_string(),
                })?,
            ),
            None => None,
        };
        Ok(Credentials {
            username: self.username.clone(),
            password,
            totp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::os::unix::fs::PermissionsExt;

    fn file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn private_files_are_read_and_open_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ok = file(dir.path(), "pw", "s3cret pass\n", 0o600);
        let ro = file(dir.path(), "ro", "s3cret pass", 0o400);
        let open = file(dir.path(), "open", "s3cret pass\n", 0o644);
        let group = file(dir.path(), "group", "x", 0o640);
        let empty = file(dir.path(), "empty", "\n", 0o600);
        let read = |p: &PathBuf| SecretSource::File(p.clone()).read();
        assert_eq!(read(&ok).unwrap().expose_secret(), "s3cret pass");
        assert_eq!(read(&ro).unwrap().expose_secret(), "s3cret pass");
        let e = read(&open).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(read(&group).is_err());
        assert!(read(&empty).unwrap_err().to_string().contains("empty"));
        assert!(read(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn sources_and_debug() {
        let dir = tempfile::tempdir().unwrap();
        let pw = file(dir.path(), "pw", "hunter22", 0o600);
        let totp = file(dir.path(), "totp", "JBSWY3DPEHPK3PXP\n", 0o600);
        let bad = file(dir.path(), "bad", "not base32!", 0o600);
        let s = CredentialSources {
            username: "apiuser".into(),
            password: SecretSource::File(pw.clone()),
            totp_secret: Some(SecretSource::File(totp)),
        };
        let c = s.load().unwrap();
        assert_eq!(c.totp.as_ref().unwrap().code_at(1_700_000_000), "324550");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter22") && shown.contains("apiuser"));
        let s = CredentialSources {
            totp_secret: Some(SecretSource::File(bad)),
            ..s
        };
        assert!(s.load().unwrap_err().detail.contains("base32"));
        assert_eq!(
            SecretSource::locate(Some(&pw), PASSWORD_CREDENTIAL, "PBAL_TEST_UNSET_VAR"),
            Some(SecretSource::File(pw))
        );
    }
}
