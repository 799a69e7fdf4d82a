//! The simulated account: what the simulator starts with (account id, cash, positions, prices,
//! market hours, login credentials). Loaded from a TOML or JSON file (`pbal sim --account FILE`)
//! or built from the seeds' ten-ETF example, so the README demo works on a fresh machine.
use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use super::SimError;

/// One instrument the simulator knows: it can be searched, priced and traded.
/// `quantity`/`avg_cost` describe the starting position (zero = not held).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSpec {
    pub symbol: String,
    pub conid: i64,
    /// Last price in the account currency.
    pub price: Decimal,
    #[serde(default)]
    pub quantity: Decimal,
    /// Average cost per share of the starting position.
    #[serde(default)]
    pub avg_cost: Decimal,
    #[serde(default = "default_name")]
    pub name: String,
    /// Listing exchange (`ARCA`, `NASDAQ`, `FUNDSERV`...).
    #[serde(default = "default_exchange")]
    pub exchange: String,
    /// `STK` or `FUND`.
    #[serde(default = "default_asset_class")]
    pub asset_class: String,
    /// Display type (`ETF`, `COMMON`, `MUTUAL FUND`).
    #[serde(default = "default_type")]
    pub kind: String,
    /// Trading currency when it differs from the account's base currency (needs an
    /// `fx_rates` entry); `price` and `avg_cost` are in this currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// Price increment (tick) of limit prices, default 0.01. `/iserver/contract/rules` reports
    /// it as `incrementRules`, and an order whose limit price is not a multiple of it is
    /// rejected, as IBKR does.
    #[serde(default)]
    pub tick: Option<Decimal>,
}

fn default_name() -> String {
    String::new()
}
fn default_exchange() -> String {
    "ARCA".into()
}
fn default_asset_class() -> String {
    "STK".into()
}
fn default_type() -> String {
    "ETF".into()
}

/// Regular trading hours in a time zone, weekdays only. Absent = market always open
/// (the default, so the demo works at any hour).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MarketHours {
    /// IANA zone, e.g. `America/New_York`.
    pub tz: String,
    /// `HH:MM` local opening time.
    pub open: String,
    /// `HH:MM` local closing time.
    pub close: String,
}

impl MarketHours {
    fn parsed(&self) -> Result<(Tz, NaiveTime, NaiveTime), SimError> {
        let tz: Tz = self.tz.parse().map_err(|_| {
            SimError::Account(format!("market_hours.tz: unknown time zone {:?}", self.tz))
        })?;
        let p = |field: &str, v: &str| {
            NaiveTime::parse_from_str(v, "%H:%M").map_err(|_| {
                SimError::Account(format!("market_hours.{field}: expected HH:MM, got {v:?}"))
            })
        };
        let open = p("open", &self.open)?;
        let close = p("close", &self.close)?;
        if open >= close {
            return Err(SimError::Account(
                "market_hours: open must be before close".into(),
            ));
        }
        Ok((tz, open, close))
    }

    /// Whether the market is open at `now` (Monday–Friday, open ≤ t < close; no holidays).
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let Ok((tz, open, close)) = self.parsed() else {
            return false;
        };
        let local = now.with_timezone(&tz);
        if matches!(local.weekday(), Weekday::Sat | Weekday::Sun) {
            return false;
        }
        let t = local.time();
        t >= open && t < close
    }

    /// The most recent close at or before `now`, used to fill market-on-close orders.
    pub fn last_close_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (tz, _, close) = self.parsed().ok()?;
        let local = now.with_timezone(&tz);
        for back in 0..8 {
            let day = local.date_naive() - chrono::Duration::days(back);
            if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                continue;
            }
            let candidate = day
                .and_time(close)
                .and_local_timezone(tz)
                .earliest()?
                .with_timezone(&Utc);
            if candidate <= now {
                return Some(candidate);
            }
        }
        None
    }
}

/// The whole account file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// Paper accounts start with `DU`, live ones with `U`.
    pub account_id: String,
    #[serde(default = "default_currency")]
    pub currency: String,
    pub cash: Decimal,
    /// Username/password accepted by the simulator's `/sso/Login` form.
    #[serde(default = "default_username")]
    pub username: String,
    #[serde(default = "default_password")]
    pub password: String,
    /// The SRP login's second factor, `lp` flag and lock-out (`[login]` table).
    #[serde(default)]
    pub login: super::sso::LoginSpec,
    #[serde(default)]
    pub supports_fractions: Option<bool>,
    #[serde(default)]
    pub market_hours: Option<MarketHours>,
    #[serde(default, rename = "instrument")]
    pub instruments: Vec<InstrumentSpec>,
    /// Units of base currency per unit of each other currency (`EUR = "1.08"`).
    #[serde(default)]
    pub fx_rates: BTreeMap<String, Decimal>,
    /// Starting cash in currencies other than the base (`[foreign_cash] EUR = "500"`).
    #[serde(default)]
    pub foreign_cash: BTreeMap<String, Decimal>,
    /// `margin` (default) or `cash`: a cash account (`tradingType` `STKCASH`) settles sales
    /// at T+1 and records good-faith violations.
    #[serde(default = "default_account_type")]
    pub account_type: String,
    /// Further accounts of the same username (a multi-account login). `/iserver/accounts`
    /// lists them before `account_id`, and after every brokerage authentication the first of
    /// them is the selected account again: the gateway does not remember a client's
    /// `POST /iserver/account` across re-authentication. They hold nothing and trade nothing.
    #[serde(default)]
    pub other_accounts: Vec<String>,
}

fn default_account_type() -> String {
    "margin".into()
}

fn default_currency() -> String {
    "USD".into()
}
fn default_username() -> String {
    "simuser".into()
}
fn default_password() -> String {
    "simpass".into()
}

impl AccountSpec {
    /// Reads a TOML (default) or JSON (`.json`) account file; errors name the file and field.
    pub fn load(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Account(format!("{}: {e}", path.display())))?;
        let spec: AccountSpec = if path.extension().and_then(|e| e.to_str()) == Some("json") {
            serde_json::from_str(&text)
                .map_err(|e| SimError::Account(format!("{}: {e}", path.display())))?
        } else {
            toml::from_str(&text)
                .map_err(|e| SimError::Account(format!("{}: {e}", path.display())))?
        };
        spec.validate()
            .map_err(|e| SimError::Account(format!("{}: {e}", path.display())))?;
        Ok(spec)
    }

    /// Rejects files the simulator could not serve faithfully (duplicate conids, bad prices).
    pub fn validate(&self) -> Result<(), SimError> {
        if self.account_id.trim().is_empty() {
            return Err(SimError::Account("account_id must not be empty".into()));
        }
        self.login.validate().map_err(SimError::Account)?;
        if self.cash < Decimal::ZERO {
            return Err(SimError::Account(
                "cash must not be negative (cash account)".into(),
            ));
        }
        if let Some(h) = &self.market_hours {
            h.parsed()?;
        }
        if !matches!(self.account_type.as_str(), "cash" | "margin") {
            return Err(SimError::Account(format!(
                "account_type: expected \"cash\" or \"margin\", got {:?}",
                self.account_type
            )));
        }
        for (ccy, rate) in &self.fx_rates {
            if *rate <= Decimal::ZERO {
                return Err(SimError::Account(format!(
                    "fx_rates.{ccy}: rate must be positive"
                )));
            }
        }
        for ccy in self.foreign_cash.keys() {
            if ccy != &self.currency && !self.fx_rates.contains_key(ccy) {
                return Err(SimError::Account(format!(
                    "foreign_cash.{ccy}: no fx_rates.{ccy} to convert it to {}",
                    self.currency
                )));
            }
        }
        let mut seen_conid = BTreeMap::new();
        let mut seen_symbol = BTreeMap::new();
        for (i, ins) in self.instruments.iter().enumerate() {
            let at = format!("instrument[{i}] ({})", ins.symbol);
            if ins.price <= Decimal::ZERO {
                return Err(SimError::Account(format!("{at}: price must be positive")));
            }
            if ins.quantity < Decimal::ZERO {
                return Err(SimError::Account(format!(
                    "{at}: quantity must not be negative"
                )));
            }
            if ins.conid <= 0 {
                return Err(SimError::Account(format!("{at}: conid must be positive")));
            }
            if seen_conid.insert(ins.conid, i).is_some() {
                return Err(SimError::Account(format!(
                    "{at}: duplicate conid {}",
                    ins.conid
                )));
            }
            if seen_symbol.insert(ins.symbol.to_uppercase(), i).is_some() {
                return Err(SimError::Account(format!("{at}: duplicate symbol")));
            }
            if let Some(ccy) = &ins.currency
                && ccy != &self.currency
                && !self.fx_rates.contains_key(ccy)
            {
                return Err(SimError::Account(format!(
                    "{at}: currency {ccy} needs fx_rates.{ccy} (rate to {})",
                    self.currency
                )));
            }
            if !matches!(ins.asset_class.as_str(), "STK" | "FUND") {
                return Err(SimError::Account(format!(
                    "{at}: asset_class must be STK or FUND"
                )));
            }
        }
        Ok(())
    }

    /// Paper account `DU1234567` holding the ten ETFs of the seeds' README example
    /// (`seed-data/readme-10etf-example.csv`): quantity = PositionValue / MarkPrice rounded to
    /// whole shares, price = MarkPrice, avg cost = (PositionValue − FifoPnlUnrealized) /
    /// (PositionValue / MarkPrice), plus 5,000 USD cash.
    ///
    /// The conids are PLACEHOLDERS in the 999000101..999000110 range (not IBKR's real conids,
    /// which we cannot look up offline); anything that needs real ids must use an account file.
    pub fn default_ten_etf() -> Self {
        // Symbol, PositionValue, MarkPrice, FifoPnlUnrealized, name, exchange, class, type.
        type SeedRow = (
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
        );
        const ROWS: [SeedRow; 10] = [
            (
                "FTEC",
                "15000.00",
                "128.62",
                "3343.9673",
                "FIDELITY MSCI INFO TECH INDEX ETF",
                "ARCA",
                "STK",
                "ETF",
            ),
            (
                "VAW",
                "10000.00",
                "180.51",
                "893.3955",
                "VANGUARD MATERIALS ETF",
                "ARCA",
                "STK",
                "ETF",
            ),
            (
                "VCR",
                "6798.48",
                "279.68",
                "1700.9984",
                "VANGUARD CONSUMER DISCRETIONARY ETF",
                "ARCA",
                "STK",
                "ETF",
            ),
            (
                "VDC",
                "8000",
                "192.75",
                "-1192.065125",
                "VANGUARD CONSUMER STAPLES ETF",
                "ARCA",
                "STK",
                "ETF",
            ),
            (
                "VHT",
                "12000.43",
                "242.65",
                "18.5908",
                "VANGUARD HEALTH CARE ETF",
                "ARCA",
                "STK",
                "ETF",
            ),
            (
                "VIS",
                "9000",
                "203.87",
                "-2382.175",
                "VANGUARD INDUSTRIALS ETF",
                "ARCA",
                "STK",
                "ETF",
            ),
            (
                "VNQ",
                "9500",
                "83.1",
                "-1745.915301",
                "VANGUARD REAL ESTATE ETF",
                "ARCA",
                "STK",
                "ETF",
            ),
            (
                "VOX",
                "9500.14",
                "105.39",
                "-2075.3452",
                "VANGUARD COMMUNICATION SERVICES ETF",
                "ARCA",
                "STK",
                "ETF",
            ),
            (
                "VPU",
                "13000.99",
                "140.63",
                "4933.423",
                "VANGUARD UTILITIES ETF",
                "ARCA",
                "STK",
                "ETF",
            ),
            (
                "VSMAX",
                "20100.44",
                "94.73",
                "802.809999",
                "VANGUARD TOTAL STOCK MARKET INDEX FUND ADMIRAL",
                "FUNDSERV",
                "FUND",
                "MUTUAL FUND",
            ),
        ];
        let instruments = ROWS
            .iter()
            .enumerate()
            .map(|(i, (sym, value, mark, pnl, name, exch, class, kind))| {
                let value: Decimal = value.parse().expect("literal");
                let price: Decimal = mark.parse().expect("literal");
                let pnl: Decimal = pnl.parse().expect("literal");
                let exact_qty = value / price;
                let quantity =
                    exact_qty.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
                let avg_cost = ((value - pnl) / exact_qty).round_dp(4);
                InstrumentSpec {
                    symbol: (*sym).into(),
                    conid: 999_000_101 + i as i64,
                    price,
                    quantity,
                    avg_cost,
                    name: (*name).into(),
                    exchange: (*exch).into(),
                    asset_class: (*class).into(),
                    kind: (*kind).into(),
                    currency: None,
                    tick: None,
                }
            })
            .collect();
        AccountSpec {
            account_id: "DU1234567".into(),
            currency: "USD".into(),
            cash: dec!(5000.00),
            username: default_username(),
            password: default_password(),
            login: Default::default(),
            supports_fractions: Some(true),
            market_hours: None,
            instruments,
            fx_rates: BTreeMap::new(),
            foreign_cash: BTreeMap::new(),
            account_type: default_account_type(),
            other_accounts: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn default_account_matches_the_seed_rows() {
        let a = AccountSpec::default_ten_etf();
        a.validate().unwrap();
        assert!(a.account_id.starts_with("DU"));
        assert_eq!(a.instruments.len(), 10);
        let q = |s: &str| {
            a.instruments
                .iter()
                .find(|i| i.symbol == s)
                .unwrap()
                .clone()
        };
        // 15000 / 128.62 = 116.62 → 117; 8000 / 192.75 = 41.50 → 42 (rounded, not truncated).
        assert_eq!(q("FTEC").quantity, dec!(117));
        assert_eq!(q("VDC").quantity, dec!(42));
        assert_eq!(q("VSMAX").asset_class, "FUND");
        // avg cost = price * (1 - pnl/value): FTEC 128.62 * (1 - 3343.9673/15000) ≈ 99.9471
        let ftec = q("FTEC");
        assert!(
            (ftec.avg_cost - dec!(99.9471)).abs() < dec!(0.001),
            "{}",
            ftec.avg_cost
        );
    }

    #[test]
    fn account_file_toml_roundtrip_and_errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("acct.toml");
        std::fs::write(
            &p,
            r#"account_id = "DU42"
cash = "100.50"
[market_hours]
tz = "America/New_York"
open = "09:30"
close = "16:00"
[[instrument]]
symbol = "SPY"
conid = 756733
price = "500.25"
quantity = "3"
"#,
        )
        .unwrap();
        let a = AccountSpec::load(&p).unwrap();
        assert_eq!(a.cash, dec!(100.50));
        assert_eq!(a.instruments[0].price, dec!(500.25));
        std::fs::write(&p, "account_id = \"DU42\"\ncash = \"1\"\n[[instrument]]\nsymbol=\"X\"\nconid=1\nprice=\"0\"\n").unwrap();
        let e = AccountSpec::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("acct.toml") && e.contains("price must be positive"),
            "{e}"
        );
    }

    #[test]
    fn currencies_and_account_type_in_the_account_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("acct.toml");
        let base = "account_id = \"DU42\"\ncash = \"100\"\naccount_type = \"cash\"\n[[instrument]]\nsymbol = \"SAP\"\nconid = 1\nprice = \"120\"\ncurrency = \"EUR\"\n";
        std::fs::write(&p, base).unwrap();
        let e = AccountSpec::load(&p).unwrap_err().to_string();
        assert!(e.contains("fx_rates.EUR"), "{e}");
        std::fs::write(
            &p,
            format!("{base}[fx_rates]\nEUR = \"1.08\"\n[foreign_cash]\nEUR = \"500\"\n"),
        )
        .unwrap();
        let a = AccountSpec::load(&p).unwrap();
        assert_eq!(a.instruments[0].currency.as_deref(), Some("EUR"));
        assert_eq!(a.fx_rates["EUR"], dec!(1.08));
        assert_eq!(a.account_type, "cash");
        std::fs::write(
            &p,
            "account_id = \"DU42\"\ncash = \"1\"\naccount_type = \"ira\"\n",
        )
        .unwrap();
        let e = AccountSpec::load(&p).unwrap_err().to_string();
        assert!(e.contains("account_type"), "{e}");
    }

    #[test]
    fn account_file_json() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("acct.json");
        std::fs::write(
            &p,
            r#"{"account_id":"DU9","cash":"10","instrument":[{"symbol":"SPY","conid":756733,"price":"500"}]}"#,
        )
        .unwrap();
        let a = AccountSpec::load(&p).unwrap();
        assert_eq!(
            (a.account_id.as_str(), a.instruments[0].conid),
            ("DU9", 756733)
        );
        std::fs::write(&p, r#"{"account_id":"DU9","cash":"10","surprise":1}"#).unwrap();
        let e = AccountSpec::load(&p).unwrap_err().to_string();
        assert!(e.contains("surprise"), "unknown fields are refused: {e}");
    }

    #[test]
    fn shipped_example_account_file_loads() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sim-account.example.toml");
        let a = AccountSpec::load(&p).unwrap();
        assert_eq!(a.account_id, "DU7654321");
        assert_eq!(a.instruments.len(), 3);
        assert!(a.market_hours.is_some());
        assert_eq!(
            a.instruments[2].quantity,
            Decimal::ZERO,
            "not held by default"
        );
    }

    #[test]
    fn market_hours_weekdays_only_and_last_close() {
        let h = MarketHours {
            tz: "America/New_York".into(),
            open: "09:30".into(),
            close: "16:00".into(),
        };
        // Friday 2026-11-20 15:00 UTC = 10:00 EST → open.
        assert!(h.is_open(Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()));
        // Friday 21:30 UTC = 16:30 EST → closed; last close was 21:00 UTC.
        let after = Utc.with_ymd_and_hms(2026, 11, 20, 21, 30, 0).unwrap();
        assert!(!h.is_open(after));
        assert_eq!(
            h.last_close_at_or_before(after),
            Some(Utc.with_ymd_and_hms(2026, 11, 20, 21, 0, 0).unwrap())
        );
        // Saturday → closed.
        assert!(!h.is_open(Utc.with_ymd_and_hms(2026, 11, 21, 15, 0, 0).unwrap()));
    }
}
