//! Reading the account: which account, what it holds, its cash, and a checked price for every
//! instrument the plan may touch. The snapshot is stored with the run, so every plan can be
//! explained later from the exact numbers it was computed on.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::broker::{Balances, Broker, BrokerPosition, ContractSpec, Quote};
use super::{CycleError, guards, pricing};
use crate::config::Settings;

/// Asset classes pbal manages. Anything else (options, futures, FX…) is reported, never traded.
const MANAGED_CLASSES: [&str; 3] = ["STK", "FUND", "ETF"];

/// One instrument the plan may trade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instrument {
    pub symbol: String,
    pub conid: i64,
    /// `STK`, `FUND` …: the position's asset class, or the configured type for a new target.
    #[serde(default = "default_sec_type")]
    pub sec_type: String,
    /// Held quantity (0 for a target not yet held).
    pub quantity: Decimal,
    /// The position's mark price, when held.
    pub mark: Option<Decimal>,
    pub unrealized_pnl: Decimal,
    pub quote: Quote,
    /// The checked reference price the plan is sized at.
    pub price: Decimal,
    /// The contract's price increments (limit orders only; empty: one cent).
    #[serde(default)]
    pub increments: Vec<pricing::IncrementRule>,
}

fn default_sec_type() -> String {
    "STK".to_owned()
}

/// The account as one cycle saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    pub account_id: String,
    pub paper: bool,
    pub taken_at: DateTime<Utc>,
    pub balances: Balances,
    pub instruments: Vec<Instrument>,
    /// Held positions pbal does not manage (other asset classes), by symbol.
    pub unmanaged: Vec<String>,
    pub prices_delayed: bool,
    /// What the user should know about the prices (mid used, fund priced at its prior NAV…).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl AccountSnapshot {
    /// Instrument by symbol.
    pub fn instrument(&self, symbol: &str) -> Option<&Instrument> {
        self.instruments.iter().find(|i| i.symbol == symbol)
    }
}

/// Picks the account: the configured one (which must exist), or the only one offered.
fn pick_account(
    offered: &[super::broker::AccountInfo],
    configured: &str,
) -> Result<(String, bool), CycleError> {
    if !configured.is_empty() {
        return offered
            .iter()
            .find(|a| a.id == configured)
            .map(|a| (a.id.clone(), a.paper))
            .ok_or_else(|| {
                CycleError::Account(format!(
                    "account.id = {configured} is not among the gateway's accounts ({})",
                    offered
                        .iter()
                        .map(|a| a.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            });
    }
    match offered {
        [only] => Ok((only.id.clone(), only.paper)),
        [] => Err(CycleError::Account(
            "the gateway reports no tradable account".to_owned(),
        )),
        many => Err(CycleError::Account(format!(
            "the gateway reports several accounts ({}); set account.id",
            many.iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Takes a fresh snapshot: account, positions (fresh, all pages), balances, contracts for
/// targets not held, quotes with sanity checks.
///
/// # Errors
/// Account selection, broker failures, and [`guards::GuardViolation`] for any missing,
/// non-positive or implausible price: pbal never plans on a price it does not trust.
pub async fn take<B: Broker>(
    broker: &B,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<AccountSnapshot, CycleError> {
    let offered = broker.accounts().await?;
    let (account_id, paper) = pick_account(&offered, &settings.account.id)?;
    let positions = broker.positions(&account_id).await?;
    let balances = broker.balances(&account_id).await?;
    let (held, unmanaged) = sort_positions(positions, settings)?;
    let (conids, sec_types) = resolve_targets(broker, settings, &held).await?;
    let priced = price_instruments(broker, settings, &held, conids, &sec_types).await?;
    Ok(AccountSnapshot {
        account_id,
        paper,
        taken_at: now,
        balances,
        instruments: priced.instruments,
        unmanaged,
        prices_delayed: priced.delayed,
        notes: priced.notes,
    })
}

/// Held positions pbal manages, keyed by symbol (a configured conid names its target), and
/// the symbols of the others. Refuses incomplete rows and positions in another currency.
fn sort_positions(
    positions: Vec<BrokerPosition>,
    settings: &Settings,
) -> Result<(BTreeMap<String, BrokerPosition>, Vec<String>), CycleError> {
    let mut held = BTreeMap::new();
    let mut unmanaged = Vec::new();
    let configured_conids: BTreeMap<i64, &String> = settings
        .portfolio
        .contracts
        .iter()
        .filter_map(|(sym, c)| c.conid.map(|id| (id, sym)))
        .collect();
    for mut p in positions {
        if p.quantity.is_zero() {
            continue;
        }
        // Never plan on a row whose contract is unknown: a held fund filed as unmanaged
        // would be bought again at its full target weight.
        if p.asset_class.is_empty() || p.symbol.is_empty() {
            return Err(CycleError::Account(format!(
                "position conid {} (quantity {}) arrived without its contract fields \
                 (assetClass/ticker); refusing to plan on an incomplete account — run again",
                p.conid, p.quantity
            )));
        }
        // pbal prices and budgets in portfolio.currency only: a managed position in another
        // currency would be valued as if it were that currency (issue 10 item 3).
        let base = &settings.portfolio.currency;
        if MANAGED_CLASSES.contains(&p.asset_class.as_str())
            && !p.currency.is_empty()
            && !p.currency.eq_ignore_ascii_case(base)
        {
            return Err(CycleError::Account(format!(
                "{} is held in {} but portfolio.currency is {base}: pbal does not convert \
                 currencies; move it to another account or sell it yourself, or set \
                 portfolio.currency = \"{}\" if the whole portfolio is in {}",
                p.symbol, p.currency, p.currency, p.currency
            )));
        }
        // Holdings are keyed by conid: a configured conid names the target whatever ticker
        // spelling the positions endpoint uses.
        if let Some(sym) = configured_conids.get(&p.conid) {
            p.symbol = (*sym).clone();
        }
        if MANAGED_CLASSES.contains(&p.asset_class.as_str()) {
            held.insert(p.symbol.clone(), p);
        } else {
            unmanaged.push(p.symbol.clone());
        }
    }
    Ok((held, unmanaged))
}

/// Conid and security type of every held symbol and every target, resolving targets not held
/// (a configured conid needs no lookup).
async fn resolve_targets<B: Broker>(
    broker: &B,
    settings: &Settings,
    held: &BTreeMap<String, BrokerPosition>,
) -> Result<(BTreeMap<String, i64>, BTreeMap<String, String>), CycleError> {
    let mut conids: BTreeMap<String, i64> =
        held.iter().map(|(s, p)| (s.clone(), p.conid)).collect();
    let mut sec_types: BTreeMap<String, String> = held
        .iter()
        .map(|(s, p)| (s.clone(), p.asset_class.clone()))
        .collect();
    for symbol in settings.portfolio.targets.keys() {
        if conids.contains_key(symbol) {
            continue;
        }
        let o = settings
            .portfolio
            .contracts
            .get(symbol)
            .cloned()
            .unwrap_or_default();
        if let Some(ccy) = o
            .currency
            .as_ref()
            .filter(|c| !c.eq_ignore_ascii_case(&settings.portfolio.currency))
        {
            return Err(CycleError::Account(format!(
                "portfolio.contracts.{symbol}.currency = {ccy} differs from portfolio.currency \
                 {}: pbal does not convert currencies; remove the target or the override",
                settings.portfolio.currency
            )));
        }
        let spec = ContractSpec {
            symbol: symbol.clone(),
            sec_type: o
                .sec_type
                .unwrap_or_else(|| settings.portfolio.sec_type.clone()),
            currency: o
                .currency
                .unwrap_or_else(|| settings.portfolio.currency.clone()),
            exchange: o.exchange,
            conid: o.conid,
        };
        let conid = match spec.conid {
            Some(c) => c,
            None => broker.resolve(&spec).await?,
        };
        conids.insert(symbol.clone(), conid);
        sec_types.insert(symbol.clone(), spec.sec_type.clone());
    }
    Ok((conids, sec_types))
}

/// The snapshot's priced instruments, whether any price was delayed, and the pricing notes.
struct Priced {
    instruments: Vec<Instrument>,
    delayed: bool,
    notes: Vec<String>,
}

/// Quotes every instrument, checks each price ([`pricing::reference_price`]) and, for limit
/// orders, reads the contract's price increments.
async fn price_instruments<B: Broker>(
    broker: &B,
    settings: &Settings,
    held: &BTreeMap<String, BrokerPosition>,
    conids: BTreeMap<String, i64>,
    sec_types: &BTreeMap<String, String>,
) -> Result<Priced, CycleError> {
    let ids: Vec<i64> = conids.values().copied().collect();
    let quotes: BTreeMap<i64, Quote> = if ids.is_empty() {
        BTreeMap::new()
    } else {
        broker
            .quotes(&ids)
            .await?
            .into_iter()
            .map(|q| (q.conid, q))
            .collect()
    };
    let mut out = Priced {
        instruments: Vec::new(),
        delayed: false,
        notes: Vec::new(),
    };
    for (symbol, conid) in conids {
        let quote = quotes
            .get(&conid)
            .cloned()
            .ok_or_else(|| guards::GuardViolation::NoPrice {
                symbol: symbol.clone(),
            })?;
        let pos = held.get(&symbol);
        let mark = pos.map(|p| p.mark_price);
        let fund = sec_types.get(&symbol).is_some_and(|t| t == "FUND");
        let reference = pricing::reference_price(&symbol, &quote, mark, fund, &settings.orders)?;
        if let Some(n) = reference.note {
            out.notes.push(n);
        }
        out.delayed |= quote.delayed;
        let fund_or_market = fund || settings.orders.kind != crate::config::OrderKind::Limit;
        // Limit prices go onto the contract's tick (`planning`); funds take market orders.
        let increments = if fund_or_market {
            Vec::new()
        } else {
            broker
                .price_increments(conid, super::broker::Side::Buy)
                .await?
        };
        out.instruments.push(Instrument {
            sec_type: sec_types
                .get(&symbol)
                .cloned()
                .unwrap_or_else(default_sec_type),
            symbol,
            conid,
            quantity: pos.map(|p| p.quantity).unwrap_or_default(),
            mark,
            unrealized_pnl: pos.map(|p| p.unrealized_pnl).unwrap_or_default(),
            quote,
            price: reference.price,
            increments,
        });
    }
    Ok(out)
}

/// What changed between a staged snapshot and now, beyond `price_tolerance_pct` for prices.
/// Empty means the staged plan is still valid.
pub fn changes_since(
    old: &AccountSnapshot,
    new: &AccountSnapshot,
    price_tolerance_pct: Decimal,
) -> Vec<String> {
    let mut out = Vec::new();
    if old.account_id != new.account_id {
        out.push(format!("account {} → {}", old.account_id, new.account_id));
        return out;
    }
    let symbols: BTreeSet<&String> = old
        .instruments
        .iter()
        .chain(new.instruments.iter())
        .map(|i| &i.symbol)
        .collect();
    for s in symbols {
        match (old.instrument(s), new.instrument(s)) {
            (Some(a), Some(b)) => {
                if a.quantity != b.quantity {
                    out.push(format!("{s}: holding {} → {}", a.quantity, b.quantity));
                }
                if a.price > Decimal::ZERO {
                    let moved =
                        ((b.price - a.price).abs() / a.price * Decimal::ONE_HUNDRED).round_dp(2);
                    if moved > price_tolerance_pct {
                        out.push(format!(
                            "{s}: price {} → {} ({moved}% > {price_tolerance_pct}%)",
                            a.price, b.price
                        ));
                    }
                }
            }
            (Some(_), None) => out.push(format!("{s}: no longer in the account")),
            (None, Some(b)) if !b.quantity.is_zero() => {
                out.push(format!("{s}: new holding {}", b.quantity))
            }
            _ => {}
        }
    }
    // Cash moves (deposits, withdrawals, other trades) change what the plan should be.
    let cash_delta = (new.balances.settled_cash - old.balances.settled_cash).abs();
    let cash_tol = (old.balances.settled_cash.abs() * price_tolerance_pct / Decimal::ONE_HUNDRED)
        .max(Decimal::ONE);
    if cash_delta > cash_tol {
        out.push(format!(
            "settled cash {} → {}",
            old.balances.settled_cash, new.balances.settled_cash
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cycle::broker::AccountInfo;
    use rust_decimal_macros::dec;

    fn acct(id: &str) -> AccountInfo {
        AccountInfo {
            id: id.into(),
            paper: true,
        }
    }

    #[test]
    fn account_selection() {
        assert_eq!(pick_account(&[acct("DU1")], "").unwrap().0, "DU1");
        let e = pick_account(&[acct("DU1"), acct("DU2")], "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("DU1, DU2") && e.contains("account.id"), "{e}");
        assert_eq!(
            pick_account(&[acct("DU1"), acct("DU2")], "DU2").unwrap().0,
            "DU2"
        );
        let e = pick_account(&[acct("DU1")], "DU9").unwrap_err().to_string();
        assert!(e.contains("DU9"), "{e}");
        assert!(pick_account(&[], "").is_err());
    }

    fn snap(qty: Decimal, price: Decimal, cash: Decimal) -> AccountSnapshot {
        AccountSnapshot {
            account_id: "DU1".into(),
            paper: true,
            taken_at: DateTime::<Utc>::from_timestamp(0, 0).unwrap(),
            balances: Balances {
                currency: "USD".into(),
                settled_cash: cash,
                cash,
                net_liquidation: cash + qty * price,
                excess_liquidity: None,
                cash_account: false,
                foreign_debts: Vec::new(),
            },
            instruments: vec![Instrument {
                symbol: "VTI".into(),
                sec_type: "STK".into(),
                conid: 1,
                quantity: qty,
                mark: Some(price),
                unrealized_pnl: Decimal::ZERO,
                quote: Quote {
                    conid: 1,
                    bid: None,
                    ask: None,
                    last: Some(price),
                    close: None,
                    delayed: false,
                },
                price,
                increments: vec![],
            }],
            unmanaged: vec![],
            prices_delayed: false,
            notes: vec![],
        }
    }

    #[test]
    fn changes_detects_moves_beyond_tolerance_only() {
        let base = snap(dec!(10), dec!(100), dec!(5000));
        assert!(
            changes_since(&base, &snap(dec!(10), dec!(100.99), dec!(5000)), dec!(1)).is_empty()
        );
        let c = changes_since(&base, &snap(dec!(10), dec!(101.5), dec!(5000)), dec!(1));
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].contains("VTI: price"), "{c:?}");
        let c = changes_since(&base, &snap(dec!(11), dec!(100), dec!(5000)), dec!(1));
        assert!(c[0].contains("holding 10 → 11"), "{c:?}");
        let c = changes_since(&base, &snap(dec!(10), dec!(100), dec!(4000)), dec!(1));
        assert!(c[0].contains("settled cash"), "{c:?}");
    }
}
