//! The gateway cookie jar: persisted (0600) so a restart keeps the session cookies, and
//! de-duplicated by name because the gateway rejects a request carrying two `JSESSIONID`s.
//!
//! REST calls to the local gateway mostly work without cookies, but the login flow (which pbal
//! will run itself later, see `ibkr-sso-login.md`) and some gateway builds need them, so one jar
//! is shared by the API client and a future [`super::session::Login`] implementation.
//! Cookie values are bearer credentials: they are never logged (not even in `Debug`).
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::header::HeaderValue;
use reqwest_cookie_store::{CookieStore, CookieStoreMutex};

use super::error::GatewayError;

/// File name of the jar inside the state directory.
pub const COOKIE_FILE: &str = "cookies.json";

/// A persisted cookie jar that never holds two cookies with the same name.
pub struct CookieJar {
    store: CookieStoreMutex,
    path: PathBuf,
    dirty: AtomicBool,
}

impl std::fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: values are credentials.
        f.debug_struct("CookieJar")
            .field("path", &self.path)
            .field("names", &self.names())
            .finish()
    }
}

impl CookieJar {
    /// Loads `<state_dir>/cookies.json` (missing file: empty jar). Expired cookies are dropped;
    /// session cookies are kept (the gateway session lives in them).
    ///
    /// # Errors
    /// [`GatewayError::CookieJar`] if the file exists but cannot be read or parsed.
    pub fn load(state_dir: &Path) -> Result<Arc<Self>, GatewayError> {
        let path = state_dir.join(COOKIE_FILE);
        let jar_err = |detail: String| GatewayError::CookieJar {
            path: path.clone(),
            detail,
        };
        let store = match std::fs::File::open(&path) {
            Ok(f) => cookie_store::serde::json::load(std::io::BufReader::new(f))
                .map_err(|e| jar_err(format!("{e}; delete the file to start with an empty jar")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CookieStore::new(),
            Err(e) => return Err(jar_err(e.to_string())),
        };
        let jar = Self {
            store: CookieStoreMutex::new(store),
            path,
            dirty: AtomicBool::new(false),
        };
        jar.dedupe_all();
        Ok(Arc::new(jar))
    }

    /// Where the jar is persisted.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Cookie names currently held (for diagnostics; never the values).
    pub fn names(&self) -> Vec<String> {
        self.store
            .lock()
            .map(|s| s.iter_unexpired().map(|c| c.name().to_owned()).collect())
            .unwrap_or_default()
    }

    /// Writes the jar (atomic, 0600) if it changed since the last save.
    ///
    /// # Errors
    /// [`GatewayError::CookieJar`] on I/O failure.
    pub fn save_if_dirty(&self) -> Result<(), GatewayError> {
        if self.dirty.swap(false, Ordering::AcqRel)
            && let Err(e) = self.save()
        {
            self.dirty.store(true, Ordering::Release);
            return Err(e);
        }
        Ok(())
    }

    /// Writes the jar now, including session (non-persistent) cookies.
    ///
    /// # Errors
    /// [`GatewayError::CookieJar`] on I/O failure.
    pub fn save(&self) -> Result<(), GatewayError> {
        let mut buf = Vec::new();
        {
            let store = self.store.lock().map_err(|_| GatewayError::CookieJar {
                path: self.path.clone(),
                detail: "jar lock poisoned".into(),
            })?;
            cookie_store::serde::json::save_incl_expired_and_nonpersistent(&store, &mut buf)
                .map_err(|e| GatewayError::CookieJar {
                    path: self.path.clone(),
                    detail: e.to_string(),
                })?;
        }
        crate::util::atomic_write_private(&self.path, &buf).map_err(|e| GatewayError::CookieJar {
            path: self.path.clone(),
            detail: e.to_string(),
        })
    }

    /// Drops every cookie (e.g. after an explicit logout).
    pub fn clear(&self) {
        if let Ok(mut s) = self.store.lock() {
            s.clear();
            self.dirty.store(true, Ordering::Release);
        }
    }

    /// Keeps one cookie per name (the one stored last wins is not knowable after a reload, so
    /// keep the first seen and drop the rest) — a jar file written by an older version or by
    /// hand must not produce duplicate headers.
    fn dedupe_all(&self) {
        let Ok(mut store) = self.store.lock() else {
            return;
        };
        let mut seen = std::collections::HashSet::new();
        let mut drop = Vec::new();
        for c in store.iter_any() {
            if !seen.insert(c.name().to_owned()) {
                drop.push((
                    String::from(&c.domain),
                    String::from(&c.path),
                    c.name().to_owned(),
                ));
            }
        }
        for (d, p, n) in &drop {
            store.remove(d, p, n);
        }
        if !drop.is_empty() {
            self.dirty.store(true, Ordering::Release);
        }
    }
}

impl reqwest::cookie::CookieStore for CookieJar {
    fn set_cookies(&self, cookie_headers: &mut dyn Iterator<Item = &HeaderValue>, url: &url::Url) {
        let parsed: Vec<cookie_store::RawCookie<'static>> = cookie_headers
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
            .filter_map(|s| cookie_store::RawCookie::parse(s.to_owned()).ok())
            .collect();
        if parsed.is_empty() {
            return;
        }
        let Ok(mut store) = self.store.lock() else {
            return;
        };
        // A new value for a name replaces every older cookie of that name, whatever its
        // domain or path: the gateway must never see two values for one name.
        let names: std::collections::HashSet<String> =
            parsed.iter().map(|c| c.name().to_owned()).collect();
        let stale: Vec<(String, String, String)> = store
            .iter_any()
            .filter(|c| names.contains(c.name()))
            .map(|c| {
                (
                    String::from(&c.domain),
                    String::from(&c.path),
                    c.name().to_owned(),
                )
            })
            .collect();
        for (d, p, n) in &stale {
            store.remove(d, p, n);
        }
        store.store_response_cookies(parsed.into_iter(), url);
        self.dirty.store(true, Ordering::Release);
    }

    fn cookies(&self, url: &url::Url) -> Option<HeaderValue> {
        let store = self.store.lock().ok()?;
        let mut seen = std::collections::HashSet::new();
        let header = store
            .get_request_values(url)
            .filter(|(name, _)| seen.insert(name.to_string()))
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        if header.is_empty() {
            return None;
        }
        let mut v = HeaderValue::from_str(&header).ok()?;
        v.set_sensitive(true);
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::cookie::CookieStore as _;
    use std::os::unix::fs::PermissionsExt;

    fn set(jar: &CookieJar, url: &str, header: &str) {
        let v = HeaderValue::from_str(header).unwrap();
        jar.set_cookies(&mut std::iter::once(&v), &url::Url::parse(url).unwrap());
    }

    #[test]
    fn one_value_per_name_even_across_paths() {
        let dir = tempfile::tempdir().unwrap();
        let jar = CookieJar::load(dir.path()).unwrap();
        set(
            &jar,
            "https://localhost:5000/sso/Login",
            "JSESSIONID=one; Path=/sso",
        );
        set(
            &jar,
            "https://localhost:5000/v1/api/x",
            "JSESSIONID=two; Path=/",
        );
        let h = jar
            .cookies(&url::Url::parse("https://localhost:5000/sso/Login").unwrap())
            .unwrap();
        assert_eq!(h.to_str().unwrap(), "JSESSIONID=two");
        assert_eq!(jar.names(), vec!["JSESSIONID"]);
    }

    #[test]
    fn persists_session_cookies_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let jar = CookieJar::load(dir.path()).unwrap();
        set(&jar, "https://localhost:5000/", "SBID=abc; Path=/");
        jar.save_if_dirty().unwrap();
        let p = dir.path().join(COOKIE_FILE);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = CookieJar::load(dir.path()).unwrap();
        let h = again
            .cookies(&url::Url::parse("https://localhost:5000/v1/api/tickle").unwrap())
            .unwrap();
        assert_eq!(h.to_str().unwrap(), "SBID=abc");
        assert!(!format!("{again:?}").contains("abc"));
    }

    #[test]
    fn corrupt_jar_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(COOKIE_FILE), "{not json").unwrap();
        let e = CookieJar::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("cookies.json"), "{e}");
    }
}
