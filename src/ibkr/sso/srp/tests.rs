//! The §9 vectors of `ibkr-sso-login.md`, fed through the client exactly as a login would.
use super::*;

struct Vector {
    lp: bool,
    a: &'static str,
    a_sent: &'static str,
    b_sent: &'static str,
    k: &'static str,
    m1: &'static str,
    m2: &'static str,
    cookie: &'static str,
}

const SALT: &str = "7e3a91c4d2b85f06";
const USER: &str = "DemoUser42";
const PASSWORD: &str = "Tr0ub4dor&3xyz";

const V1: Vector = Vector {
    lp: false,
    a: "fe2b43899007f7de50f7eb5953c5af9ce26239bfcf6c610fa69b840ae276ded9",
    a_sent: "ba1cfd7af6c64dbcb6ca6944b221043b61d2fd6df4ed4864a2016fa0c6500a2f054138041de02659e0f057fc9356e9761e48fb2f78cbb118931b1dc9dabb7876",
    b_sent: "aaaca042986a12c006880a00e640859ea2e5ca86a28244d0e876a4bb1a53dbedb8b29b31b14f005450325769034fb4bef49cc48b177a984179409138e2257084",
    k: "92a562e79df1b2c37683839c9bc8d224aab2c776",
    m1: "267b3a319ad7493054106055742f1d0308a9de92",
    m2: "1da41d9dd8dff14844da004ec53eeb2e096f9e5d",
    cookie: "40043a703bd8d792be90d186cd6f4113e49b346e",
};

const V2: Vector = Vector {
    lp: true,
    a: "fe2b43899007f7de50f7eb5953c5af9ce26239bfcf6c610fa69b840ae276ded9",
    a_sent: "ba1cfd7af6c64dbcb6ca6944b221043b61d2fd6df4ed4864a2016fa0c6500a2f054138041de02659e0f057fc9356e9761e48fb2f78cbb118931b1dc9dabb7876",
    b_sent: "5935cd7c306e7dde80d0a5fc59999fd5cad7b59c32f35b812b0e7db3200357de687faa7ef6d992b1b4a2360e3128ed3e512dc01626cfba714fee1fcae4337eea",
    k: "a932c6f60c8a66fd08ab259a6c404e257dfaf1c2",
    m1: "d00bb9edaed2fdbaf917a8463dc1a976004a719e",
    m2: "5b685dc3289b1be1f194cc7cbf07937b735a6428",
    cookie: "48e5745179aa509773136e057bdee8f1af8ec614",
};

const V3: Vector = Vector {
    lp: false,
    a: "fe2b43899007f7de50f7eb5953c5af9ce26239bfcf6c610fa69b840ae276e0c2",
    a_sent: "e0e376b07ca478eca1bf72dffd7125dbe97f376ae6a3bbdb8e7970998fb08ae4e513641e06f803f71adf1c8101bbfa212124bbe4dc70f4a0c594354cae61176",
    b_sent: "aaaca042986a12c006880a00e640859ea2e5ca86a28244d0e876a4bb1a53dbedb8b29b31b14f005450325769034fb4bef49cc48b177a984179409138e2257084",
    k: "005d1d1d2d5afe231b6005c3b5f21146987dc9bd",
    m1: "03f9e20b1e6105966a664417c438a76c7a4741a2",
    m2: "adf841f9c48fc37c290799d69507b259b2ccbfb8",
    cookie: "0c2fa9291d5fc04424ee659bb029915a32734975",
};

const V4: Vector = Vector {
    lp: false,
    a: "fe2b43899007f7de50f7eb5953c5af9ce26239bfcf6c610fa69b840ae276ded9",
    a_sent: "ba1cfd7af6c64dbcb6ca6944b221043b61d2fd6df4ed4864a2016fa0c6500a2f054138041de02659e0f057fc9356e9761e48fb2f78cbb118931b1dc9dabb7876",
    b_sent: "c795a7cd1d1a62e36090a1d2d7d3bccb04f5b16de4cb85da9cbe27a16232229c36b4adb55f29880bbfb3e4e695c62ae11988215769dd8a0029b2a90b8f7c2061",
    k: "c9bdf69b7342516cc6da4f53033265192df38943",
    m1: "a6a77dfdf53ae00efdf75bda95b05d31b76dda",
    m2: "2233e91e131d1ca60d3e64f4804d2dc0ccd9cce6",
    cookie: "a23694d03dd591d404f4d72f3eb5485a88e3b544",
};

fn params(v: &Vector) -> ServerParams {
    ServerParams {
        group: Group::default(),
        proto: "6".into(),
        salt_hex: SALT.into(),
        b_hex: v.b_sent.into(),
        lp: v.lp,
    }
}

fn check(v: &Vector) {
    let client = SrpClient::with_private(Group::default(), parse_hex(v.a).unwrap());
    assert_eq!(client.public_hex(), v.a_sent, "A");
    let proof = client
        .complete(USER, &SecretString::from(PASSWORD), &params(v))
        .unwrap();
    assert_eq!(proof.session_key_hex(), v.k, "K");
    assert_eq!(proof.m1, v.m1, "M1 as sent");
    assert_eq!(proof.m2_hex(), v.m2, "M2");
    assert_eq!(proof.cookie_value(), v.cookie, "XYZAB cookie");
    assert!(proof.server_proof_ok(v.m2));
    assert!(
        proof.server_proof_ok(&v.m2.to_uppercase()),
        "M2 compared as a number"
    );
    assert!(!proof.server_proof_ok("null"));
    assert!(!proof.server_proof_ok(v.cookie));
}

#[test]
fn v1_main_case_password_cut_to_8() {
    check(&V1);
}

#[test]
fn v2_long_password() {
    check(&V2);
}

#[test]
fn v3_odd_length_a_and_k_with_leading_zero_byte() {
    assert_eq!(V3.a_sent.len() % 2, 1, "the vector's A is odd-length");
    check(&V3);
}

#[test]
fn v4_m1_loses_its_leading_zero_byte() {
    assert_eq!(V4.m1.len(), 38);
    check(&V4);
}

#[test]
fn x_matches_the_published_single_function_vectors() {
    let n = Group::default().n;
    // §9 V1/V2 x, and ib-gateway-service's own unit-test value (salt 5828aedc, untruncated).
    let x1 = private_x("demouser42", &PASSWORD.into(), false, SALT, &n);
    assert_eq!(hexmin(&x1), "919f9a7ab4e441c3b6cdcee4e875fd8ea9114325");
    let x2 = private_x("demouser42", &PASSWORD.into(), true, SALT, &n);
    assert_eq!(hexmin(&x2), "1f7779b2d1be446b16f5b7b3f8119f759c3bfb62");
    let x3 = private_x("cctst0007", &"aaaaaFFFFFF".into(), true, "5828aedc", &n);
    assert_eq!(hexmin(&x3), "9016c8630770256d5fe245b7f43957770f47e696");
}

#[test]
fn xor_helper_constant() {
    let group = Group::default();
    let xor = int(&h_hex(&[&vhv(&hexmin(&group.n))])) ^ int(&h_hex(&[&vhv(&hexmin(&group.g))]));
    assert_eq!(hexmin(&xor), "370fc110284b787d9f22b68d17f578b1c00b0135");
}

#[test]
fn hex_conventions() {
    assert_eq!(even("abc"), "0abc");
    assert_eq!(even("abcd"), "abcd");
    assert_eq!(vhv("00ab"), "ab");
    assert_eq!(vhv("0000ab"), "00ab", "only one 00 is dropped");
    assert_eq!(vhv("0ab"), "ab", "odd: made even, then the 00 dropped");
    assert_eq!(parse_hex("0F"), Some(BigUint::from(15u32)));
    assert_eq!(parse_hex("f"), Some(BigUint::from(15u32)));
    assert_eq!(parse_hex("null"), None);
    assert_eq!(parse_hex(""), None);
}

#[test]
fn degenerate_or_foreign_server_values_are_refused() {
    let client = SrpClient::with_private(Group::default(), parse_hex(V1.a).unwrap());
    let pw = SecretString::from(PASSWORD);
    let mut p = params(&V1);
    p.b_hex = DEFAULT_N_HEX.into();
    assert!(matches!(
        client.complete(USER, &pw, &p),
        Err(SrpError::BadParam { field: "B", .. })
    ));
    let mut p = params(&V1);
    p.proto = "6a".into();
    assert_eq!(
        client.complete(USER, &pw, &p).unwrap_err(),
        SrpError::UnsupportedProto("6a".into())
    );
    let mut p = params(&V1);
    p.group.g = BigUint::from(5u32);
    assert!(matches!(
        client.complete(USER, &pw, &p),
        Err(SrpError::BadParam { field: "N/g", .. })
    ));
}

#[test]
fn debug_never_shows_secrets() {
    let client = SrpClient::with_private(Group::default(), parse_hex(V1.a).unwrap());
    let proof = client
        .complete(USER, &SecretString::from(PASSWORD), &params(&V1))
        .unwrap();
    let shown = format!("{client:?} {proof:?}");
    assert!(!shown.contains(V1.k) && !shown.contains(V1.cookie) && !shown.contains(V1.a));
}
