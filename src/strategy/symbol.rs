//! Byte order of symbols, for the checks that a file or a request is in symbol order.
//!
//! Why: the CSV reader (duplicates) and the planner's validation (order) each compare every
//! symbol with the next; at 10^5 rows that was two `memcmp` calls a row (~35 instructions
//! each with the call). Symbols are short and neighbours nearly always differ within their
//! first eight bytes, so [`less`] compares those as one big-endian integer inline.
//!
//! Why it is exact: a big-endian word orders its bytes lexicographically, first byte most
//! significant. A symbol shorter than eight bytes is padded with zero bytes; when the two
//! padded words differ, at their first differing byte `i` either both symbols have a byte
//! (then that byte decides, as `<` on `str` decides) or exactly one has — a non-zero byte
//! against padding, after equal bytes — so the other is a proper prefix of it (the bytes
//! between the shorter one's end and `i` are zero in both), and the prefix is the smaller,
//! as `<` says; both are past their ends only where the words are equal. Equal words (a
//! common eight-byte prefix, or a zero byte in a symbol) go to `<` itself. A property test
//! compares the two on random byte strings.
//!
//! [`owned`] copies a symbol into a `String` (the CSV reader's holdings, the plan's lines
//! and orders: up to three copies a row).

/// `a < b` in byte order, as `str`'s `<` answers it.
#[inline(always)]
pub(crate) fn less(a: &str, b: &str) -> bool {
    let (x, y) = (word(a.as_bytes()), word(b.as_bytes()));
    if x != y {
        return x < y;
    }
    a < b
}

/// `s.to_string()`, with a symbol of 4..=16 bytes copied by two overlapping loads and
/// stores of four or eight bytes.
///
/// Why: `to_string` copies with a `memcpy` call of variable length, ~20 instructions with
/// the call for the few bytes of a symbol, and at 10^5 rows a plan copies each symbol two or
/// three times. Why it is exact: for `4 ≤ n ≤ 8` the four bytes at 0 and the four at
/// `n − 4` cover every byte of `s` (they overlap when `n < 8`), likewise eight and eight for
/// `8 ≤ n ≤ 16`, and each store writes the bytes its load read to the same offsets; the
/// vector has capacity `n` exactly as `to_string` gives it. Any other length is
/// `to_string`'s own. A property test compares both on random strings of 0..40 bytes.
#[inline(always)]
pub(crate) fn owned(s: &str) -> String {
    let b = s.as_bytes();
    let n = b.len();
    if !(4..=16).contains(&n) {
        return s.to_string();
    }
    let mut v: Vec<u8> = Vec::with_capacity(n);
    let (src, dst) = (b.as_ptr(), v.as_mut_ptr());
    // SAFETY: `v` has capacity for `n` bytes and `b` holds `n`; every offset below is at
    // most `n − 8` (`n ≥ 8`) or `n − 4` (`n ≥ 4`), so each access stays within both. The
    // bytes are a copy of a `str`'s, so the `String` holds valid UTF-8.
    unsafe {
        if n >= 8 {
            let head = src.cast::<u64>().read_unaligned();
            let tail = src.add(n - 8).cast::<u64>().read_unaligned();
            dst.cast::<u64>().write_unaligned(head);
            dst.add(n - 8).cast::<u64>().write_unaligned(tail);
        } else {
            let head = src.cast::<u32>().read_unaligned();
            let tail = src.add(n - 4).cast::<u32>().read_unaligned();
            dst.cast::<u32>().write_unaligned(head);
            dst.add(n - 4).cast::<u32>().write_unaligned(tail);
        }
        v.set_len(n);
        String::from_utf8_unchecked(v)
    }
}

/// The first eight bytes of `s` as a big-endian word, padded with zero bytes.
#[inline(always)]
fn word(s: &[u8]) -> u64 {
    if let Some(w) = s.first_chunk::<8>() {
        return u64::from_be_bytes(*w);
    }
    let mut w = 0u64;
    for (i, &b) in s.iter().enumerate() {
        w |= u64::from(b) << (56 - 8 * i);
    }
    w
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Short strings over a small alphabet (prefixes, equal words and zero bytes are common),
    /// and longer ones that share their first eight bytes.
    fn symbol() -> impl Strategy<Value = String> {
        prop_oneof![
            "[\\x00AB\\x7f]{0,10}",
            "[A-Z0-9.]{0,12}",
            "ABCDEFGH[\\x00A-C]{0,4}",
            "[\\x00-\\u{10FFFF}]{0,9}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn less_is_byte_order(a in symbol(), b in symbol()) {
            prop_assert_eq!(less(&a, &b), a < b, "{:?} {:?}", a, b);
            prop_assert_eq!(less(&b, &a), b < a, "{:?} {:?}", b, a);
            prop_assert!(!less(&a, &a));
        }

        #[test]
        fn owned_is_to_string(s in prop_oneof![symbol(), "[\\x00-\\u{10FFFF}]{0,40}", "[A-Z]{0,40}"]) {
            let o = owned(&s);
            prop_assert_eq!(&o, &s);
            prop_assert_eq!(o.capacity(), s.to_string().capacity());
        }
    }

    #[test]
    fn owned_copies_every_length() {
        let all: String = ('a'..='z').chain('A'..='Z').collect();
        for n in 0..=all.len() {
            let s = &all[..n];
            assert_eq!(owned(s), s, "{n}");
        }
        assert_eq!(owned("ÄÖÜ€"), "ÄÖÜ€"); // multi-byte characters, 9 bytes
    }

    #[test]
    fn prefixes_and_padding() {
        for (a, b) in [
            ("A", "AB"),
            ("A", "A\0"),
            ("", "A"),
            ("", "\0"),
            ("ABCDEFGH", "ABCDEFGHI"),
            ("ABCDEFG", "ABCDEFGH"),
            ("S0000001", "S0000002"),
            ("B", "ABCDEFGHIJ"),
        ] {
            assert_eq!(less(a, b), a < b, "{a:?} {b:?}");
            assert_eq!(less(b, a), b < a, "{b:?} {a:?}");
        }
    }
}
