//! Fault injection: the failures a real gateway produces at the worst moment (500/503, slow
//! answers, dropped connections, an order that was placed although the answer never arrived,
//! session loss, competing logins, rejections). Rules come from `--faults FILE` (TOML
//! `[[fault]]` tables or a JSON array), `POST /sim/faults`, or [`super::SimControl::add_fault`].
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SimError;

/// What happens to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this status (and JSON body, default none) without processing the request.
    Status {
        status: u16,
        #[serde(default)]
        body: Option<serde_json::Value>,
    },
    /// Wait `ms` (real time) before processing normally.
    Delay { ms: u64 },
    /// Close the connection without answering and without processing.
    Drop,
    /// Process the request (e.g. place the order), then close the connection without answering:
    /// the client cannot know whether it happened.
    DropAfterApply,
    /// Process the request (e.g. place the order), then wait `ms` (real time) before answering:
    /// the moment a client may crash with its request applied but unanswered.
    DelayAfterApply { ms: u64 },
    /// Process the request, then answer with this status and an empty body (IBKR's 503 after
    /// ~10 s on order placement, ibeam #38).
    StatusAfterApply { status: u16 },
    /// The SSO session is lost before the request is processed (→ 401 / no session).
    SessionLoss,
    /// Another login takes the brokerage session (`competing:true`) before processing.
    Competing,
    /// `/tickle` answers 200 `{"error":"no session"}` although nothing else changed.
    NoSessionTickle,
    /// The order POST, its confirmation (`/iserver/reply/{id}`) or a cancellation (`DELETE
    /// …/order/{id}`) is refused with `{"error": message}` (HTTP 200, like the gateway).
    RejectOrder { message: String },
    /// The nightly reset happens now (brokerage session and priming lost).
    NightlyReset,
    /// The gateway re-authenticates the brokerage session by itself (as after a reset healed
    /// by IBeam or another client): still authenticated, but a new session that must be primed
    /// again (`/iserver` calls answer 500 "Please query /accounts first") and whose selected
    /// account is back at the user's first account. The request itself is then processed.
    Reauthenticated,
    /// Position rows come back without their contract part (`assetClass`, `ticker`,
    /// `contractDesc`, `name`…; IBind #6): every other row, starting with the first. A request
    /// with `waitForSecDef=true` gets full rows unless `even_with_wait` (a gateway that still
    /// lags), as the OpenAPI describes the parameter.
    StripSecDef {
        #[serde(default)]
        even_with_wait: bool,
    },
}

/// The contract ("secDef") part of a position row.
const SECDEF_FIELDS: [&str; 12] = [
    "assetClass",
    "ticker",
    "contractDesc",
    "name",
    "fullName",
    "listingExchange",
    "allExchanges",
    "type",
    "countryCode",
    "isUS",
    "hasOptions",
    "sector",
];

/// Applies [`FaultAction::StripSecDef`] to a positions answer (an array of rows).
pub(crate) fn strip_secdef(v: &mut serde_json::Value) {
    if let serde_json::Value::Array(rows) = v {
        for row in rows.iter_mut().step_by(2) {
            if let Some(o) = row.as_object_mut() {
                for f in SECDEF_FIELDS {
                    o.remove(f);
                }
            }
        }
    }
}

/// A rule: which requests, what happens, how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// HTTP method (`GET`, `POST`...), any when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Path relative to `/v1/api` (e.g. `/iserver/account/*/orders`); `*` matches any characters.
    pub path: String,
    #[serde(flatten)]
    pub action: FaultAction,
    /// Let this many matching requests through before the fault starts.
    #[serde(default)]
    pub skip: u32,
    /// Fire this many times, then retire; forever when absent.
    #[serde(default)]
    pub times: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultFile {
    #[serde(default)]
    fault: Vec<FaultRule>,
}

/// Loads a faults file: TOML with `[[fault]]` tables, or a JSON array (`.json`).
pub fn load(path: &Path) -> Result<Vec<FaultRule>, SimError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SimError::Faults(format!("{}: {e}", path.display())))?;
    if path.extension().and_then(|e| e.to_str()) == Some("json") {
        serde_json::from_str(&text)
            .map_err(|e| SimError::Faults(format!("{}: {e}", path.display())))
    } else {
        toml::from_str::<FaultFile>(&text)
            .map(|f| f.fault)
            .map_err(|e| SimError::Faults(format!("{}: {e}", path.display())))
    }
}

/// A rule plus how often it has matched.
#[derive(Debug, Clone)]
pub(crate) struct ActiveFault {
    pub rule: FaultRule,
    pub seen: u32,
    pub fired: u32,
}

impl ActiveFault {
    pub fn new(rule: FaultRule) -> Self {
        ActiveFault {
            rule,
            seen: 0,
            fired: 0,
        }
    }
    fn exhausted(&self) -> bool {
        self.rule.times.is_some_and(|t| self.fired >= t)
    }
}

/// Finds the first live rule matching the request, counts it, and returns its action.
pub(crate) fn take(faults: &mut Vec<ActiveFault>, method: &str, path: &str) -> Option<FaultAction> {
    let mut hit = None;
    for f in faults.iter_mut() {
        if f.exhausted() {
            continue;
        }
        if let Some(m) = &f.rule.method
            && !m.eq_ignore_ascii_case(method)
        {
            continue;
        }
        if !glob(&f.rule.path, path) {
            continue;
        }
        f.seen += 1;
        if f.seen <= f.rule.skip {
            continue;
        }
        f.fired += 1;
        hit = Some(f.rule.action.clone());
        break;
    }
    faults.retain(|f| !f.exhausted());
    hit
}

/// `*` matches any run of characters (including `/`); everything else literally.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_segments_and_suffixes() {
        assert!(glob(
            "/iserver/account/*/orders",
            "/iserver/account/DU1/orders"
        ));
        assert!(!glob(
            "/iserver/account/*/orders",
            "/iserver/account/DU1/orders/whatif"
        ));
        assert!(glob("/iserver/*", "/iserver/account/DU1/orders/whatif"));
        assert!(glob("/tickle", "/tickle"));
        assert!(!glob("/tickle", "/tickles"));
    }

    #[test]
    fn skip_and_times_are_honoured() {
        let rule = FaultRule {
            method: Some("POST".into()),
            path: "/tickle".into(),
            action: FaultAction::Status {
                status: 500,
                body: None,
            },
            skip: 1,
            times: Some(2),
        };
        let mut v = vec![ActiveFault::new(rule)];
        assert_eq!(take(&mut v, "GET", "/tickle"), None, "method must match");
        assert_eq!(take(&mut v, "POST", "/tickle"), None, "first one skipped");
        assert!(take(&mut v, "POST", "/tickle").is_some());
        assert!(take(&mut v, "POST", "/tickle").is_some());
        assert_eq!(take(&mut v, "POST", "/tickle"), None, "retired after 2");
        assert!(v.is_empty());
    }

    #[test]
    fn strip_secdef_removes_the_contract_part_of_every_other_row() {
        let mut v = serde_json::json!([
            {"conid": 1, "ticker": "A", "assetClass": "STK", "position": 1},
            {"conid": 2, "ticker": "B", "assetClass": "STK", "position": 2},
            {"conid": 3, "ticker": "C", "assetClass": "FUND", "position": 3}
        ]);
        strip_secdef(&mut v);
        assert!(v[0].get("ticker").is_none() && v[0].get("assetClass").is_none());
        assert_eq!(v[0]["conid"], 1);
        assert_eq!(v[1]["ticker"], "B");
        assert!(v[2].get("assetClass").is_none());
        let r: FaultRule = serde_json::from_str(
            r#"{"path": "/portfolio/*/positions/*", "kind": "strip_sec_def"}"#,
        )
        .unwrap();
        assert_eq!(
            r.action,
            FaultAction::StripSecDef {
                even_with_wait: false
            }
        );
    }

    #[test]
    fn faults_file_toml() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.toml");
        std::fs::write(
            &p,
            "[[fault]]\npath = \"/iserver/account/*/orders\"\nmethod = \"POST\"\nkind = \"status_after_apply\"\nstatus = 503\ntimes = 1\n",
        )
        .unwrap();
        let f = load(&p).unwrap();
        assert_eq!(f[0].action, FaultAction::StatusAfterApply { status: 503 });
        assert_eq!(f[0].times, Some(1));
    }
}
