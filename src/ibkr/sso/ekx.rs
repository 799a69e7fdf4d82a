//! EKX: the session key K encrypted to the login server's RSA key (`ibkr-sso-login.md` §3).
//!
//! Why by hand: IBKR's key has public exponent 3, sends only the modulus (`rsapub`), and the
//! expected output is the minimal hex of the ciphertext made even — not the fixed-width form
//! RSA crates produce. PKCS#1 v1.5 type-2 padding plus one `modpow` is the whole operation, so
//! it is written here over `num-bigint` rather than bending a general RSA crate to it.
use num_bigint_dig::BigUint;
use rand::Rng;
use zeroize::Zeroizing;

use super::srp::{even, hexmin};

/// The public exponent every client hard-wires (it is not transmitted).
pub const EXPONENT: u32 = 3;

/// Why EKX cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the login server's RSA key (rsapub) is {bytes} bytes; at least {need} are needed")]
pub struct KeyTooShort {
    pub bytes: usize,
    pub need: usize,
}

/// Encrypts `message` (the ASCII of K) to `modulus` with random non-zero padding.
///
/// # Errors
/// [`KeyTooShort`] when the modulus cannot hold the message plus 11 bytes of padding.
pub fn encrypt(message: &[u8], modulus: &BigUint) -> Result<String, KeyTooShort> {
    let len = padding_len(message, modulus)?;
    let mut rng = rand::rng();
    let ps: Zeroizing<Vec<u8>> =
        Zeroizing::new((0..len).map(|_| rng.random_range(1..=255u8)).collect());
    encrypt_with_padding(message, modulus, &ps)
}

fn padding_len(message: &[u8], modulus: &BigUint) -> Result<usize, KeyTooShort> {
    let k = modulus.bits().div_ceil(8);
    let need = message.len() + 11;
    if k < need {
        return Err(KeyTooShort { bytes: k, need });
    }
    Ok(k - 3 - message.len())
}

/// As [`encrypt`] with the padding bytes given (tests replay the §9 vectors with it).
///
/// # Errors
/// [`KeyTooShort`]; also when `ps` has the wrong length or contains a zero byte (which
/// would end the padding early).
pub fn encrypt_with_padding(
    message: &[u8],
    modulus: &BigUint,
    ps: &[u8],
) -> Result<String, KeyTooShort> {
    let len = padding_len(message, modulus)?;
    if ps.len() != len || ps.contains(&0) {
        return Err(KeyTooShort {
            bytes: ps.len(),
            need: len,
        });
    }
    let mut block = Zeroizing::new(Vec::with_capacity(len + 3 + message.len()));
    block.extend_from_slice(&[0, 2]);
    block.extend_from_slice(ps);
    block.push(0);
    block.extend_from_slice(message);
    let m = Zeroizing::new(BigUint::from_bytes_be(&block));
    let c = m.modpow(&BigUint::from(EXPONENT), modulus);
    Ok(even(&hexmin(&c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ibkr::sso::srp::parse_hex;

    const N: &str = "bae25f0c9825538ea79ec521df4d28d3ead752447eee9212938236a9a95de300e004f251b33e01b4d7bae63e8f514387dc66782b7ed8b69e2e18512fd9e5953599f02240aa1b260d011dca3a7b38aca150d99a21faf395eede345238f3e7d647cc8b573a08aefc2355dcf43ad58a9dc247b445bdd98d7176cf1fa942b873ace5";
    const D: &str = "7c96ea08656e37b46fbf2e1694de1b37f1e4e182ff49b6b70d0179c670e942009558a18bccd401233a7c997f0a362d053d99a572549079bec9658b753bee6377ed70e0bc35e23bdedc98245767431a37089d045ca69da90eb6bfc708c3fe1d13310244f464a394d5bd0079e47f3e9772b255273b0179c243e8d073a3ea61ef6b";

    fn ps() -> Vec<u8> {
        (1..=85u8).collect()
    }

    #[test]
    fn v1_ekx_vector() {
        let n = parse_hex(N).unwrap();
        let out =
            encrypt_with_padding(b"92a562e79df1b2c37683839c9bc8d224aab2c776", &n, &ps()).unwrap();
        assert_eq!(
            out,
            "93cfd6cf385af60ac3269d737caafc952e6d66298f6d34f5bd0fa9fd216f6efe4a862a6153d82fa7fb6ea346817e3d7f471774d03508cf31e1550b1683a1663b11b186f46d40d6ea962d36caff03041a423e906e8b79fa578b6a136eec888fe7b18d2b22dda9805bca9507105281e16bb072df581425463d836272baf0daac3d"
        );
    }

    #[test]
    fn v3_ekx_vector_keeps_the_leading_zeros_of_k() {
        let n = parse_hex(N).unwrap();
        let out =
            encrypt_with_padding(b"005d1d1d2d5afe231b6005c3b5f21146987dc9bd", &n, &ps()).unwrap();
        assert_eq!(
            out,
            "7c10f7bb3e34fa63e9c1d49bbc187900fffc30d6e53fed2c61890b673ebd9aebdc04a73b1209bbffeabed911f48b3e57b3bcdc551df36a63920cb8e3608186764b1be608bfe1dbd3ab9254c78a9cb38b4940c7f0a77a3929082a935fe52b5010b1cc5b9707e3b34c3edf09271d95a1eca15b7ca9fecafc8cd53fb67f33c1ce4a"
        );
    }

    #[test]
    fn random_padding_decrypts_to_the_message() {
        let n = parse_hex(N).unwrap();
        let d = parse_hex(D).unwrap();
        let msg = b"92a562e79df1b2c37683839c9bc8d224aab2c776";
        let a = encrypt(msg, &n).unwrap();
        let b = encrypt(msg, &n).unwrap();
        assert_ne!(a, b, "padding is random");
        let block = parse_hex(&a).unwrap().modpow(&d, &n).to_bytes_be();
        // Big-endian without the leading 00: starts with the type byte 2.
        assert_eq!(block[0], 2);
        let sep = block.iter().skip(1).position(|&b| b == 0).unwrap() + 1;
        assert!(sep >= 9, "at least 8 padding bytes");
        assert_eq!(&block[sep + 1..], msg);
    }

    #[test]
    fn short_keys_and_bad_padding_are_refused() {
        let small = parse_hex("ffffffffffffffffffffffffffffffffffffffff").unwrap();
        assert!(encrypt(b"92a562e79df1b2c37683839c9bc8d224aab2c776", &small).is_err());
        let n = parse_hex(N).unwrap();
        let msg = b"92a562e79df1b2c37683839c9bc8d224aab2c776";
        assert!(encrypt_with_padding(msg, &n, &ps()).is_ok());
        let mut zeroed = ps();
        zeroed[3] = 0;
        assert!(encrypt_with_padding(msg, &n, &zeroed).is_err());
        assert!(encrypt_with_padding(msg, &n, &ps()[1..]).is_err());
    }
}
