//! The tax-aware planner's steps (see the [`crate::tax`] module docs for the method).
//!
//! Size: ~650 lines, a little over the ~600-line aim: the six steps of one plan (harvests,
//! grouped targets, the unconstrained plan, sales within the limits, buys, the audit) in the
//! order they run, each a function under ~80 lines.
use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

use super::exposure;
use super::harvest;
use super::netting::{Budget, Realized};
use super::sells::{self, Book, Want};
use super::wash::{Identical, WashWindow};
use super::{
    Limit, LimitReason, Lot, LotView, Sale, TaxAudit, TaxError, TaxPlan, TaxRequest, TaxSettings,
};
use crate::strategy::{self, Granularity, Holding, Plan, PlanRequest, Side, Strategy, Targets};

/// Lots may differ from the position by this many shares (Flex positions derived from
/// value / price carry division dust); anything more is a mismatch.
pub(crate) const QUANTITY_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 6);

/// Plans a tax-aware rebalance. Never panics on input; every refusal names what to fix.
pub fn plan(req: &TaxRequest) -> Result<TaxPlan, TaxError> {
    let s = &req.settings;
    validate(s)?;
    let whole = whole_shares(req.plan.granularity)?;
    let as_of = req.as_of;
    let mut books = build_books(req)?;
    let positions = lot_views(&books, req);
    let identical = Identical::new(&s.identical)?;
    let all_lots: Vec<Lot> = books.values().flat_map(|b| b.lots.clone()).collect();
    let mut wash = WashWindow::new(identical, &req.trades, &all_lots, as_of);
    let budget = Budget {
        per_run: s.budget_per_run,
        per_year: s.budget_per_year,
        ytd: s.ytd,
        st_weight: s.st_weight,
    };
    let prices = prices(req);

    // 1. Harvests.
    let harvested = if s.harvest {
        harvest::run(&mut books, &prices, s, &mut wash, as_of, whole)?
    } else {
        harvest::Outcome::default()
    };
    let mut holdings = req.plan.holdings.clone();
    let mut trades = harvest_flows(&harvested, &prices);
    apply(&mut holdings, &trades);

    // 2. Targets with exposure groups.
    let targets = group_targets(req, &holdings, &prices)?;

    // 3. The unconstrained plan.
    let hard_req = PlanRequest {
        holdings: holdings.clone(),
        targets,
        cash: req.plan.cash + harvested.cash,
        strategy: Strategy::Hard,
        ..req.plan.clone()
    };
    let hard = strategy::plan(&hard_req)?;

    // 4. Sales within the limits.
    let book_refs: Vec<(&String, &Book)> = books.iter().collect();
    let SalesOutcome {
        sales,
        mut limits,
        cut,
        proceeds,
        sold,
        realized,
    } = admit_sales(
        &hard, &book_refs, &mut wash, &budget, &harvested, whole, as_of,
    )?;

    // 5. Buys.
    let step = BuyStep {
        hard_req: &hard_req,
        prices: &prices,
        cut,
        proceeds,
        sold: &sold,
        harvested: !harvested.harvests.is_empty(),
    };
    let plan = step.run(&req.plan, hard, &wash, &mut trades, &mut limits)?;
    let run = realized;
    // 6. The audit: what this run realises against the budget, sale by sale.
    Ok(TaxPlan {
        plan,
        tax: TaxAudit {
            as_of,
            lot_method: s.lot_method,
            realized_short_term: run.short_term,
            realized_long_term: run.long_term,
            net: run.netted(),
            cost: run.cost(s.st_weight),
            budget: budget.limit(),
            budget_left: budget.left(run),
            sales,
            harvests: harvested.harvests,
            limits,
            positions,
        },
    })
}

/// Each holding's price by symbol.
fn prices(req: &TaxRequest) -> HashMap<String, Decimal> {
    req.plan
        .holdings
        .iter()
        .map(|h| (h.symbol.clone(), h.price))
        .collect()
}

/// Whole shares or exact amounts; dollar steps are refused (a sale is of shares).
fn whole_shares(g: Granularity) -> Result<bool, TaxError> {
    match g {
        Granularity::Shares => Ok(true),
        Granularity::Exact => Ok(false),
        Granularity::Increment(_) => Err(TaxError::Settings(
            "tax-aware plans trade shares, not dollar steps; use --granularity shares or exact"
                .into(),
        )),
    }
}

/// The targets with each exposure group (plus, when harvesting, each symbol's alternate)
/// sharing one target and cap.
fn group_targets(
    req: &TaxRequest,
    holdings: &[strategy::Holding],
    prices: &HashMap<String, Decimal>,
) -> Result<strategy::Targets, TaxError> {
    let s = &req.settings;
    let held = |x: &str| prices.contains_key(x);
    let groups = if s.harvest {
        exposure::with_alternates(&s.exposure_groups, &s.alternates, held)
    } else {
        s.exposure_groups
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    exposure::targets(&req.plan.targets, holdings, &groups, &s.exposure_caps)
}

/// The signed trades of the harvests (sales and alternate buys).
fn harvest_flows(h: &harvest::Outcome, prices: &HashMap<String, Decimal>) -> Flows {
    let mut trades = Flows::new();
    for x in &h.harvests {
        add(
            &mut trades,
            &x.symbol,
            -x.shares,
            -x.shares * prices[&x.symbol],
        );
    }
    for (sym, q) in &h.buys {
        add(&mut trades, sym, *q, *q * prices[sym]);
    }
    trades
}

/// Step 5's inputs: what `hard` was asked and what the sales step admitted.
struct BuyStep<'a> {
    hard_req: &'a PlanRequest,
    prices: &'a HashMap<String, Decimal>,
    cut: bool,
    proceeds: Decimal,
    sold: &'a BTreeMap<String, Decimal>,
    harvested: bool,
}

impl BuyStep<'_> {
    /// Keeps `hard` when nothing was cut or forbidden (so no limits means exactly `hard`);
    /// otherwise invests what the admitted sales raised with `never-sell`, records the buys
    /// that fell short, and composes the final plan.
    fn run(
        &self,
        orig: &PlanRequest,
        hard: Plan,
        wash: &WashWindow,
        trades: &mut Flows,
        limits: &mut Vec<Limit>,
    ) -> Result<Plan, TaxError> {
        let blocked = hard
            .trades
            .iter()
            .any(|t| t.side == Side::Buy && wash.buy_blocked(&t.symbol));
        if !self.cut && !blocked {
            if !self.harvested {
                return Ok(hard);
            }
            for t in &hard.trades {
                let sign = if t.side == Side::Buy {
                    Decimal::ONE
                } else {
                    Decimal::NEGATIVE_ONE
                };
                add(trades, &t.symbol, sign * t.shares, sign * t.value);
            }
            return Ok(compose(orig, &hard, trades));
        }
        let cash = self.hard_req.cash + self.proceeds;
        if cash < Decimal::ZERO {
            return Err(TaxError::WithdrawalBlocked {
                needed: -self.hard_req.cash,
                raised: self.proceeds,
            });
        }
        let buys = buy_phase(self.hard_req, self.sold, wash, cash)?;
        for (sym, q) in self.sold {
            add(trades, sym, -*q, -*q * self.prices[sym]);
        }
        for t in hard.trades.iter().filter(|t| t.side == Side::Buy) {
            let got = buys.get(&t.symbol).map(|b| b.0).unwrap_or_default();
            if got < t.shares {
                let reason = if wash.buy_blocked(&t.symbol) || self.sold.contains_key(&t.symbol) {
                    LimitReason::WashSaleBuy
                } else {
                    LimitReason::Cash
                };
                limits.push(Limit {
                    symbol: t.symbol.clone(),
                    wanted_shares: t.shares,
                    planned_shares: got,
                    reason,
                });
            }
        }
        for (sym, (q, v)) in buys {
            add(trades, &sym, q, v);
        }
        Ok(compose(orig, &hard, trades))
    }
}

/// The admitted sales (harvests first) and where they fell short of `hard`.
struct SalesOutcome {
    sales: Vec<Sale>,
    limits: Vec<Limit>,
    cut: bool,
    proceeds: Decimal,
    sold: BTreeMap<String, Decimal>,
    realized: Realized,
}

/// Step 4: caps each sale of `hard` at the first loss lot a wash-sale window forbids, admits
/// slices within the budget, and records the lots consumed.
fn admit_sales(
    hard: &Plan,
    books: &[(&String, &Book)],
    wash: &mut WashWindow,
    budget: &Budget,
    harvested: &harvest::Outcome,
    whole: bool,
    as_of: chrono::NaiveDate,
) -> Result<SalesOutcome, TaxError> {
    let book_refs: Vec<&Book> = books.iter().map(|(_, b)| *b).collect();
    let mut limits = Vec::new();
    let Wanted {
        wants,
        wanted_qty,
        netted,
    } = wanted_sales(hard, books, &book_refs, wash, harvested, whole)?;
    let (reached, realized) =
        sells::admit(&book_refs, &wants, budget, harvested.realized, whole, as_of);
    let mut out = SalesOutcome {
        sales: harvested.sales.clone(),
        limits: Vec::new(),
        cut: false,
        proceeds: Decimal::ZERO,
        sold: BTreeMap::new(),
        realized,
    };
    for ((w, to), (sym, wanted, reason)) in wants.iter().zip(&reached).zip(&wanted_qty) {
        let b = book_refs[w.book];
        let q = *to - w.start;
        if q < *wanted {
            out.cut = true;
            let reason = if *to == w.end && w.end < w.start + *wanted {
                *reason
            } else {
                LimitReason::Budget
            };
            limits.push(Limit {
                symbol: sym.clone(),
                wanted_shares: -*wanted,
                planned_shares: -q,
                reason,
            });
        }
        if q > Decimal::ZERO {
            let uses = b.uses(w.start, *to, as_of);
            let mut r = Realized::default();
            for u in &uses {
                r += Realized::of(u.term, u.gain);
            }
            if uses.iter().any(|u| u.gain < Decimal::ZERO) {
                wash.record_loss_sale(sym);
            }
            out.proceeds += q * b.price;
            out.sold.insert(sym.clone(), q);
            out.sales.push(Sale {
                symbol: sym.clone(),
                shares: q,
                price: b.price,
                harvest: false,
                realized_short_term: r.short_term,
                realized_long_term: r.long_term,
                lots: uses,
            });
        }
    }
    for (sym, q, price) in netted {
        out.proceeds += q * price;
        *out.sold.entry(sym).or_default() += q;
    }
    out.limits = limits;
    Ok(out)
}

/// What the unconstrained plan wants to sell, per book: the lot range (capped before the first
/// loss when a wash sale blocks losses, whole shares), the shares wanted with the reason a cut
/// would have, and the sales of a harvest's alternate netted against its buy.
struct Wanted {
    wants: Vec<Want>,
    wanted_qty: Vec<(String, Decimal, LimitReason)>,
    netted: Vec<(String, Decimal, Decimal)>,
}

fn wanted_sales(
    hard: &Plan,
    books: &[(&String, &Book)],
    book_refs: &[&Book],
    wash: &WashWindow,
    harvested: &harvest::Outcome,
    whole: bool,
) -> Result<Wanted, TaxError> {
    let mut wants = Vec::new();
    let mut wanted_qty = Vec::new();
    let mut netted = Vec::new();
    for t in hard.trades.iter().filter(|t| t.side == Side::Sell) {
        let Some(i) = books.iter().position(|(s, _)| **s == t.symbol) else {
            return Err(TaxError::NotEnoughLots {
                symbol: t.symbol.clone(),
                wanted: t.shares,
                available: Decimal::ZERO,
            });
        };
        let b = book_refs[i];
        let start = b.used;
        // A sale of a harvest's alternate first un-buys what the harvest bought (netted into
        // one smaller buy order: no lot is consumed, nothing is realised).
        let from_buy = harvested
            .buys
            .get(&t.symbol)
            .map_or(Decimal::ZERO, |q| (*q).min(t.shares));
        if from_buy > Decimal::ZERO {
            netted.push((t.symbol.clone(), from_buy, b.price));
        }
        let from_lots = t.shares - from_buy;
        let mut end = (start + from_lots).min(b.position());
        let mut reason = LimitReason::Budget;
        if wash.loss_sale_blocked(&t.symbol) {
            let cap = b.before_first_loss(start);
            if cap < end {
                end = cap;
                reason = LimitReason::WashSaleLoss;
            }
        }
        if whole && end < b.position() {
            end = start + (end - start).floor();
        }
        wants.push(Want {
            book: i,
            start,
            end,
        });
        wanted_qty.push((t.symbol.clone(), from_lots, reason));
    }
    Ok(Wanted {
        wants,
        wanted_qty,
        netted,
    })
}

/// Checks settings on their own (no holdings needed): weights, budgets, identical groups,
/// alternates. The daemon runs it at start-up, so a bad `[tax]` is found before a run.
pub fn validate(s: &TaxSettings) -> Result<(), TaxError> {
    if s.st_weight <= Decimal::ZERO {
        return Err(TaxError::Settings(format!(
            "st_weight must be positive (e.g. 2.0), got {}",
            s.st_weight
        )));
    }
    for (name, b) in [
        ("budget per run", s.budget_per_run),
        ("budget per year", s.budget_per_year),
    ] {
        if let Some(b) = b.filter(|b| *b < Decimal::ZERO) {
            return Err(TaxError::Settings(format!(
                "{name} must not be negative, got {b}"
            )));
        }
    }
    if s.harvest_min_loss < Decimal::ZERO {
        return Err(TaxError::Settings(format!(
            "harvest_min_loss must not be negative, got {}",
            s.harvest_min_loss
        )));
    }
    for (name, cap) in &s.exposure_caps {
        if !s.exposure_groups.contains_key(name) {
            return Err(TaxError::Settings(format!(
                "exposure cap {name}: there is no exposure group named {name}"
            )));
        }
        if *cap <= Decimal::ZERO || *cap > Decimal::ONE {
            return Err(TaxError::Settings(format!(
                "exposure cap {name} must be a weight in (0, 1], got {cap}"
            )));
        }
    }
    let identical = Identical::new(&s.identical)?;
    for (x, y) in &s.alternates {
        if x == y || identical.group(x) == identical.group(y) {
            return Err(TaxError::Settings(format!(
                "tax.alternates: {y} is substantially identical to {x}; a harvest into it \
                 would be a wash sale. Pick an alternate outside {x}'s identical group"
            )));
        }
    }
    Ok(())
}

/// Lot books per held symbol, checked against the positions.
fn build_books(req: &TaxRequest) -> Result<BTreeMap<String, Book>, TaxError> {
    let s = &req.settings;
    let mut by_symbol: BTreeMap<&str, Vec<Lot>> = BTreeMap::new();
    for l in &req.lots {
        let bad = |field: &'static str, message: String| TaxError::BadLot {
            symbol: l.symbol.clone(),
            field,
            message,
        };
        if l.quantity <= Decimal::ZERO {
            return Err(bad(
                "quantity",
                format!(
                    "must be positive (short lots are not supported), got {}",
                    l.quantity
                ),
            ));
        }
        if l.cost_basis_price < Decimal::ZERO {
            return Err(bad(
                "cost basis",
                format!("must not be negative, got {}", l.cost_basis_price),
            ));
        }
        if l.holding_start > req.as_of || l.open.date() > req.as_of {
            return Err(bad(
                "open date",
                format!("{} is after the plan date {}", l.open, req.as_of),
            ));
        }
        by_symbol
            .entry(l.symbol.as_str())
            .or_default()
            .push(l.clone());
    }
    let mut books = BTreeMap::new();
    for h in &req.plan.holdings {
        let lots = by_symbol.remove(h.symbol.as_str()).unwrap_or_default();
        let sum: Decimal = lots.iter().map(|l| l.quantity).sum();
        if (sum - h.quantity).abs() > QUANTITY_TOLERANCE {
            return Err(TaxError::LotMismatch {
                symbol: h.symbol.clone(),
                lots: sum,
                position: h.quantity,
            });
        }
        if !lots.is_empty() {
            let b = Book::new(h.price, lots, s.lot_method, req.as_of, s.st_weight);
            books.insert(h.symbol.clone(), b);
        }
    }
    if let Some((sym, lots)) = by_symbol.into_iter().next() {
        return Err(TaxError::LotMismatch {
            symbol: sym.to_string(),
            lots: lots.iter().map(|l| l.quantity).sum(),
            position: Decimal::ZERO,
        });
    }
    Ok(books)
}

fn lot_views(books: &BTreeMap<String, Book>, req: &TaxRequest) -> BTreeMap<String, Vec<LotView>> {
    books
        .iter()
        .map(|(sym, b)| {
            let mut v: Vec<LotView> = b
                .lots
                .iter()
                .map(|l| LotView {
                    open: l.open,
                    holding_start: l.holding_start,
                    term: l.term(req.as_of),
                    quantity: l.quantity,
                    cost_basis_price: l.cost_basis_price,
                    unrealized: l.quantity * l.gain_per_share(b.price),
                })
                .collect();
            v.sort_by_key(|a| a.open);
            (sym.clone(), v)
        })
        .collect()
}

/// Signed (shares, value) per symbol: + buy, − sell. Values are kept as the planner made them
/// (in `exact` granularity the value is primary, and `shares · price` would carry dust).
type Flows = BTreeMap<String, (Decimal, Decimal)>;

fn add(flows: &mut Flows, symbol: &str, shares: Decimal, value: Decimal) {
    let e = flows.entry(symbol.to_string()).or_default();
    e.0 += shares;
    e.1 += value;
}

/// Applies signed trades to holdings.
fn apply(holdings: &mut [Holding], trades: &Flows) {
    for h in holdings.iter_mut() {
        if let Some((q, v)) = trades.get(&h.symbol) {
            h.quantity += *q;
            h.market_value = h.market_value.map(|m| m + *v);
        }
    }
}

/// Invests `cash` after the admitted sales: `never-sell` over the post-sale holdings with
/// weight 0 for symbols sold in this run and for groups a wash-sale window forbids buying.
fn buy_phase(
    hard_req: &PlanRequest,
    sold: &BTreeMap<String, Decimal>,
    wash: &WashWindow,
    cash: Decimal,
) -> Result<Flows, TaxError> {
    let mut holdings = hard_req.holdings.clone();
    let neg: Flows = hard_req
        .holdings
        .iter()
        .filter_map(|h| {
            sold.get(&h.symbol)
                .map(|q| (h.symbol.clone(), (-*q, -*q * h.price)))
        })
        .collect();
    apply(&mut holdings, &neg);
    let mut weights: BTreeMap<String, Decimal> = match &hard_req.targets {
        Targets::Equal => holdings
            .iter()
            .map(|h| (h.symbol.clone(), Decimal::ONE))
            .collect(),
        Targets::Weights(m) => m.clone(),
    };
    for (sym, w) in weights.iter_mut() {
        if sold.contains_key(sym) || wash.buy_blocked(sym) {
            *w = Decimal::ZERO;
        }
    }
    if weights.values().all(|w| w.is_zero()) {
        return Ok(BTreeMap::new());
    }
    let req = PlanRequest {
        holdings,
        targets: Targets::Weights(weights),
        cash,
        strategy: Strategy::NeverSell,
        ..hard_req.clone()
    };
    let p = strategy::plan(&req)?;
    Ok(p.trades
        .iter()
        .filter(|t| t.side == Side::Buy)
        .map(|t| (t.symbol.clone(), (t.shares, t.value)))
        .collect())
}

/// The final plan on the original holdings with the combined signed trades; targets come
/// from `template` (the `hard` plan on the grouped targets).
fn compose(orig: &PlanRequest, template: &Plan, trades: &Flows) -> Plan {
    let by_sym: HashMap<&str, &Holding> = orig
        .holdings
        .iter()
        .map(|h| (h.symbol.as_str(), h))
        .collect();
    let mut lines = template.lines.clone();
    let mut total_before = Decimal::ZERO;
    let mut cash_used = Decimal::ZERO;
    for l in lines.iter_mut() {
        if let Some(h) = by_sym.get(l.symbol.as_str()) {
            l.quantity_before = h.quantity;
            l.value_before = h.value();
        }
        let (q, v) = trades.get(&l.symbol).copied().unwrap_or_default();
        l.trade_shares = q;
        l.trade_value = v;
        l.value_after = l.value_before + l.trade_value;
        total_before += l.value_before;
        cash_used += l.trade_value;
    }
    let total_after = total_before + cash_used;
    let ratio = |v: Decimal, t: Decimal| if t.is_zero() { Decimal::ZERO } else { v / t };
    let mut out_trades = Vec::new();
    for l in lines.iter_mut() {
        l.weight_before = ratio(l.value_before, total_before);
        l.weight_after = ratio(l.value_after, total_after);
        if !l.trade_shares.is_zero() {
            out_trades.push(strategy::Trade {
                symbol: l.symbol.clone(),
                conid: l.conid,
                side: if l.trade_shares > Decimal::ZERO {
                    Side::Buy
                } else {
                    Side::Sell
                },
                shares: l.trade_shares.abs(),
                value: l.trade_value.abs(),
                price: l.price,
            });
        }
    }
    Plan {
        cash_used,
        cash_left: orig.cash - cash_used,
        total_before,
        total_after,
        lines,
        trades: out_trades,
        proven_optimal: false,
        cash: orig.cash,
        ..template.clone()
    }
}
