//! Pure planning: holdings + prices + targets + cash → a [`Plan`]. No I/O, no clock, no `f64`.
//!
//! Everything the daemon does ends in a plan, so this module is small, exact (`rust_decimal`)
//! and deterministic: holdings are sorted by symbol first, so the input order never matters.
//!
//! # Notation
//! Asset *i* has price *P_i*, quantity *q_i*, value *p_i = q_i·P_i*, normalised weight *w_i*;
//! *V = Σ p_i*; cash *c* (> 0 add, < 0 withdraw); buffer *b* ≥ 0. The investable amount is
//! *B = c − b* for `hard`, *B = max(0, c − b)* for `never-sell` with *c ≥ 0*, and *B = c* for
//! `never-sell` withdrawals (the buffer only limits spending; it never causes a sale).
//! Target values are *T_i = w_i·(V + B)*.
//!
//! # Continuous optimum (`exact` granularity), O(n log n)
//! - `hard`: *x_i = T_i − p_i*. Sums to *B*; hits every target exactly.
//! - `never-sell`, *B ≥ 0*: water-fill. Sort by *p_i/w_i* ascending and raise the lowest to a
//!   common level *L* (*x_i = max(0, w_i·L − p_i)*), *L* found in one pass over prefix sums so
//!   that *Σ x_i = B*. Zero-weight holdings are never bought.
//! - `never-sell`, *c < 0*: the mirror image. Zero-weight holdings are sold first (lower
//!   unrealized P&L first, then symbol); then the highest *p_i/w_i* are lowered to a common level
//!   (*x_i = −max(0, p_i − w_i·L)*, never below zero). A withdrawal above *V* is an error.
//!
//! # Whole shares (`shares` granularity)
//! Choose integer share counts *n_i* (a fractional position may also be closed entirely) with
//! spend *s_i = n_i·P_i* minimising, lexicographically,
//! 1. *Σ k_i·(r_i − s_i)²* with *k_i = max_w / w_i* — the weighted squared deviation from the
//!    targets (*r_i = T_i − p_i*). For never-sell withdrawals the cash freed beyond *|c|*
//!    stays in the account and is part of the deviation: a holding with target 0 (weight 1,
//!    like any zero-weight holding), adding *e²* for the excess *e = c − Σ s_i*. And every sale
//!    must be needed: un-selling the last unit of any sold asset would raise less than *|c|*
//!    (otherwise this objective would sell far more than asked from a holding well above its
//!    target — a hard rebalance in disguise). See `shares/sell.rs`;
//! 2. *−Σ s_i* — on a tie, invest idle cash (or raise no more than needed);
//! 3. *Σ |T_i − p_i − s_i|* — the total absolute deviation,
//!
//! subject to *Σ s_i ≤ B* (never-sell buys: spend ≤ cash − buffer; withdrawals: raise at least
//! *|c|*; hard: buys ≤ sells + cash − buffer), *n_i ≥ −q_i* (never sell more than held), and for
//! never-sell only buys (or only sells).
//!
//! Why squared and not absolute deviation first: with absolute deviation every dollar spent on
//! any under-target asset counts the same, so its exact optimum happily wrecks the water-fill
//! shape to spend the last few dollars (on the README example it bought 2 VCR and 12 VDC to
//! spend $5000.00 exactly). The weighted squared deviation has the water-fill as its continuous
//! optimum, and a share lowers it exactly when it lowers the absolute deviation of its asset
//! (when the asset is more than half a share below target), so "no cash left idle while a
//! purchase would reduce the deviation" holds for both measures.
//!
//! The problem is a nonlinear knapsack and NP-hard in general (it contains subset-sum), so no
//! exact O(n log n) algorithm exists unless P = NP. The planner therefore runs, in `shares`:
//! 1. **Start**: *n_i = ⌊x_i/P_i⌋* (clamped to the holding) — feasible because *Σ x_i ≤ B*.
//! 2. **Greedy completion**, O((n + k) log n) for *k* extra shares: repeatedly buy the one
//!    affordable share that lowers the cost most (ties: lower P&L, then symbol) until none
//!    does. So no cash is left idle while a purchase would reduce the deviation.
//! 3. **Branch and bound** (exact), for inputs of at most 4096 assets: a root bound may prove
//!    the greedy plan optimal at once; otherwise, when at most 48 assets have a choice, a
//!    depth-first search over share counts (assets by descending price, starting from the
//!    continuous optimum) pruned by a lower bound on the undecided assets: the larger of the
//!    per-asset integer minimum and the exact continuous optimum under the remaining budget
//!    (spends kept above their lower limits: a water-fill of the cuts, O(m) per node), with
//!    the budget first tightened to the largest spend the remaining assets can reach exactly
//!    (a subset-sum bitset over cents, built when small). If it finishes within 400 000
//!    nodes the result is proven optimal ([`Plan::proven_optimal`]); otherwise the best plan
//!    found is returned, marked unproven. Typical daemon portfolios (≤ ~20 assets) are proven
//!    in well under a millisecond; property tests compare with brute force on random cases.
//!
//! Complexity: validation, water-fill and greedy are O(n log n); the search is bounded by
//! its node limit (each node O(m), m ≤ 48).
//!
//! # Increment granularity (original-tool parity)
//! See the `increment` module: the original's dollar-step loop, reproduced exactly (with Decimal
//! instead of floats), minus its bugs.
use std::cmp::Ordering;

use rust_decimal::Decimal;

mod bands;
mod build;
mod fast;
mod increment;
pub(crate) mod mantissa;
pub mod margin;
mod mintrades;
pub(crate) mod quotient;
mod shares;
pub(crate) mod symbol;
mod types;
mod waterfill;

use build::build_plan;
pub use build::{Outline, TradeOf, trade_of};
pub use margin::{MarginRequest, MarginSummary};
pub use types::*;

/// Upper bound on any single amount, so exact arithmetic can never overflow (Decimal panics on
/// overflow; we reject instead). 10^15 dollars or shares is far beyond any real account.
const MAX_AMOUNT: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0); // 1e15

/// One holding after validation, in the planner's internal form.
#[derive(Debug, Clone)]
pub(crate) struct Asset<'a> {
    pub symbol: &'a str,
    pub price: Decimal,
    pub quantity: Decimal,
    pub value: Decimal,
    pub pnl: Decimal,
    /// Raw (un-normalised) weight; only ratios matter.
    pub weight: Decimal,
    pub conid: Option<i64>,
    pub currency: Option<&'a str>,
}

/// The planner's entry point. Validates the request, then computes the plan described in the
/// module docs. Never panics on input: bad input is a [`PlanError`] naming the field.
pub fn plan(req: &PlanRequest) -> Result<Plan, PlanError> {
    outline(req).map(Outline::into_plan)
}

/// [`plan`] before its rows are collected: what a writer that prints the rows once needs
/// (see [`Outline`]). `outline(req)?.into_plan()` is `plan(req)?`.
pub fn outline(req: &PlanRequest) -> Result<Outline<'_>, PlanError> {
    outline_given(req, None)
}

/// [`outline`] of `req` with its holdings given as `assets` ([`Asset::checked`], in the
/// holdings' order) instead of `req.holdings`, which is not read: the same outline as
/// `outline` of `req` with those holdings. Why: the CSV reader's fast path makes each row an
/// asset straight from the file's bytes (a 10^5-row file was ~15 MB of [`Holding`]s, copied
/// once more into assets). `None` when [`PlanRequest::needs_holdings`]: plan the holdings.
pub(crate) fn outline_assets<'a>(
    req: &'a PlanRequest,
    assets: Vec<Asset<'a>>,
) -> Option<Result<Outline<'a>, PlanError>> {
    (!req.needs_holdings()).then(|| outline_given(req, Some(assets)))
}

impl PlanRequest {
    /// Whether planning reads `holdings` themselves, not only the assets made of them:
    /// drift bands (but min-trades') re-plan the assets outside their band from their
    /// holdings.
    pub(crate) fn needs_holdings(&self) -> bool {
        !self.bands.is_off() && self.strategy != Strategy::MinTrades
    }
}

/// [`outline`], the holdings given as assets or (`None`) read from the request.
fn outline_given<'a>(req: &'a PlanRequest, given: Given<'a>) -> Result<Outline<'a>, PlanError> {
    if req.strategy == Strategy::MinTrades {
        if req.granularity != Granularity::Shares {
            return Err(PlanError::MinTradesWholeSharesOnly);
        }
        return mintrades::plan(req, given);
    }
    if !req.bands.is_off() {
        debug_assert!(given.is_none());
        return bands::plan(req);
    }
    unbanded(req, given)
}

/// The holdings already made into assets ([`outline_assets`]), or `None`: read
/// `req.holdings`.
type Given<'a> = Option<Vec<Asset<'a>>>;

/// [`outline`] of never-sell and hard without drift bands (the bands' own plans start here).
fn unbanded<'a>(req: &'a PlanRequest, given: Given<'a>) -> Result<Outline<'a>, PlanError> {
    let (assets, weight_sum, total_before) = validate(req, given)?;
    let budget = investable(req);
    if total_before + budget < Decimal::ZERO {
        return Err(PlanError::WithdrawalExceedsPortfolio {
            requested: -budget,
            available: total_before,
        });
    }
    let per_weight = if weight_sum.is_zero() {
        Decimal::ZERO
    } else {
        (total_before + budget) / weight_sum
    };
    let targets = target_values(&assets, weight_sum, total_before + budget, per_weight);

    let mut notes = Vec::new();
    // The whole-share search sums its spends to check the budget: the plan's cash used is
    // that sum when no trade is dropped afterwards.
    let mut summed = None;
    let (spend, proven_optimal) = match req.granularity {
        Granularity::Increment(n) => {
            let step = Decimal::from(10u64.pow(n));
            let spend = match req.strategy {
                Strategy::NeverSell => increment::never_sell(&assets, budget, step)?,
                Strategy::Hard | Strategy::MinTrades => increment::hard(&assets, &targets, step),
            };
            (spend, true)
        }
        Granularity::Exact | Granularity::Shares => {
            let continuous = match req.strategy {
                Strategy::Hard | Strategy::MinTrades => assets
                    .iter()
                    .zip(&targets)
                    .map(|(a, t)| *t - a.value)
                    .collect(),
                Strategy::NeverSell => waterfill::never_sell(&assets, budget),
            };
            if req.granularity == Granularity::Exact {
                let continuous = waterfill::fix_dust(continuous, budget, &assets)?;
                let spend = continuous
                    .iter()
                    .zip(&assets)
                    .map(|(x, a)| {
                        Spend::Value(*x, quotient::checked_div(*x, a.price).unwrap_or_default())
                    })
                    .collect();
                (spend, true)
            } else {
                let (spend, proven, total) =
                    whole_shares(req, &assets, &targets, continuous, budget, &mut notes)?;
                summed = Some(total);
                (spend, proven)
            }
        }
    };

    // Dropping small trades happens after the optimisation, so the result is no longer the
    // proven optimum of anything: say so.
    // (`apply_min_trade` returns the spends unchanged for a minimum of zero or less.)
    let summed = summed.filter(|_| req.min_trade_value <= Decimal::ZERO);
    let (spend, dropped) = apply_min_trade(spend, req.min_trade_value, budget, req.strategy);
    let proven_optimal = proven_optimal && !dropped;
    let parts = build::Parts {
        weight_sum,
        total_before,
        proven_optimal,
        cash_used: summed.unwrap_or_else(|| build::cash_used(&spend)),
    };
    let mut plan = build::build_plan_summed(req, assets, targets, spend, parts);
    plan.notes = notes;
    Ok(plan)
}

/// Whole-share mode: the exact search of `shares` from the continuous optimum, refused up
/// front (with the numbers) when whole shares cannot raise a withdrawal. Returns the spends
/// and whether the search proved them optimal, with their sum ([`build::cash_used`]);
/// `notes` gets each fractional position closed.
fn whole_shares(
    req: &PlanRequest,
    assets: &[Asset<'_>],
    targets: &[Decimal],
    continuous: Vec<Decimal>,
    budget: Decimal,
    notes: &mut Vec<String>,
) -> Result<(Vec<Spend>, bool, Decimal), PlanError> {
    let only = match req.strategy {
        Strategy::Hard | Strategy::MinTrades => shares::Direction::Both,
        Strategy::NeverSell if budget >= Decimal::ZERO => shares::Direction::BuyOnly,
        Strategy::NeverSell => shares::Direction::SellOnly,
    };
    // Rounded down at 1e-10 dollars: identical assets keep identical references
    // (division dust must not break ties), and Σ x stays ≤ the budget.
    // (Hard: `T − p` has no such dust, identical assets get identical values; there the
    // continuous optimum is the deviation itself, so one vector serves both.)
    let hard = req.strategy == Strategy::Hard;
    let deviations: Vec<Decimal> = if hard {
        Vec::new()
    } else {
        assets
            .iter()
            .zip(targets)
            .map(|(a, t)| *t - a.value)
            .collect()
    };
    let continuous: Vec<Decimal> = if hard {
        continuous
    } else {
        continuous
            .into_iter()
            .map(|x| fast::floor_dp(x, 10).unwrap_or_else(|| fast::floor_dp_ref(x, 10)))
            .collect()
    };
    let deviations = if hard { &continuous } else { &deviations };
    let whole = !req.sell_fractional_remainders;
    check_whole_shares_can_raise(assets, budget, only, whole)?;
    let sol = shares::solve(assets, deviations, &continuous, budget, only, whole);
    let spend: Vec<Spend> = sol
        .quantities
        .iter()
        .zip(assets)
        .map(|(n, a)| Spend::Shares(*n, mantissa::mul(*n, a.price)))
        .collect();
    let spend_total = build::cash_used(&spend);
    if spend_total > budget {
        // Fail closed: unreachable after the check above, but never emit a plan
        // that breaks the budget.
        return Err(PlanError::WholeSharesCannotRaise {
            needed: -budget,
            max: -spend_total,
        });
    }
    for (n, a) in sol.quantities.iter().zip(assets) {
        if !n.fract().is_zero() {
            notes.push(format!(
                "{}: closes the fractional position ({} shares) entirely \
                 (portfolio.sell_fractional_remainders)",
                a.symbol, a.quantity
            ));
        }
    }
    Ok((spend, sol.proven_optimal, spend_total))
}

/// Whole-share mode: refuse up front when selling every whole share (and, if allowed, every
/// fractional remainder) still cannot meet the budget — with the numbers.
fn check_whole_shares_can_raise(
    assets: &[Asset],
    budget: Decimal,
    dir: shares::Direction,
    whole: bool,
) -> Result<(), PlanError> {
    if dir == shares::Direction::BuyOnly || budget >= Decimal::ZERO {
        return Ok(());
    }
    let max: Decimal = assets
        .iter()
        .map(|a| shares::sellable(a.quantity, whole) * a.price)
        .sum();
    if max < -budget {
        return Err(PlanError::WholeSharesCannotRaise {
            needed: -budget,
            max,
        });
    }
    Ok(())
}

/// The investable amount B (module docs).
fn investable(req: &PlanRequest) -> Decimal {
    match req.strategy {
        Strategy::Hard | Strategy::MinTrades => req.cash - req.buffer,
        Strategy::NeverSell if req.cash >= Decimal::ZERO => {
            (req.cash - req.buffer).max(Decimal::ZERO)
        }
        Strategy::NeverSell => req.cash,
    }
}

/// What the planner decided for one asset: (value, shares), with the rounding rules of the
/// granularity that produced it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Spend {
    /// Shares are primary (whole shares): value = shares · price.
    Shares(Decimal, Decimal),
    /// Value is primary (exact / increment): (value, shares).
    Value(Decimal, Decimal),
}

impl Spend {
    fn value(self) -> Decimal {
        match self {
            Spend::Shares(_, v) | Spend::Value(v, _) => v,
        }
    }
    fn shares(self) -> Decimal {
        match self {
            Spend::Shares(n, _) | Spend::Value(_, n) => n,
        }
    }
    const NONE: Spend = Spend::Shares(Decimal::ZERO, Decimal::ZERO);
}

/// `T_i = w_i · (total / W)`: one division for the whole portfolio (equal weights are all 1,
/// so every target is exactly `total / n`), and a single asset holding all the weight gets
/// exactly `total`.
///
/// Equality is tested on the bits first ([`mantissa::eq`]): with equal weights every row
/// asks whether `1 == n` and `1 == 1`, and `Decimal`'s `==` is a call that aligns scales.
fn target_value(weight: Decimal, weight_sum: Decimal, total: Decimal, per: Decimal) -> Decimal {
    if weight.is_zero() || weight_sum.is_zero() {
        Decimal::ZERO
    } else if mantissa::eq(weight, weight_sum) {
        total
    } else if mantissa::eq(weight, Decimal::ONE) {
        per
    } else {
        mantissa::mul(weight, per)
    }
}

/// Every asset's [`target_value`]. It depends on the weight alone, so one computation serves
/// every row of the same weight (all of them with equal weights).
pub(crate) fn target_values(
    assets: &[Asset],
    weight_sum: Decimal,
    total: Decimal,
    per: Decimal,
) -> Vec<Decimal> {
    let mut memo = fast::Memo::new();
    assets
        .iter()
        .map(|a| memo.get(a.weight, |w| target_value(w, weight_sum, total, per)))
        .collect()
}

/// Drops trades smaller than `min` (absolute value); returns whether any was dropped.
/// Dropping a sell in `hard` can leave buys above sells + budget; then the smallest buys are
/// dropped too until the budget holds again, so the constraint is never violated (fail
/// closed).
fn apply_min_trade(
    mut spend: Vec<Spend>,
    min: Decimal,
    budget: Decimal,
    strategy: Strategy,
) -> (Vec<Spend>, bool) {
    if min <= Decimal::ZERO {
        return (spend, false);
    }
    let mut dropped = false;
    for s in spend.iter_mut() {
        if !s.value().is_zero() && s.value().abs() < min {
            *s = Spend::NONE;
            dropped = true;
        }
    }
    let total: Decimal = spend.iter().map(|s| s.value()).sum();
    if strategy == Strategy::Hard && total > budget {
        let mut buys: Vec<usize> = (0..spend.len())
            .filter(|&i| spend[i].value() > Decimal::ZERO)
            .collect();
        buys.sort_by(|&a, &b| spend[a].value().cmp(&spend[b].value()).then(a.cmp(&b)));
        let mut total = total;
        for i in buys {
            if total <= budget {
                break;
            }
            total -= spend[i].value();
            spend[i] = Spend::NONE;
        }
    }
    (spend, dropped)
}

/// Checks the request and turns its holdings into assets sorted by symbol; returns them with
/// the weight sum and the portfolio value `V` (summed once here for every caller).
fn validate<'a>(
    req: &'a PlanRequest,
    given: Given<'a>,
) -> Result<(Vec<Asset<'a>>, Decimal, Decimal), PlanError> {
    if req.buffer < Decimal::ZERO {
        return Err(PlanError::NegativeBuffer(req.buffer));
    }
    if req.min_trade_value < Decimal::ZERO {
        return Err(PlanError::NegativeMinTrade(req.min_trade_value));
    }
    if let Granularity::Increment(n) = req.granularity
        && !(1..=4).contains(&n)
    {
        return Err(PlanError::InvalidIncrement(n));
    }
    for (field, v) in [
        ("cash", req.cash),
        ("buffer", req.buffer),
        ("min_trade_value", req.min_trade_value),
    ] {
        if v.abs() > MAX_AMOUNT {
            return Err(PlanError::Overflow(format!("{field} = {v} exceeds 10^15")));
        }
    }
    let mut assets = match given {
        // Each checked as it was made ([`Asset::checked`]).
        Some(assets) => assets,
        None => {
            // Sized once: collecting a `Result` iterator grows the vector by doubling, moving
            // every asset several times.
            let mut assets = Vec::with_capacity(req.holdings.len());
            for h in &req.holdings {
                // Checked first, then written once into the vector (an `Asset` returned
                // through a `Result` was copied twice on the way).
                let value = checked_value(h)?;
                assets.push(Asset {
                    symbol: &h.symbol,
                    price: h.price,
                    quantity: h.quantity,
                    value,
                    pnl: h.unrealized_pnl,
                    weight: Decimal::ONE,
                    conid: h.conid,
                    currency: h.currency.as_deref(),
                });
            }
            assets
        }
    };
    // Exports are usually sorted by symbol already: checking is O(n), sorting O(n log n).
    // Strictly increasing also rules out duplicates, so the usual case is one pass.
    if !assets.is_sorted_by(|a, b| symbol::less(a.symbol, b.symbol)) {
        assets.sort_unstable_by(|a, b| a.symbol.cmp(b.symbol));
        if let Some(w) = assets.windows(2).find(|w| w[0].symbol == w[1].symbol) {
            return Err(PlanError::DuplicateSymbol(w[0].symbol.to_string()));
        }
    }
    let total = mantissa::sum(assets.iter().map(|a| a.value));
    if total > MAX_AMOUNT {
        return Err(PlanError::Overflow(
            "total portfolio value exceeds 10^15".into(),
        ));
    }
    let weight_sum = match &req.targets {
        Targets::Equal => Decimal::from(assets.len()),
        Targets::Weights(map) => apply_weights(&mut assets, map)?,
    };
    Ok((assets, weight_sum, total))
}

/// One holding checked (symbol, positive price, non-negative quantity and value, magnitudes
/// within 10^15); returns its value (the reported market value, else quantity · price).
fn checked_value(h: &Holding) -> Result<Decimal, PlanError> {
    // `trim` only when the first byte could be white space.
    if !h
        .symbol
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_graphic)
        && h.symbol.trim().is_empty()
    {
        return Err(PlanError::EmptySymbol(h.symbol.clone()));
    }
    checked_figures(h)
}

impl<'a> Asset<'a> {
    /// The asset of a holding with these fields (no conid or currency), when validation
    /// accepts the holding; `None` where it reports an error (the caller then plans the
    /// holdings themselves, which reports it). The same checks and value as for a
    /// [`Holding`] (`checked_value`), on fields borrowed from where they were read.
    #[inline(always)]
    pub(crate) fn checked(
        symbol: &'a str,
        quantity: Decimal,
        price: Decimal,
        unrealized_pnl: Decimal,
        market_value: Option<Decimal>,
    ) -> Option<Asset<'a>> {
        if symbol.trim().is_empty() {
            return None;
        }
        let value = checked_parts(quantity, price, unrealized_pnl, market_value).ok()?;
        Some(Asset {
            symbol,
            price,
            quantity,
            value,
            pnl: unrealized_pnl,
            weight: Decimal::ONE,
            conid: None,
            currency: None,
        })
    }
}

/// [`checked_value`] past the symbol: [`checked_parts`], its errors naming the holding.
#[inline(always)]
fn checked_figures(h: &Holding) -> Result<Decimal, PlanError> {
    checked_parts(h.quantity, h.price, h.unrealized_pnl, h.market_value).map_err(|bad| {
        let symbol = h.symbol.clone();
        match bad {
            Bad::Price => PlanError::NonPositivePrice {
                symbol,
                price: h.price,
            },
            Bad::Quantity => PlanError::NegativeQuantity {
                symbol,
                quantity: h.quantity,
            },
            Bad::Magnitude => {
                PlanError::Overflow(format!("{symbol}: price, quantity or P&L exceeds 10^15"))
            }
            Bad::Value(value) => PlanError::NegativeValue { symbol, value },
            Bad::Product => {
                PlanError::Overflow(format!("{symbol}: quantity · price exceeds 10^15"))
            }
        }
    })
}

/// What [`checked_parts`] found wrong, in the order it checks.
enum Bad {
    Price,
    Quantity,
    Magnitude,
    Value(Decimal),
    Product,
}

/// A holding's figures checked (positive price, non-negative quantity and market value,
/// magnitudes within 10^15); returns its value (the market value, else quantity · price).
#[inline(always)]
fn checked_parts(
    quantity: Decimal,
    price: Decimal,
    pnl: Decimal,
    market_value: Option<Decimal>,
) -> Result<Decimal, Bad> {
    // Sign tests rather than comparisons with zero (a call each); -0 counts as zero, as there.
    if price.is_zero() || price.is_sign_negative() {
        return Err(Bad::Price);
    }
    if quantity.is_sign_negative() && !quantity.is_zero() {
        return Err(Bad::Quantity);
    }
    // Mantissa-first bounds ([`exceeds_max`]): no rescaling comparison per row. Price and
    // quantity are positive here, so their magnitude is the value compared before.
    if exceeds_max(price) || exceeds_max(quantity) || exceeds_max(pnl) {
        return Err(Bad::Magnitude);
    }
    if let Some(v) = market_value.filter(|v| v.is_sign_negative() && !v.is_zero()) {
        return Err(Bad::Value(v));
    }
    market_value
        .or_else(|| quantity.checked_mul(price))
        .filter(|v| !exceeds_max(*v))
        .ok_or(Bad::Product)
}

/// `|v| > MAX_AMOUNT`, as `fast::abs_exceeds(v, MAX_AMOUNT)` answers it, with that call out of
/// line. Why: inlined four times into validation's loop, its rare `Decimal` comparison (which
/// takes its operands by reference) made the compiler store `MAX_AMOUNT` and keep pointers
/// to the holding's figures on the stack for every check of every row. Why it is exact: a
/// mantissa of magnitude at most 10^15 has a value of at most 10^15 at any scale, which is
/// `abs_exceeds`'s own first answer for this limit (scale 0, mantissa 10^15); every other
/// value goes to `abs_exceeds` itself.
#[inline(always)]
fn exceeds_max(v: Decimal) -> bool {
    const MAX_MANTISSA: u128 = 1_000_000_000_000_000;
    if v.mantissa().unsigned_abs() <= MAX_MANTISSA {
        return false;
    }
    exceeds_max_cold(v)
}

/// [`exceeds_max`] beyond its mantissa test.
#[cold]
#[inline(never)]
fn exceeds_max_cold(v: Decimal) -> bool {
    fast::abs_exceeds(v, MAX_AMOUNT)
}

/// Explicit target weights: each non-negative, bounded and priced; sets every asset's weight
/// (0 when not a target) and returns their sum.
fn apply_weights(
    assets: &mut [Asset<'_>],
    map: &std::collections::BTreeMap<String, Decimal>,
) -> Result<Decimal, PlanError> {
    for (sym, w) in map {
        if *w < Decimal::ZERO {
            return Err(PlanError::NegativeWeight {
                symbol: sym.clone(),
                weight: *w,
            });
        }
        if *w > MAX_AMOUNT {
            return Err(PlanError::Overflow(format!(
                "target {sym}: weight too large"
            )));
        }
        if assets.binary_search_by(|a| a.symbol.cmp(sym)).is_err() {
            return Err(PlanError::TargetWithoutPrice(sym.clone()));
        }
    }
    let sum: Decimal = map.values().sum();
    if sum.is_zero() {
        return Err(PlanError::ZeroTotalWeight);
    }
    for a in assets.iter_mut() {
        a.weight = map.get(a.symbol).copied().unwrap_or(Decimal::ZERO);
    }
    Ok(sum)
}

/// Total order used for every tie-break: lower unrealized P&L first, then symbol.
pub(crate) fn tie_break(a: &Asset, b: &Asset) -> Ordering {
    a.pnl.cmp(&b.pnl).then_with(|| a.symbol.cmp(b.symbol))
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bands;
#[cfg(test)]
mod tests_build;
#[cfg(test)]
mod tests_margin;
#[cfg(test)]
mod tests_mintrades;
#[cfg(test)]
mod tests_whole;
#[cfg(test)]
mod tests_withdrawal;
