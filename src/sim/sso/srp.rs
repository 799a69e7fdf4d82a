//! The server half of IBKR's SRP-6 login for the simulator (`ibkr-sso-login.md` §2.5, §8.2).
//!
//! Written independently of the client in `crate::ibkr::sso` (byte-oriented where the client
//! follows the page script's hex strings) so a shared misunderstanding does not make both
//! sides agree on a wrong value: the §9 vectors pin both, and a property test runs them
//! against each other.
use num_bigint_dig::BigUint;
use num_traits::Zero;
use sha1::{Digest, Sha1};

/// IBKR's 512-bit group prime (the value every client ships; the simulator always sends it).
pub const N_HEX: &str = "d4c7f8a2b32c11b8fba9581ec4ba4f1b04215642ef7355e37c0fc0443ef756ea2c6b8eeb755a1c723027663caa265ef785b8ff6a9b35227a52d86633dbdfca43";
pub const G: u32 = 2;
const K_MULT: u32 = 3;

pub fn n() -> BigUint {
    BigUint::parse_bytes(N_HEX.as_bytes(), 16).unwrap_or_default()
}

/// Drops one leading zero byte (the page script's rule for hash inputs and M1).
fn strip1(bytes: &[u8]) -> &[u8] {
    match bytes.split_first() {
        Some((0, rest)) => rest,
        _ => bytes,
    }
}

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Minimal big-endian bytes (zero is one zero byte, as hex `0` made even would be).
fn be(n: &BigUint) -> Vec<u8> {
    n.to_bytes_be()
}

/// One user's stored login secret: salt and verifier, never the password.
#[derive(Clone)]
pub struct Enrolment {
    pub salt: Vec<u8>,
    pub verifier: BigUint,
    pub long_passwords: bool,
}

impl Enrolment {
    /// Enrols `username`/`password` (identity lower-cased; password cut to 8 characters unless
    /// `long_passwords`).
    pub fn new(username: &str, password: &str, long_passwords: bool, salt: Vec<u8>) -> Self {
        let x = private_x(username, password, long_passwords, &salt);
        Enrolment {
            verifier: BigUint::from(G).modpow(&x, &n()),
            salt,
            long_passwords,
        }
    }
}

fn private_x(username: &str, password: &str, long_passwords: bool, salt: &[u8]) -> BigUint {
    let pw: String = if long_passwords {
        password.to_owned()
    } else {
        password.chars().take(8).collect()
    };
    let inner = sha1(&[format!("{}:{pw}", username.to_lowercase()).as_bytes()]);
    // The page hashes the hex of H(I:P) decoded back to bytes, i.e. the 20 digest bytes.
    BigUint::from_bytes_be(&sha1(&[strip1(salt), &inner]))
}

/// B for a chosen private b: (k·v + g^b) mod N.
pub fn server_public(e: &Enrolment, b: &BigUint) -> BigUint {
    let n = n();
    (BigUint::from(K_MULT) * &e.verifier + BigUint::from(G).modpow(b, &n)) % &n
}

/// What a correct client proves and what the server sends back.
pub struct Verified {
    /// K's 20 bytes (the EKX plaintext is their 40-char hex).
    pub key: [u8; 20],
    pub m1: BigUint,
    /// M2 as 40 lower-case hex chars.
    pub m2_hex: String,
    /// The `XYZAB` cookie value (40 hex chars).
    pub cookie_hex: String,
}

/// Computes K, the expected M1, M2 and the cookie for A (from the client) and this round's b.
/// `None` when A ≡ 0 mod N (refused).
pub fn server_session(
    e: &Enrolment,
    username: &str,
    a_pub: &BigUint,
    b: &BigUint,
) -> Option<Verified> {
    let n = n();
    if (a_pub % &n).is_zero() {
        return None;
    }
    let b_pub = server_public(e, b);
    let (a_bytes, b_bytes) = (be(a_pub), be(&b_pub));
    let u = BigUint::from_bytes_be(&sha1(&[&a_bytes, &b_bytes]));
    let s = (a_pub * e.verifier.modpow(&u, &n)).modpow(b, &n);
    let key = sha1(&[&be(&s)]);
    let hn = BigUint::from_bytes_be(&sha1(&[&be(&n)]));
    let hg = BigUint::from_bytes_be(&sha1(&[&be(&BigUint::from(G))]));
    let hi = sha1(&[username.to_lowercase().as_bytes()]);
    let m1_full = sha1(&[
        &be(&(hn ^ hg)),
        &hi,
        strip1(&e.salt),
        &a_bytes,
        &b_bytes,
        strip1(&key),
    ]);
    let m1_sent = strip1(&m1_full);
    let m2 = sha1(&[&a_bytes, strip1(m1_sent), strip1(&key)]);
    let cookie = sha1(&[&b_bytes, strip1(&key)]);
    Some(Verified {
        key,
        m1: BigUint::from_bytes_be(m1_sent),
        m2_hex: hex::encode(m2),
        cookie_hex: hex::encode(cookie),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> BigUint {
        BigUint::parse_bytes(s.as_bytes(), 16).unwrap()
    }

    struct V {
        lp: bool,
        a_sent: &'static str,
        b: &'static str,
        b_sent: &'static str,
        v: &'static str,
        k: &'static str,
        m1: &'static str,
        m2: &'static str,
        cookie: &'static str,
    }

    const V1B: &str = "9be1f2e63b15e907b04fb4efa7f2ce20671d2d24a57e62f40a18b09a0c509d55";
    const V1A: &str = "ba1cfd7af6c64dbcb6ca6944b221043b61d2fd6df4ed4864a2016fa0c6500a2f054138041de02659e0f057fc9356e9761e48fb2f78cbb118931b1dc9dabb7876";
    const V_CUT: &str = "ca08e69d47adbaadafe32222755bfc2267aa436c7ce2367378a8fd836cdbb9c46c2040ba1e2ee67b8bed5186b9602e69744160a0603c5ff6574da79f1c793710";

    const VECTORS: [V; 4] = [
        V {
            lp: false,
            a_sent: V1A,
            b: V1B,
            b_sent: "aaaca042986a12c006880a00e640859ea2e5ca86a28244d0e876a4bb1a53dbedb8b29b31b14f005450325769034fb4bef49cc48b177a984179409138e2257084",
            v: V_CUT,
            k: "92a562e79df1b2c37683839c9bc8d224aab2c776",
            m1: "267b3a319ad7493054106055742f1d0308a9de92",
            m2: "1da41d9dd8dff14844da004ec53eeb2e096f9e5d",
            cookie: "40043a703bd8d792be90d186cd6f4113e49b346e",
        },
        V {
            lp: true,
            a_sent: V1A,
            b: V1B,
            b_sent: "5935cd7c306e7dde80d0a5fc59999fd5cad7b59c32f35b812b0e7db3200357de687faa7ef6d992b1b4a2360e3128ed3e512dc01626cfba714fee1fcae4337eea",
            v: "aee14b05cfaf33b7d8a600cb9bcf04df74fae71e57b29358e430f080c4163869fc0f45d3e007c1f002bd46687353413e931c5f2410036b5b9edcd7251d289132",
            k: "a932c6f60c8a66fd08ab259a6c404e257dfaf1c2",
            m1: "d00bb9edaed2fdbaf917a8463dc1a976004a719e",
            m2: "5b685dc3289b1be1f194cc7cbf07937b735a6428",
            cookie: "48e5745179aa509773136e057bdee8f1af8ec614",
        },
        V {
            lp: false,
            a_sent: "e0e376b07ca478eca1bf72dffd7125dbe97f376ae6a3bbdb8e7970998fb08ae4e513641e06f803f71adf1c8101bbfa212124bbe4dc70f4a0c594354cae61176",
            b: V1B,
            b_sent: "aaaca042986a12c006880a00e640859ea2e5ca86a28244d0e876a4bb1a53dbedb8b29b31b14f005450325769034fb4bef49cc48b177a984179409138e2257084",
            v: V_CUT,
            k: "005d1d1d2d5afe231b6005c3b5f21146987dc9bd",
            m1: "03f9e20b1e6105966a664417c438a76c7a4741a2",
            m2: "adf841f9c48fc37c290799d69507b259b2ccbfb8",
            cookie: "0c2fa9291d5fc04424ee659bb029915a32734975",
        },
        V {
            lp: false,
            a_sent: V1A,
            b: "9be1f2e63b15e907b04fb4efa7f2ce20671d2d24a57e62f40a18b09a0c509d67",
            b_sent: "c795a7cd1d1a62e36090a1d2d7d3bccb04f5b16de4cb85da9cbe27a16232229c36b4adb55f29880bbfb3e4e695c62ae11988215769dd8a0029b2a90b8f7c2061",
            v: V_CUT,
            k: "c9bdf69b7342516cc6da4f53033265192df38943",
            m1: "a6a77dfdf53ae00efdf75bda95b05d31b76dda",
            m2: "2233e91e131d1ca60d3e64f4804d2dc0ccd9cce6",
            cookie: "a23694d03dd591d404f4d72f3eb5485a88e3b544",
        },
    ];

    #[test]
    fn section_9_vectors_server_side() {
        let salt = hex::decode("7e3a91c4d2b85f06").unwrap();
        for (i, vec) in VECTORS.iter().enumerate() {
            let e = Enrolment::new("DemoUser42", "Tr0ub4dor&3xyz", vec.lp, salt.clone());
            assert_eq!(e.verifier, h(vec.v), "V{} verifier", i + 1);
            let b = h(vec.b);
            assert_eq!(
                format!("{:x}", server_public(&e, &b)),
                vec.b_sent,
                "V{} B",
                i + 1
            );
            let got = server_session(&e, "demouser42", &h(vec.a_sent), &b).unwrap();
            assert_eq!(hex::encode(got.key), vec.k, "V{} K", i + 1);
            assert_eq!(got.m1, h(vec.m1), "V{} M1", i + 1);
            assert_eq!(got.m2_hex, vec.m2, "V{} M2", i + 1);
            assert_eq!(got.cookie_hex, vec.cookie, "V{} cookie", i + 1);
        }
    }

    #[test]
    fn a_zero_mod_n_is_refused() {
        let e = Enrolment::new("u", "p", false, vec![1, 2, 3]);
        assert!(server_session(&e, "u", &n(), &BigUint::from(7u32)).is_none());
    }
}
