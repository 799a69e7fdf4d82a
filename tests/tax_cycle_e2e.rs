//! `portfolio.strategy = "tax-aware"` in the cycle, end to end against the simulator: the
//! lots and trades come from the simulator's Flex Web Service, pbal's own fills since the
//! statement are applied from the journal, the plan respects the per-year budget (year to date
//! from the Flex trades and the journal), the run record keeps the audit, and lots that do not
//! match the positions stop the run.
use chrono::{Datelike, Duration, NaiveDate, Utc};
use pbal::config::{OrderMode, Settings};
use pbal::cycle::RunKind;
use pbal::sim::SimConfig;
use pbal::sim::account::{AccountSpec, InstrumentSpec};
use pbal::sim::flex::FlexSimConfig;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

mod common;
use common::SimEnv;

const QUERY: &str = "777";

fn instrument(symbol: &str, conid: i64, price: Decimal, quantity: Decimal) -> InstrumentSpec {
    InstrumentSpec {
        symbol: symbol.into(),
        conid,
        price,
        quantity,
        avg_cost: price,
        name: String::new(),
        exchange: "ARCA".into(),
        asset_class: "STK".into(),
        kind: "ETF".into(),
        currency: None,
        tick: None,
    }
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// The exchange's date today (the cycle plans in the schedule's zone, New York).
fn today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive()
}

/// A Flex statement through yesterday: VTI in two lots (an old long-term one at 40 and a
/// short-term one at 90), BND in one, and one sale earlier this year realising +300 LT.
fn statement(vti_lots: [Decimal; 2], sale_day: NaiveDate) -> Vec<u8> {
    let through = today() - Duration::days(1);
    let recent = ymd(today() - Duration::days(40));
    format!(
        r#"<FlexQueryResponse queryName="pbal" type="AF"><FlexStatements count="1">
<FlexStatement accountId="DU7654321" fromDate="{from}" toDate="{to}" whenGenerated="{to};200000">
<OpenPositions>
<OpenPosition symbol="VTI" conid="101" position="{total}" levelOfDetail="SUMMARY"/>
<OpenPosition symbol="VTI" conid="101" position="{a}" levelOfDetail="LOT" costBasisPrice="40" openDateTime="20200102;100000" holdingPeriodDateTime="20200102;100000"/>
<OpenPosition symbol="VTI" conid="101" position="{b}" levelOfDetail="LOT" costBasisPrice="90" openDateTime="{recent};100000" holdingPeriodDateTime="{recent};100000"/>
<OpenPosition symbol="BND" conid="102" position="100" levelOfDetail="LOT" costBasisPrice="50" openDateTime="20210104;100000" holdingPeriodDateTime="20210104;100000"/>
</OpenPositions>
<Trades>
<Trade symbol="XYZ" conid="103" tradeDate="{sale}" quantity="-10" buySell="SELL" fifoPnlRealized="300" notes="LT" levelOfDetail="EXECUTION"/>
</Trades>
</FlexStatement></FlexStatements></FlexQueryResponse>"#,
        from = ymd(NaiveDate::from_ymd_opt(through.year(), 1, 1).unwrap()),
        to = ymd(through),
        total = vti_lots[0] + vti_lots[1],
        a = vti_lots[0],
        b = vti_lots[1],
        sale = ymd(sale_day),
    )
    .into_bytes()
}

/// VTI 100 at 100, BND 100 at 50, no cash; the Flex service serves `body` as query 777
/// after `in_progress` "statement generation in progress" answers.
async fn start(body: Vec<u8>, in_progress: u32) -> SimEnv {
    let mut cfg = SimConfig::relaxed();
    cfg.account = AccountSpec {
        account_id: "DU7654321".into(),
        cash: Decimal::ZERO,
        instruments: vec![
            instrument("VTI", 101, dec!(100), dec!(100)),
            instrument("BND", 102, dec!(50), dec!(100)),
        ],
        ..AccountSpec::default_ten_etf()
    };
    cfg.flex = FlexSimConfig {
        queries: [(QUERY.to_string(), body)].into(),
        in_progress_polls: in_progress,
        pacing: None,
        ..FlexSimConfig::default()
    };
    SimEnv::start(cfg).await
}

/// Tax-aware 50/50 with a per-year budget of 500, HIFO, short-term gains counted twice.
fn settings(env: &SimEnv) -> Settings {
    let mut s = common::settings::rebalancing(&env.sim, env.path(), "tax-aware");
    s.portfolio.targets = [
        ("VTI".to_string(), dec!(0.5)),
        ("BND".to_string(), dec!(0.5)),
    ]
    .into();
    s.tax.lot_method = "HIFO".into();
    s.tax.st_weight = dec!(2);
    s.tax.budget_per_year = Some(dec!(500));
    let token = env.path().join("flex-token");
    std::fs::write(&token, FlexSimConfig::default().token).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.flex.token_file = Some(token);
    s.flex.lots_query = QUERY.into();
    s.flex.trades_query = QUERY.into();
    s.flex.url = format!("{}/AccountManagement/FlexWebService", env.sim.base_url());
    s.flex.ca_cert = Some(env.ca_path());
    s.validate().expect("valid tax-aware settings");
    s
}

fn tax_of(report: &pbal::cycle::CycleReport) -> &pbal::cycle::tax_step::TaxRecord {
    report
        .plan
        .as_ref()
        .unwrap()
        .tax
        .as_ref()
        .expect("a tax record")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tax_aware_submit_respects_the_year_budget_and_the_next_run_counts_its_fills() {
    let yesterday = today() - Duration::days(1);
    // The earlier sale is this year's whenever the statement's last day is.
    let same_year = yesterday.year() == today().year();
    let sale_day = if same_year { yesterday } else { today() };
    let env = start(statement([dec!(50), dec!(50)], sale_day), 1).await;
    let cycle = common::cycle::build(settings(&env));

    // Run 1: hard wants to sell 25 VTI. HIFO takes the 90 lot first: +10 ST a share, which
    // costs 20 of budget. The year has 500 − 300 (Flex, LT) = 200 left: 10 shares.
    let r = cycle
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "completed", "{r:?}");
    let t = tax_of(&r);
    let flex_ytd = if same_year { dec!(300) } else { Decimal::ZERO };
    assert_eq!(t.audit.budget, Some(dec!(500) - flex_ytd));
    let sale = &t.audit.sales[0];
    assert_eq!((sale.symbol.as_str(), sale.shares), ("VTI", dec!(10)));
    assert_eq!(sale.lots[0].cost_basis_price, dec!(90));
    assert_eq!(t.audit.realized_short_term, dec!(100));
    assert_eq!(t.audit.budget_left, Some(dec!(300) - flex_ytd));
    assert!(t.audit.limits.iter().any(|l| l.symbol == "VTI"));
    assert_eq!(t.statement, format!("Flex query {QUERY}"));
    assert_eq!(t.prices["VTI"].source, "last");
    assert_eq!(t.journal_fills_applied, 0);
    // The run record keeps the audit.
    let rid = r.run_id.clone();
    let rec = cycle.journal.call(move |j| j.run(&rid)).await.unwrap();
    let plan = rec.plan.expect("plan recorded");
    assert_eq!(
        plan["tax"]["audit"]["sales"][0]["lots"][0]["cost_basis_price"],
        "90"
    );
    assert_eq!(plan["tax"]["statement_through"], yesterday.to_string());
    // And the run's HTML report shows it.
    let html = std::fs::read_to_string(
        env.state_dir()
            .join("reports")
            .join(format!("{}.html", r.run_id)),
    )
    .unwrap();
    assert!(html.contains("Tax-aware plan as of"), "{html}");
    assert!(html.contains("lot opened"), "{html}");
    let vti: Decimal = env
        .positions()
        .iter()
        .find(|p| p.symbol == "VTI")
        .map(|p| p.quantity)
        .unwrap();
    assert_eq!(vti, dec!(90));

    // Run 2: the statement still shows 100 VTI; the journal's fills (sold 10 from the 90
    // lot, bought BND) bring the lots up to the account, and their realised gain counts
    // toward the year: with fills at 100, 500 − 300 − 2·100 = 0 is left, so no gain is sold.
    let sold: Decimal = env
        .executions()
        .iter()
        .filter(|e| e.side == pbal::sim::Side::Sell)
        .map(|e| e.size * (e.price - dec!(90)))
        .sum();
    let r2 = cycle
        .run(OrderMode::Stage, RunKind::Manual, None)
        .await
        .unwrap();
    let t2 = tax_of(&r2);
    assert!(t2.journal_fills_applied >= 2, "{t2:?}");
    let left = dec!(500) - flex_ytd - dec!(2) * sold;
    assert_eq!(t2.audit.budget, Some(left.max(Decimal::ZERO)));
    assert!(
        t2.audit
            .sales
            .iter()
            .all(|s| s.realized_short_term + s.realized_long_term <= left.max(Decimal::ZERO)),
        "{t2:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lots_that_do_not_match_the_positions_stop_the_run() {
    // The statement says 95 VTI; the account holds 100.
    let env = start(statement([dec!(50), dec!(45)], today()), 0).await;
    let cycle = common::cycle::build(settings(&env));
    let e = cycle
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("VTI: the lots add up to 95 shares but the position is 100"),
        "{e}"
    );
    assert!(env.orders().is_empty(), "no order after a lot mismatch");
    let runs = cycle.journal.call(|j| j.runs(5)).await.unwrap();
    assert_eq!(runs[0].status, "failed");
    assert!(
        runs[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("refresh the lots")
    );
}

/// `pbal sim` serves query 2, a lot statement of its own account, so tax-aware runs against
/// the stock simulator: with a run budget of 0 the staged plan realises no net gain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_own_account_statement_matches_its_positions() {
    let mut cfg = SimConfig::relaxed();
    cfg.flex.in_progress_polls = 0;
    let env = SimEnv::start(cfg).await;
    let mut s = settings(&env);
    s.portfolio.targets.clear();
    s.tax.budget_per_year = None;
    s.tax.budget_per_run = Some(Decimal::ZERO);
    s.flex.lots_query = pbal::sim::flex_account::ACCOUNT_QUERY.into();
    s.flex.trades_query = String::new();
    s.validate().unwrap();
    let cycle = common::cycle::build(s);
    let r = cycle
        .run(OrderMode::Stage, RunKind::Manual, None)
        .await
        .unwrap();
    let t = tax_of(&r);
    assert_eq!(t.audit.positions.len(), env.positions().len(), "{t:?}");
    assert!(t.audit.cost <= Decimal::ZERO, "{:?}", t.audit);
    assert_eq!(t.audit.budget, Some(Decimal::ZERO));
}
