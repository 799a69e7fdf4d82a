//! Shape test: every implemented path and status is fetched from a running simulator over TLS
//! and validated against IBKR's OpenAPI document (vendored in `spec/`), with `$ref`s resolved
//! and OpenAPI 3.0 `nullable` translated to JSON Schema. Where the spec contradicts documented
//! reality (reference pitfall 22) the exception is patched in narrowly, one pointer at a time,
//! with the evidence next to it — everything else must match the spec.
mod common;

use common::http::Api;
use pbal::sim::{FillMode, SessionAction, SimConfig, Simulator};
use serde_json::{Value, json};

const ACCT: &str = "DU1234567";

fn load_spec() -> Value {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/ibkr-web-api-openapi-3.0.json");
    serde_json::from_str(&std::fs::read_to_string(&p).expect("spec file")).expect("spec JSON")
}

/// OpenAPI 3.0 `nullable: true` → JSON Schema `type: [T, "null"]` (recursively).
fn nullable_to_jsonschema(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(t)) = m.get("type").cloned() {
                    m.insert("type".into(), json!([t, "null"]));
                }
                if let Some(Value::Array(e)) = m.get_mut("enum") {
                    e.push(Value::Null);
                }
            }
            m.values_mut().for_each(nullable_to_jsonschema);
        }
        Value::Array(a) => a.iter_mut().for_each(nullable_to_jsonschema),
        _ => {}
    }
}

fn set(spec: &mut Value, pointer: &str, v: Value) {
    *spec
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("spec has no {pointer}")) = v;
}

/// Documented differences between the spec and the real gateway. Each is narrow (one field)
/// and cites the evidence; the simulator follows reality there.
fn patch_known_spec_errors(spec: &mut Value) {
    let s = "/components/schemas";
    // Live orders: real responses send numbers for conid and quantities and the ms timestamp
    // (reference §5.4 "spec says strings for quantities, real responses send numbers";
    // examples/live_orders.json).
    for f in [
        "conid",
        "totalSize",
        "filledQuantity",
        "remainingQuantity",
        "totalCashSize",
        "lastExecutionTime_r",
    ] {
        set(
            spec,
            &format!("{s}/liveOrdersResponse/properties/orders/items/properties/{f}/type"),
            json!(["string", "number"]),
        );
    }
    // Order status: side is "B"/"S" in practice (reference §5.5 "side ("B"/"S" observed)").
    set(
        spec,
        &format!("{s}/orderStatus/properties/side/enum"),
        json!(["BUY", "SELL", "B", "S"]),
    );
    // Cancel: numbers for order_id and conid (examples/cancel_order.json).
    for f in ["order_id", "conid"] {
        set(
            spec,
            &format!("{s}/orderCancelSuccess/properties/{f}/type"),
            json!(["string", "integer"]),
        );
    }
    // Trades: conid is a number (examples/trades.json).
    set(
        spec,
        &format!("{s}/tradesResponse/items/properties/conid/type"),
        json!(["string", "integer"]),
    );
    // What-if: warn is null when there is nothing to warn about (examples/order_whatif.json).
    set(
        spec,
        &format!("{s}/orderPreview/properties/warn/type"),
        json!(["string", "null"]),
    );
    // SSO validate: QUALIFIED_FOR_MOBILE_AUTH is null (reference §2.2, examples/sso_validate.json).
    set(
        spec,
        &format!("{s}/ssoValidateResponse/properties/QUALIFIED_FOR_MOBILE_AUTH/type"),
        json!(["boolean", "null"]),
    );
    // Summary values: currency is a code string or null, value a string or null
    // (reference §3.5, examples/portfolio_summary_excerpt.json); the spec says number / string.
    set(
        spec,
        &format!("{s}/portfolioSummaryValue/properties/currency/type"),
        json!(["string", "null"]),
    );
    set(
        spec,
        &format!("{s}/portfolioSummaryValue/properties/value/type"),
        json!(["string", "null"]),
    );
    // Unauthenticated status: serverInfo values are null (examples/auth_status_unauthenticated.json).
    for f in ["serverName", "serverVersion"] {
        set(
            spec,
            &format!("{s}/brokerageSessionStatus/properties/serverInfo/properties/{f}/type"),
            json!(["string", "null"]),
        );
    }
    // Positions: several descriptive fields are null (examples/positions_page0.json).
    for f in [
        "group",
        "sector",
        "sectorGroup",
        "lastTradingDay",
        "chineseName",
    ] {
        set(
            spec,
            &format!("{s}/individualPosition/properties/{f}/type"),
            json!(["string", "null"]),
        );
    }
    // putOrCall is null for stocks and funds (examples/positions_page0.json).
    set(
        spec,
        &format!("{s}/individualPosition/properties/putOrCall"),
        json!({"type": ["string", "null"], "enum": ["P", "C", null]}),
    );
    // The tickle response is `oneOf` two object schemas without required keys, so every body
    // matches both and `oneOf` can never pass: a spec bug, read as `anyOf`.
    one_of_to_any_of(
        spec.pointer_mut(&format!("{s}/tickleResponse"))
            .expect("tickleResponse"),
    );
    // portfolio2: conid is a string in real answers (reference §3.3 "conid (string in the example!)"),
    // sector/group may be null.
    set(
        spec,
        &format!("{s}/portfolio2Positions/items/properties/conid/type"),
        json!(["string", "integer"]),
    );
    for f in ["sector", "group"] {
        set(
            spec,
            &format!("{s}/portfolio2Positions/items/properties/{f}/type"),
            json!(["string", "null"]),
        );
    }
}

/// The response schema for a path/method/status, or `None` when the spec declares the status
/// without a body schema (its shared error responses).
fn response_schema(
    spec: &Value,
    path: &str,
    method: &str,
    status: u16,
) -> Result<Option<Value>, String> {
    let op = spec["paths"]
        .get(path)
        .and_then(|p| p.get(method))
        .ok_or_else(|| format!("spec has no {method} {path}"))?;
    let resp = op["responses"]
        .get(status.to_string())
        .ok_or_else(|| format!("spec declares no {status} for {method} {path}"))?;
    Ok(resp.pointer("/content/application~1json/schema").cloned())
}

/// Response schemas that are `oneOf` a success array and a question array can never validate:
/// both are arrays of objects without required keys, so every array matches both. Treated as
/// `anyOf` (spec bug, not a reality difference).
fn one_of_to_any_of(schema: &mut Value) {
    if let Some(m) = schema.as_object_mut()
        && let Some(v) = m.remove("oneOf")
    {
        m.insert("anyOf".into(), v);
    }
}

struct Case {
    method: &'static str,
    spec_path: &'static str,
    status: u16,
    body: Value,
    label: String,
}

#[tokio::test]
async fn every_implemented_response_matches_the_openapi_schema() {
    let mut spec = load_spec();
    nullable_to_jsonschema(&mut spec);
    patch_known_spec_errors(&mut spec);
    let components = spec["components"].clone();

    let h = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let api = Api::new(&h);
    let mut cases: Vec<Case> = Vec::new();
    macro_rules! get {
        ($spec:expr, $url:expr, $label:expr) => {{
            let url: String = $url;
            let (st, b) = api.get(&url).await;
            cases.push(Case {
                method: "get",
                spec_path: $spec,
                status: st,
                body: b.clone(),
                label: $label.to_string(),
            });
            b
        }};
    }
    macro_rules! post {
        ($spec:expr, $url:expr, $body:expr, $label:expr) => {{
            let url: String = $url;
            let (st, b) = api.post(&url, $body).await;
            cases.push(Case {
                method: "post",
                spec_path: $spec,
                status: st,
                body: b.clone(),
                label: $label.to_string(),
            });
            b
        }};
    }

    // Errors first: unprimed (500), then the normal flow.
    get!(
        "/iserver/marketdata/snapshot",
        "/iserver/marketdata/snapshot?conids=999000101".to_string(),
        "unprimed 500"
    );
    get!(
        "/portfolio/{accountId}/ledger",
        format!("/portfolio/{ACCT}/ledger"),
        "unprimed portfolio 500"
    );
    post!(
        "/iserver/auth/status",
        "/iserver/auth/status".to_string(),
        json!({}),
        "authenticated"
    );
    post!("/tickle", "/tickle".to_string(), json!({}), "tickle ok");
    get!("/sso/validate", "/sso/validate".to_string(), "validate");
    post!(
        "/iserver/auth/ssodh/init",
        "/iserver/auth/ssodh/init".to_string(),
        json!({"publish": true, "compete": true}),
        "init"
    );
    get!(
        "/iserver/accounts",
        "/iserver/accounts".to_string(),
        "accounts"
    );
    post!(
        "/iserver/account",
        "/iserver/account".to_string(),
        json!({"acctId": ACCT}),
        "switch account"
    );
    get!(
        "/portfolio/accounts",
        "/portfolio/accounts".to_string(),
        "portfolio accounts"
    );
    get!(
        "/portfolio/{accountId}/positions/{pageId}",
        format!("/portfolio/{ACCT}/positions/0"),
        "positions"
    );
    post!(
        "/portfolio/{accountId}/positions/invalidate",
        format!("/portfolio/{ACCT}/positions/invalidate"),
        json!({}),
        "invalidate"
    );
    get!(
        "/portfolio2/{accountId}/positions",
        format!("/portfolio2/{ACCT}/positions"),
        "portfolio2"
    );
    get!(
        "/portfolio/{accountId}/ledger",
        format!("/portfolio/{ACCT}/ledger"),
        "ledger"
    );
    get!(
        "/portfolio/{accountId}/summary",
        format!("/portfolio/{ACCT}/summary"),
        "summary"
    );
    get!(
        "/iserver/secdef/search",
        "/iserver/secdef/search?symbol=VAW".to_string(),
        "secdef GET"
    );
    post!(
        "/iserver/secdef/search",
        "/iserver/secdef/search".to_string(),
        json!({"symbol": "VANGUARD", "name": true}),
        "secdef POST by name"
    );
    get!(
        "/iserver/secdef/search",
        "/iserver/secdef/search?symbol=NOPE".to_string(),
        "secdef 400"
    );
    get!(
        "/trsrv/stocks",
        "/trsrv/stocks?symbols=VAW,VSMAX,NOPE".to_string(),
        "stocks"
    );
    let md = "/iserver/marketdata/snapshot?conids=999000101,999000110&fields=31,84,86,85,88,7059,55,7051,6004,6070,7295,7296,7741,70,71,82,83,87,7762,7635,73,74,75".to_string();
    get!(
        "/iserver/marketdata/snapshot",
        md.clone(),
        "snapshot pre-flight"
    );
    get!("/iserver/marketdata/snapshot", md, "snapshot values");
    get!(
        "/iserver/marketdata/snapshot",
        "/iserver/marketdata/snapshot?conids=abc".to_string(),
        "snapshot 400"
    );
    get!(
        "/iserver/contract/{conid}/info",
        "/iserver/contract/999000110/info".to_string(),
        "contract info"
    );
    get!(
        "/iserver/contract/{conid}/info-and-rules",
        "/iserver/contract/999000110/info-and-rules?isBuy=true".to_string(),
        "info and rules"
    );
    post!(
        "/iserver/contract/rules",
        "/iserver/contract/rules".to_string(),
        json!({"conid": 999000102, "isBuy": true}),
        "rules"
    );
    get!(
        "/iserver/marketdata/unsubscribeall",
        "/iserver/marketdata/unsubscribeall".to_string(),
        "unsubscribe all"
    );
    let order = |coid: &str, extra: Value| {
        let mut o = json!({"acctId": ACCT, "conid": 999000102, "cOID": coid, "orderType": "MKT", "side": "BUY", "quantity": 2, "tif": "DAY"});
        o.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"orders": [o]})
    };
    post!(
        "/iserver/account/{accountId}/orders/whatif",
        format!("/iserver/account/{ACCT}/orders/whatif"),
        order("w1", json!({})),
        "whatif"
    );
    post!(
        "/iserver/account/{accountId}/orders/whatif",
        format!("/iserver/account/{ACCT}/orders/whatif"),
        order("w2", json!({"quantity": 1000})),
        "whatif with warning"
    );
    post!(
        "/iserver/account/{accountId}/orders",
        format!("/iserver/account/{ACCT}/orders"),
        order("s1", json!({})),
        "order submitted"
    );
    post!(
        "/iserver/account/{accountId}/orders",
        format!("/iserver/account/{ACCT}/orders"),
        order("s2", json!({"quantity": 1000})),
        "order error 200"
    );
    let q = post!(
        "/iserver/account/{accountId}/orders",
        format!("/iserver/account/{ACCT}/orders"),
        order(
            "s3",
            json!({"orderType": "LMT", "price": 170.0, "quantity": 1})
        ),
        "order question"
    );
    let qid = q[0]["id"].as_str().expect("question").to_string();
    post!(
        "/iserver/reply/{replyId}",
        format!("/iserver/reply/{qid}"),
        json!({"confirmed": true}),
        "reply → submitted"
    );
    // Two chained questions: reply returns another question.
    h.update_behaviour(|b| {
        b.prompts.push(pbal::sim::PromptRule {
            id: "o354".into(),
            condition: pbal::sim::PromptCondition::Always,
            text: "You are submitting an order without market data. Are you sure?".into(),
        })
    });
    let q = post!(
        "/iserver/account/{accountId}/orders",
        format!("/iserver/account/{ACCT}/orders"),
        order(
            "s4",
            json!({"orderType": "LMT", "price": 170.0, "quantity": 1})
        ),
        "order question 2"
    );
    let qid = q[0]["id"].as_str().unwrap().to_string();
    post!(
        "/iserver/reply/{replyId}",
        format!("/iserver/reply/{qid}"),
        json!({"confirmed": true}),
        "reply → question"
    );
    h.update_behaviour(|b| {
        b.prompts.pop();
    });
    post!(
        "/iserver/reply/{replyId}",
        "/iserver/reply/not-an-id".to_string(),
        json!({"confirmed": true}),
        "reply 400 unknown id"
    );
    post!(
        "/iserver/questions/suppress",
        "/iserver/questions/suppress".to_string(),
        json!({"messageIds": ["o163", "o354"]}),
        "suppress"
    );
    post!(
        "/iserver/questions/suppress/reset",
        "/iserver/questions/suppress/reset".to_string(),
        json!({}),
        "suppress reset"
    );
    h.set_fill_mode(FillMode::Never);
    post!(
        "/iserver/account/{accountId}/orders",
        format!("/iserver/account/{ACCT}/orders"),
        order("s5", json!({"cashQty": 500, "quantity": null})),
        "cash qty order (questions suppressed? no: reset)"
    );
    get!(
        "/iserver/account/orders",
        format!("/iserver/account/orders?accountId={ACCT}"),
        "live orders first call"
    );
    let live = get!(
        "/iserver/account/orders",
        format!("/iserver/account/orders?accountId={ACCT}"),
        "live orders"
    );
    let working = live["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["status"] == "Submitted")
        .cloned();
    let id = h.order_by_coid("s1").expect("s1 placed").order_id;
    get!(
        "/iserver/account/order/status/{orderId}",
        format!("/iserver/account/order/status/{id}"),
        "order status"
    );
    h.set_fill_mode(FillMode::Never);
    let (st, _) = api.place(ACCT, json!({"acctId": ACCT, "conid": 999000102, "cOID": "c1", "orderType": "MKT", "side": "BUY", "quantity": 1, "tif": "DAY"})).await;
    assert_eq!(st, 200);
    let cid = h.order_by_coid("c1").unwrap().order_id;
    let (st, b) = api
        .delete(&format!("/iserver/account/{ACCT}/order/{cid}"))
        .await;
    cases.push(Case {
        method: "delete",
        spec_path: "/iserver/account/{accountId}/order/{orderId}",
        status: st,
        body: b,
        label: "cancel".into(),
    });
    let (st, b) = api
        .delete(&format!("/iserver/account/{ACCT}/order/{cid}"))
        .await;
    cases.push(Case {
        method: "delete",
        spec_path: "/iserver/account/{accountId}/order/{orderId}",
        status: st,
        body: b,
        label: "cancel again (error)".into(),
    });
    let _ = working;
    get!(
        "/iserver/account/trades",
        "/iserver/account/trades?days=2".to_string(),
        "trades"
    );
    h.set_session(SessionAction::Competing);
    post!(
        "/iserver/auth/status",
        "/iserver/auth/status".to_string(),
        json!({}),
        "competing status"
    );
    get!(
        "/iserver/accounts",
        "/iserver/accounts".to_string(),
        "accounts while competing"
    );
    post!("/logout", "/logout".to_string(), json!({}), "logout");
    post!(
        "/tickle",
        "/tickle".to_string(),
        json!({}),
        "tickle no session"
    );
    post!(
        "/iserver/auth/status",
        "/iserver/auth/status".to_string(),
        json!({}),
        "status 401"
    );
    get!(
        "/portfolio/accounts",
        "/portfolio/accounts".to_string(),
        "portfolio 401"
    );

    // Statuses the simulator returns that the spec does not declare for that operation —
    // reality documented in the reference: duplicate cOID and invalid requests answer 400 on
    // order placement (reference §5.1/5.6), unknown reply ids 400.
    let undeclared_ok = [
        ("post", "/iserver/account/{accountId}/orders", 400),
        ("post", "/iserver/reply/{replyId}", 400),
        ("get", "/iserver/secdef/search", 400),
        ("post", "/iserver/auth/status", 401),
        ("get", "/sso/validate", 401),
    ];
    let mut failures = Vec::new();
    let mut validated = 0;
    for c in &cases {
        let schema = match response_schema(&spec, c.spec_path, c.method, c.status) {
            Ok(s) => s,
            Err(e) => {
                if !undeclared_ok.contains(&(c.method, c.spec_path, c.status)) {
                    failures.push(format!("[{}] {e}", c.label));
                }
                continue;
            }
        };
        let Some(mut schema) = schema else { continue };
        one_of_to_any_of(&mut schema);
        let root = json!({"components": components, "allOf": [schema]});
        let validator = jsonschema::draft7::options()
            .build(&root)
            .expect("schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&c.body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        if !errors.is_empty() {
            failures.push(format!(
                "[{}] {} {} {}: {}",
                c.label,
                c.method,
                c.spec_path,
                c.status,
                errors.join("; ")
            ));
        }
        validated += 1;
    }
    assert!(
        failures.is_empty(),
        "{} shape failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(validated >= 30, "only {validated} bodies validated");
}

#[test]
fn the_validator_rejects_a_wrong_shape() {
    // Guard against a vacuous test: a clearly wrong body must fail the same pipeline.
    let mut spec = load_spec();
    nullable_to_jsonschema(&mut spec);
    patch_known_spec_errors(&mut spec);
    let schema = response_schema(&spec, "/iserver/accounts", "get", 200)
        .unwrap()
        .unwrap();
    let root = json!({"components": spec["components"], "allOf": [schema]});
    let v = jsonschema::draft7::options().build(&root).unwrap();
    assert!(!v.is_valid(&json!({"accounts": "DU1", "isPaper": "yes"})));
    assert!(v.is_valid(&json!({"accounts": ["DU1"], "isPaper": true})));
}
