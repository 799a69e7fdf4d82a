//! TOTP codes for IBKR's "Mobile Authenticator" second factor (RFC 6238: HMAC-SHA-1, 30 s
//! steps, 6 digits), and the rule for *when* a code may be sent.
//!
//! Why not just "the current code": a code sent with 2 s left may arrive after its step ended,
//! and the same code sent twice can be refused as a replay (IBeam waits for a fresh step when
//! fewer than 8 s remain; `ibkr-sso-login.md` §4.3). So [`next_step`] only hands out a step
//! with at least [`MIN_REMAINING_SECS`] left that was never used before; the caller persists
//! the last used step so a restart does not reuse it either. RFC 6238 is a few lines over the
//! maintained `hmac`/`sha1` crates.
use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha1::Sha1;

/// Seconds per TOTP step.
pub const STEP_SECS: u64 = 30;
/// A step with fewer seconds left than this is skipped (IBeam's default buffer).
pub const MIN_REMAINING_SECS: u64 = 8;

/// Why a TOTP secret is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TotpError {
    #[error("the TOTP secret is not base32 (the text Account Management shows under the QR code)")]
    NotBase32,
    #[error("the TOTP secret is empty")]
    Empty,
}

/// A decoded TOTP key. Wiped on drop, never printed.
pub struct TotpKey(SecretBox<Vec<u8>>);

impl std::fmt::Debug for TotpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpKey(..)")
    }
}

impl TotpKey {
    /// Decodes the base32 secret as shown by authenticator enrolment: case, spaces, dashes
    /// and `=` padding are ignored.
    ///
    /// # Errors
    /// [`TotpError`] for an empty or non-base32 secret.
    pub fn from_base32(secret: &SecretString) -> Result<Self, TotpError> {
        let cleaned: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(
            secret
                .expose_secret()
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-' && *c != '=')
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        if cleaned.is_empty() {
            return Err(TotpError::Empty);
        }
        let key = data_encoding::BASE32_NOPAD
            .decode(cleaned.as_bytes())
            .map_err(|_| TotpError::NotBase32)?;
        Ok(TotpKey(SecretBox::new(Box::new(key))))
    }

    /// The 6-digit code of `step` (= unix time / 30).
    pub fn code(&self, step: u64) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match Hmac::<Sha1>::new_from_slice(self.0.expose_secret()) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[19] & 0x0f);
        let bin = u32::from_be_bytes([
            digest[offset] & 0x7f,
            digest[offset + 1],
            digest[offset + 2],
            digest[offset + 3],
        ]);
        format!("{:06}", bin % 1_000_000)
    }

    /// The code for a unix time.
    pub fn code_at(&self, unix_secs: u64) -> String {
        self.code(unix_secs / STEP_SECS)
    }
}

/// Which step may be used at `now_unix`, or how long to wait first: the current step if it
/// has at least [`MIN_REMAINING_SECS`] left and is newer than `last_used`; otherwise `Err`
/// with the wait until the next step starts (call again after it).
pub fn next_step(now_unix: u64, last_used: Option<u64>) -> Result<u64, Duration> {
    let step = now_unix / STEP_SECS;
    let remaining = STEP_SECS - now_unix % STEP_SECS;
    if remaining < MIN_REMAINING_SECS || last_used.is_some_and(|l| l >= step) {
        let next_start = match last_used {
            Some(l) if l >= step => (l + 1) * STEP_SECS,
            _ => (step + 1) * STEP_SECS,
        };
        return Err(Duration::from_secs(next_start - now_unix));
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> TotpKey {
        TotpKey::from_base32(&SecretString::from(s)).unwrap()
    }

    #[test]
    fn reference_vectors() {
        assert_eq!(key("JBSWY3DPEHPK3PXP").code_at(1_700_000_000), "324550");
        // RFC 6238 test key "12345678901234567890", T = 59 → 94287082 (8 digits).
        assert_eq!(
            key("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").code_at(59),
            "287082"
        );
        // Lower case, spaces and padding as people paste them.
        assert_eq!(key("jbsw y3dp ehpk 3pxp").code_at(1_700_000_000), "324550");
        assert_eq!(
            key("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====").code_at(59),
            "287082"
        );
    }

    #[test]
    fn bad_secrets_are_named() {
        let bad = TotpKey::from_base32(&SecretString::from("not base32!"));
        assert_eq!(bad.unwrap_err(), TotpError::NotBase32);
        let empty = TotpKey::from_base32(&SecretString::from("  "));
        assert_eq!(empty.unwrap_err(), TotpError::Empty);
        assert_eq!(format!("{:?}", key("JBSWY3DPEHPK3PXP")), "TotpKey(..)");
    }

    #[test]
    fn a_step_needs_eight_seconds_left() {
        // 1_700_000_000 is 20 s into step 56_666_666 (10 s left): usable.
        assert_eq!(next_step(1_700_000_000, None), Ok(56_666_666));
        // 23 s in (7 left): wait for the next step.
        assert_eq!(next_step(1_700_000_003, None), Err(Duration::from_secs(7)));
        // Exactly 8 left: usable.
        assert_eq!(next_step(1_700_000_002, None), Ok(56_666_666));
    }

    #[test]
    fn a_used_step_is_never_used_again() {
        let step = next_step(1_700_000_000, None).unwrap();
        assert_eq!(
            next_step(1_700_000_001, Some(step)),
            Err(Duration::from_secs(9))
        );
        // After the wait the next step is handed out.
        assert_eq!(next_step(1_700_000_010, Some(step)), Ok(step + 1));
        // A persisted step from the future (clock stepped back) is waited out too.
        assert_eq!(
            next_step(1_700_000_010, Some(step + 1)),
            Err(Duration::from_secs(30))
        );
    }
}
