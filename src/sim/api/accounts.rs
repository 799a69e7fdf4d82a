//! Brokerage account endpoints: `/iserver/accounts` (the priming call every `/iserver` order
//! and market-data endpoint waits for) and `POST /iserver/account` (switching account).
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::super::Shared;
use super::super::reply::Reply;
use super::super::state::SimState;
use super::gates::{account_not_found, need_brokerage, need_primed, need_sso};
use super::pipeline::{Call, Endpoint};
use super::session::{SERVER_NAME, SERVER_VERSION};

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/iserver/accounts", get(Endpoint(accounts)))
        .route("/iserver/account", post(Endpoint(switch_account)))
}

/// Paper accounts are `DU…` in the simulator.
pub(super) fn is_paper(s: &SimState) -> bool {
    s.account_id.starts_with("DU")
}

fn accounts(s: &mut SimState, _: &Call) -> Reply {
    if let Some(r) = need_sso(s) {
        return r;
    }
    if s.session.competing {
        return Reply::ok(json!({}));
    }
    if let Some(r) = need_brokerage(s) {
        return r;
    }
    s.session.iserver_primed = true;
    Reply::ok(iserver_accounts(s))
}

fn switch_account(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_primed(s) {
        return r;
    }
    let acct = c.body.get("acctId").and_then(Value::as_str).unwrap_or("");
    if acct != s.account_id && !s.other_accounts.iter().any(|a| a == acct) {
        return account_not_found(acct);
    }
    s.selected_account = acct.to_owned();
    Reply::ok(json!({"set": true, "acctId": acct}))
}

/// The user's accounts: the other accounts first, then the simulated one.
fn all_accounts(s: &SimState) -> Vec<String> {
    let mut all = s.other_accounts.clone();
    all.push(s.account_id.clone());
    all
}

fn iserver_accounts(s: &SimState) -> Value {
    let all = all_accounts(s);
    let props: serde_json::Map<String, Value> = all
        .iter()
        .map(|id| {
            (
                id.clone(),
                json!({
                    "hasChildAccounts": false, "supportsCashQty": true,
                    "supportsFractions": s.supports_fractions, "allowCustomerTime": false,
                    "autoFx": false, "liteUnderPro": false, "noFXConv": false, "isProp": false
                }),
            )
        })
        .collect();
    let aliases: serde_json::Map<String, Value> =
        all.iter().map(|id| (id.clone(), json!(id))).collect();
    json!({
        "accounts": all,
        "acctProps": props,
        "aliases": aliases,
        "allowFeatures": {
            "allowCrypto": false, "allowDynAccount": false, "allowEventContract": false,
            "allowEventTrading": false, "allowFXConv": true, "allowFinancialLens": true,
            "allowMTA": true, "allowTypeAhead": true,
            "allowedAssetTypes": "STK,CFD,OPT,FOP,WAR,FUT,BAG,PDC,CASH,IND,BOND,BILL,FUND,SLB,News,CMDTY,IOPT,ICU,ICS,PHYSS,CRYPTO",
            "debugPnl": false, "liteUser": false, "research": true, "restrictTradeSubscription": false,
            "showEUCostReport": false, "showGFIS": true, "showImpactDashboard": true, "showTaxOpt": true,
            "showUkUserLabels": false, "showWebNews": true, "sideBySide": true, "snapshotRefreshTimeout": 30
        },
        "chartPeriods": {"STK": ["*"], "FUND": ["*"], "CASH": ["*"], "OPT": ["2h", "1d", "2d", "1w", "1m"]},
        "groups": [], "profiles": [], "selectedAccount": s.selected_account,
        "isFT": false, "isPaper": is_paper(s),
        "serverInfo": {"serverName": SERVER_NAME, "serverVersion": SERVER_VERSION},
        "sessionId": format!("{:08x}.{:08x}", s.session.generation as u32 ^ 0x6668_a2f1, s.session.generation),
    })
}
