//! The simulator's RSA key for EKX (e = 3) and the decryption that checks a client's EKX.
//!
//! The key is the published 1024-bit test key of `ibkr-sso-login.md` §9 (it protects nothing:
//! the simulator only uses it to check that a client encrypted the right session key).
use num_bigint_dig::BigUint;

const N_HEX: &str = "bae25f0c9825538ea79ec521df4d28d3ead752447eee9212938236a9a95de300e004f251b33e01b4d7bae63e8f514387dc66782b7ed8b69e2e18512fd9e5953599f02240aa1b260d011dca3a7b38aca150d99a21faf395eede345238f3e7d647cc8b573a08aefc2355dcf43ad58a9dc247b445bdd98d7176cf1fa942b873ace5";
const D_HEX: &str = "7c96ea08656e37b46fbf2e1694de1b37f1e4e182ff49b6b70d0179c670e942009558a18bccd401233a7c997f0a362d053d99a572549079bec9658b753bee6377ed70e0bc35e23bdedc98245767431a37089d045ca69da90eb6bfc708c3fe1d13310244f464a394d5bd0079e47f3e9772b255273b0179c243e8d073a3ea61ef6b";

fn big(hex: &str) -> BigUint {
    BigUint::parse_bytes(hex.as_bytes(), 16).unwrap_or_default()
}

/// `rsapub` as sent in INIT.
pub fn modulus_hex() -> &'static str {
    N_HEX
}

/// Decrypts an EKX (hex, any length) and returns the plaintext parsed as a hex integer
/// (IBKR presumably compares numerically: one client sends K's minimal hex, another all 40
/// chars). `None` for anything that is not a well-formed PKCS#1 v1.5 type-2 block of hex.
pub fn decrypt_key(ekx_hex: &str) -> Option<BigUint> {
    let c = BigUint::parse_bytes(ekx_hex.trim().as_bytes(), 16)?;
    let n = big(N_HEX);
    if c >= n {
        return None;
    }
    let m = c.modpow(&big(D_HEX), &n).to_bytes_be();
    let k = n.to_bytes_be().len();
    // Left-pad to the modulus length: the block starts 00 02.
    let mut block = vec![0u8; k.saturating_sub(m.len())];
    block.extend_from_slice(&m);
    if block.len() < 11 || block[0] != 0 || block[1] != 2 {
        return None;
    }
    let sep = block[2..].iter().position(|&b| b == 0)? + 2;
    if sep < 10 {
        return None;
    }
    let text = std::str::from_utf8(&block[sep + 1..]).ok()?;
    BigUint::parse_bytes(text.as_bytes(), 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrypts_the_section_9_ekx() {
        let v1 = "93cfd6cf385af60ac3269d737caafc952e6d66298f6d34f5bd0fa9fd216f6efe4a862a6153d82fa7fb6ea346817e3d7f471774d03508cf31e1550b1683a1663b11b186f46d40d6ea962d36caff03041a423e906e8b79fa578b6a136eec888fe7b18d2b22dda9805bca9507105281e16bb072df581425463d836272baf0daac3d";
        assert_eq!(
            decrypt_key(v1),
            Some(big("92a562e79df1b2c37683839c9bc8d224aab2c776"))
        );
        assert_eq!(decrypt_key("1234"), None, "not a padded block");
        assert_eq!(decrypt_key("zz"), None);
    }
}
