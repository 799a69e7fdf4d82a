//! Property test: the client's SRP (`pbal::ibkr::sso::srp`) and the simulator's independent
//! server half agree for random users, passwords (longer than 8 characters too), salts (with
//! leading zero bytes) and ephemeral keys (so A and B are often odd-length hex).
//!
//! An integration test, not a unit test of either side: the simulator and the client are
//! independent leaves (`tests/layers.rs`), and only a test outside both may hold them together.
use num_bigint_dig::BigUint;
use pbal::sim::sso::srp::{Enrolment, n, server_public, server_session};
use proptest::prelude::*;
use secrecy::SecretString;

use pbal::ibkr::sso::srp::{Group, ServerParams, SrpClient, parse_hex};

fn run(
    user: &str,
    typed: &str,
    real: &str,
    lp: bool,
    salt: Vec<u8>,
    a: &[u8],
    b: &[u8],
) -> (bool, bool) {
    let enrolment = Enrolment::new(user, real, lp, salt.clone());
    let b = BigUint::from_bytes_be(b) % n();
    let b_pub = server_public(&enrolment, &b);
    let client = SrpClient::with_private(Group::default(), BigUint::from_bytes_be(a));
    let a_pub = parse_hex(&client.public_hex()).unwrap();
    let params = ServerParams {
        group: Group::default(),
        proto: "6".into(),
        salt_hex: hex::encode(&salt),
        b_hex: format!("{b_pub:x}"),
        lp,
    };
    // INIT carries the typed case, the server keys users case-insensitively.
    let proof = client
        .complete(user, &SecretString::from(typed), &params)
        .unwrap();
    let server = server_session(&enrolment, &user.to_lowercase(), &a_pub, &b).unwrap();
    let m1_ok = parse_hex(&proof.m1) == Some(server.m1.clone());
    if m1_ok {
        assert_eq!(proof.session_key_hex(), hex::encode(server.key));
        assert_eq!(proof.cookie_value(), server.cookie_hex);
        assert!(proof.server_proof_ok(&server.m2_hex));
        assert_eq!(proof.m2_hex(), server.m2_hex);
    } else {
        assert!(!proof.server_proof_ok(&server.m2_hex));
    }
    (m1_ok, client.public_hex().len() % 2 == 1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn client_and_simulator_agree(
        user in "[A-Za-z][A-Za-z0-9._]{0,15}",
        password in "[ -~]{1,24}",
        lp in any::<bool>(),
        salt in proptest::collection::vec(any::<u8>(), 1..16),
        zero_lead in any::<bool>(),
        a in proptest::collection::vec(any::<u8>(), 32),
        b in proptest::collection::vec(any::<u8>(), 32),
    ) {
        let mut salt = salt;
        if zero_lead {
            salt.insert(0, 0);
        }
        let (ok, _) = run(&user, &password, &password, lp, salt, &a, &b);
        prop_assert!(ok, "same credentials must agree");
    }

    #[test]
    fn a_wrong_password_never_agrees(
        user in "[a-z][a-z0-9]{0,11}",
        password in "[!-~]{9,20}",
        flip in 0usize..20,
        lp in any::<bool>(),
        a in proptest::collection::vec(any::<u8>(), 32),
        b in proptest::collection::vec(any::<u8>(), 32),
    ) {
        let mut typed: Vec<char> = password.chars().collect();
        let i = flip % typed.len();
        typed[i] = if typed[i] == 'x' { 'y' } else { 'x' };
        let typed: String = typed.into_iter().collect();
        let (ok, _) = run(&user, &typed, &password, lp, vec![7, 1, 2], &a, &b);
        // With lp=false only the first 8 characters count (as on IBKR's page).
        let should = !lp && i >= 8;
        prop_assert_eq!(ok, should);
    }
}

#[test]
fn odd_length_a_occurs_and_works() {
    // Find an a whose A is odd-length hex (about 1 in 16 values) and check agreement.
    let mut seen_odd = false;
    for i in 1u8..=255 {
        let a = [i; 32];
        let (ok, odd) = run(
            "DemoUser42",
            "Tr0ub4dor&3xyz",
            "Tr0ub4dor&3xyz",
            true,
            vec![0, 9],
            &a,
            &[3; 32],
        );
        assert!(ok);
        seen_odd |= odd;
        if seen_odd {
            break;
        }
    }
    assert!(seen_odd, "no odd-length A among the candidates");
}
