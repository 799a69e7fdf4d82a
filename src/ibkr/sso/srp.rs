//! The client side of IBKR's SRP-6 password exchange (`ibkr-sso-login.md` §2), exactly as the
//! login page computes it.
//!
//! Why a hand-written SRP and not an SRP crate: IBKR's variant is SRP-6 (k = 3, no padding of
//! A and B to N's length, unlike RFC 5054 / SRP-6a) with page-script quirks — hex strings made
//! even by prepending `0`, one leading `00` byte dropped ("vhv"), the identity lower-cased, the
//! password cut to 8 characters unless the server says `lp=true`. Generic crates implement
//! 6a and would compute different values. The math is small; the big integers and SHA-1 come
//! from maintained crates (`num-bigint`, `sha1`). Every value is checked against the §9
//! vectors in the tests below.
//!
//! Secrets (a, x, S, K, the cookie value) live in `Zeroizing` wrappers and are wiped on drop;
//! `Debug` never prints them.
use num_bigint_dig::BigUint;
use num_traits::{One, Zero};
use secrecy::{ExposeSecret, SecretString};
use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

/// The group every known client ships and IBKR returns in `ini_params/N` (512-bit safe prime).
pub const DEFAULT_N_HEX: &str = "d4c7f8a2b32c11b8fba9581ec4ba4f1b04215642ef7355e37c0fc0443ef756ea2c6b8eeb755a1c723027663caa265ef785b8ff6a9b35227a52d86633dbdfca43";

/// Why the SRP step cannot go on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SrpError {
    #[error("the login server sent an invalid {field}: {detail}")]
    BadParam { field: &'static str, detail: String },
    #[error("the login server asks for SRP variant `{0}`; pbal speaks the variant IBKR uses (`6`)")]
    UnsupportedProto(String),
}

/// A group (N, g). Clients must use what the server sends (reference §1.1).
#[derive(Clone, PartialEq, Eq)]
pub struct Group {
    pub n: BigUint,
    pub g: BigUint,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Group(N={} bits, g={})", self.n.bits(), self.g)
    }
}

impl Default for Group {
    fn default() -> Self {
        Group {
            // The constant is valid hex; a failure here is a typo caught by every test.
            n: parse_hex(DEFAULT_N_HEX).unwrap_or_default(),
            g: BigUint::from(2u32),
        }
    }
}

// ------------------------------------------------------------------ hex conventions (§2.2)

/// Parses hex of any length (odd lengths and leading zeros allowed), case-insensitive.
pub fn parse_hex(text: &str) -> Option<BigUint> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    BigUint::parse_bytes(t.as_bytes(), 16)
}

/// `hexmin(n)`: lower-case hex without leading zeros.
pub fn hexmin(n: &BigUint) -> String {
    format!("{n:x}")
}

/// `even(h)`: `h` with one `0` prepended when its length is odd.
pub fn even(h: &str) -> String {
    if h.len() % 2 == 1 {
        format!("0{h}")
    } else {
        h.to_owned()
    }
}

/// `vhv(h)`: `even(h)`, then one leading `00` dropped (the page script's "verify hex value").
pub fn vhv(h: &str) -> String {
    let e = even(h);
    match e.strip_prefix("00") {
        Some(rest) => rest.to_owned(),
        None => e,
    }
}

/// `H_hex`: SHA-1 over the bytes whose hex is the concatenation of `parts` (each even-length).
fn h_hex(parts: &[&str]) -> Zeroizing<String> {
    let mut hasher = Sha1::new();
    for part in parts {
        // Every caller passes the output of even/vhv/a SHA-1 hex, so decoding cannot fail;
        // an odd part would be a bug in this file, caught by the vector tests.
        let bytes = Zeroizing::new(hex::decode(part).unwrap_or_default());
        hasher.update(&bytes);
    }
    Zeroizing::new(hex::encode(hasher.finalize()))
}

/// `H_text`: SHA-1 of UTF-8 text, as 40 lower-case hex chars.
fn h_text(text: &str) -> Zeroizing<String> {
    Zeroizing::new(hex::encode(Sha1::digest(text.as_bytes())))
}

fn int(h: &str) -> BigUint {
    parse_hex(h).unwrap_or_default()
}

// ------------------------------------------------------------------ the exchange

/// What INIT returned (the SRP part of `ini_params`).
#[derive(Debug, Clone)]
pub struct ServerParams {
    pub group: Group,
    pub proto: String,
    /// Salt as sent (hex); used through `vhv` as the page script does.
    pub salt_hex: String,
    /// B as sent (hex).
    pub b_hex: String,
    /// Long passwords allowed; otherwise the password is cut to 8 characters.
    pub lp: bool,
}

/// The client's ephemeral key pair for one login.
pub struct SrpClient {
    group: Group,
    a: Zeroizing<BigUint>,
    a_pub: BigUint,
}

impl std::fmt::Debug for SrpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrpClient")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl SrpClient {
    /// A fresh random `a` (256 bits, as the page script draws it).
    pub fn new(group: Group) -> Self {
        use rand::RngCore;
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self::with_private(group, BigUint::from_bytes_be(bytes.as_ref()))
    }

    /// A fixed `a` (test vectors). Reduced into range as the page script does.
    pub fn with_private(group: Group, a: BigUint) -> Self {
        let mut a = Zeroizing::new(a);
        let n_minus_1 = &group.n - BigUint::one();
        if *a >= group.n {
            *a = &*a % &n_minus_1;
        }
        if *a < BigUint::from(2u32) {
            *a = BigUint::from(2u32);
        }
        let a_pub = group.g.modpow(&a, &group.n);
        SrpClient { group, a, a_pub }
    }

    /// The group this key pair was made in (INIT must be redone if the server's differs).
    pub fn group(&self) -> &Group {
        &self.group
    }

    /// `A` as sent in INIT: minimal lower-case hex (may be odd length).
    pub fn public_hex(&self) -> String {
        hexmin(&self.a_pub)
    }

    /// Computes the session key and proofs from INIT's reply (§2.4–§2.8).
    ///
    /// # Errors
    /// Another SRP variant, a malformed or degenerate `B`/salt, or a different group (the
    /// caller must then redo INIT with a new key pair; §1.1).
    pub fn complete(
        &self,
        username: &str,
        password: &SecretString,
        server: &ServerParams,
    ) -> Result<SrpProof, SrpError> {
        if server.proto != "6" {
            return Err(SrpError::UnsupportedProto(server.proto.clone()));
        }
        if server.group != self.group {
            return Err(SrpError::BadParam {
                field: "N/g",
                detail: "the group differs from the one A was computed in".into(),
            });
        }
        let n = &self.group.n;
        let g = &self.group.g;
        let salt = server.salt_hex.trim().to_ascii_lowercase();
        if parse_hex(&salt).is_none() {
            return Err(bad("s", "not hex"));
        }
        let b_text = server.b_hex.trim().to_ascii_lowercase();
        let b_pub = parse_hex(&b_text).ok_or_else(|| bad("B", "not hex"))?;
        if (&b_pub % n).is_zero() {
            return Err(bad(
                "B",
                "B mod N is 0 (refused: it would fix the session key)",
            ));
        }
        let k = BigUint::from(3u32);
        let identity = username.to_lowercase();
        let x = Zeroizing::new(private_x(&identity, password, server.lp, &salt, n));
        let a_hex = self.public_hex();
        let u = int(&h_hex(&[&even(&a_hex), &even(&hexmin(&b_pub))]));
        // S = (B + kN − k·g^x mod N) mod N ^ (a + u·x) mod N, kept non-negative throughout.
        let gx = Zeroizing::new(g.modpow(&x, n));
        let base = Zeroizing::new((&b_pub + &k * n - (&k * &*gx) % n) % n);
        let exp = Zeroizing::new(&*self.a + &u * &*x);
        let s = Zeroizing::new(base.modpow(&exp, n));
        let key = h_hex(&[&vhv(&hexmin(&s))]);
        let key_v = Zeroizing::new(vhv(&key));
        let xor = int(&h_hex(&[&vhv(&hexmin(n))])) ^ int(&h_hex(&[&vhv(&hexmin(g))]));
        let m1 = vhv(&h_hex(&[
            &vhv(&hexmin(&xor)),
            &h_text(&identity),
            &vhv(&salt),
            &vhv(&a_hex),
            &vhv(&b_text),
            &key_v,
        ]));
        let m2 = int(&h_hex(&[&vhv(&a_hex), &vhv(&m1), &key_v]));
        let cookie = h_hex(&[&vhv(&b_text), &key_v]);
        Ok(SrpProof {
            m1,
            expected_m2: m2,
            key,
            cookie,
        })
    }
}

fn bad(field: &'static str, detail: &str) -> SrpError {
    SrpError::BadParam {
        field,
        detail: detail.to_owned(),
    }
}

/// `x = H(vhv(s) ‖ H_text(I:P))`, with the password cut to 8 characters unless `lp`.
fn private_x(
    identity: &str,
    password: &SecretString,
    lp: bool,
    salt: &str,
    n: &BigUint,
) -> BigUint {
    let full = password.expose_secret();
    let cut: Zeroizing<String> = Zeroizing::new(if lp {
        full.to_owned()
    } else {
        full.chars().take(8).collect()
    });
    let inner = h_text(&Zeroizing::new(format!("{identity}:{}", cut.as_str())));
    let mut x = int(&h_hex(&[&vhv(salt), &inner]));
    if x >= *n {
        x %= n - BigUint::one();
    }
    x
}

/// The outcome of the client's SRP computation: what to send and what to expect back.
pub struct SrpProof {
    /// M1 exactly as sent (one leading `00` byte dropped, so sometimes 38 chars).
    pub m1: String,
    expected_m2: BigUint,
    key: Zeroizing<String>,
    cookie: Zeroizing<String>,
}

impl std::fmt::Debug for SrpProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrpProof")
            .field("m1", &self.m1)
            .finish_non_exhaustive()
    }
}

impl SrpProof {
    /// Does the server's M2 prove it knows the verifier? Compared as integers (§2.7), so
    /// upper case or a dropped leading zero byte does not matter; `null` or junk is `false`.
    pub fn server_proof_ok(&self, m2: &str) -> bool {
        parse_hex(m2).is_some_and(|v| v == self.expected_m2)
    }

    /// M2 as this client computed it (40 chars), sent back at the Dispatcher.
    pub fn m2_hex(&self) -> String {
        format!("{:040x}", self.expected_m2)
    }

    /// The session key K as 40-char hex: the EKX plaintext. Secret.
    pub fn session_key_hex(&self) -> &str {
        &self.key
    }

    /// The `XYZAB_AM.LOGIN` / `XYZAB` cookie value. Secret.
    pub fn cookie_value(&self) -> &str {
        &self.cookie
    }
}

#[cfg(test)]
mod tests;
