//! The one typed settings tree, layered and validated once at start-up.
//!
//! Layers, later wins: the compiled-in `config/default.toml`, the user's file (`--config`),
//! then environment variables `PBAL__SECTION__KEY` (e.g. `PBAL__ORDERS__MODE=dry-run`).
//! Every section denies unknown keys: a typo in a trading daemon's config must be an error,
//! not a silently ignored limit. Secrets never live here.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

pub use crate::notify::NotifySettings;
pub use crate::scheduler::ScheduleSettings;
pub use taxable::{ExposureConfig, FlexConfig, TaxConfig};

mod taxable;
mod validate;

/// The compiled-in defaults; also shipped as `config/default.toml` for reference.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Configuration errors name the key or file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("config: {0}")]
    Load(#[from] config::ConfigError),
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// Root of the settings tree.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub gateway: GatewaySettings,
    pub account: AccountSettings,
    pub portfolio: PortfolioSettings,
    pub orders: OrderSettings,
    pub state: StateSettings,
    pub schedule: ScheduleSettings,
    pub notify: NotifySettings,
    pub log: LogSettings,
    pub ui: UiSettings,
    #[serde(default)]
    pub login: LoginSettings,
    /// Tax-aware planning (`portfolio.strategy = "tax-aware"`).
    #[serde(default)]
    pub tax: TaxConfig,
    #[serde(default)]
    pub exposure: ExposureConfig,
    /// The Flex Web Service the daemon fetches lots and trades from.
    #[serde(default)]
    pub flex: FlexConfig,
}

/// `[login]`: pbal's own login to the gateway (no browser). Used when `account.username` is
/// set and a password is found (`password_file`, the systemd credential, or the environment).
/// Secrets are never in this file: only where to read them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginSettings {
    /// `false`: never log in by itself (a human logs in through the gateway's page).
    pub enabled: bool,
    /// File with the IBKR password (mode 0600/0400, owned by the user running pbal).
    pub password_file: Option<PathBuf>,
    /// File with the base32 TOTP secret of the Mobile Authenticator (same rules).
    pub totp_secret_file: Option<PathBuf>,
    /// `auto` (TOTP when a secret is configured, else IB Key push), `totp` or `push`.
    pub second_factor: String,
    /// IB Key push: seconds between approval polls, and how long to wait in all.
    pub push_poll_secs: u64,
    pub push_timeout_secs: u64,
}

impl Default for LoginSettings {
    fn default() -> Self {
        LoginSettings {
            enabled: true,
            password_file: None,
            totp_secret_file: None,
            second_factor: "auto".into(),
            push_poll_secs: 6,
            push_timeout_secs: 180,
        }
    }
}

/// `[gateway]`: where the Client Portal Gateway is and how its certificate is trusted.
/// There is deliberately no option that disables certificate verification.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// Base URL of the gateway, without `/v1/api`.
    pub url: String,
    /// PEM file of the CA (or certificate) to trust. Verification stays on.
    pub ca_cert: Option<PathBuf>,
    /// SHA-256 fingerprint (hex, colons allowed) of the exact certificate to trust.
    pub pin_sha256: Option<String>,
    /// Pass `compete: true` to `ssodh/init` (takes the brokerage session from other logins).
    pub compete: bool,
    /// Keep-alive period; the gateway's idle timeout is ~5–6 minutes.
    pub tickle_interval_secs: u64,
    /// Whole-request timeout for one HTTP call.
    pub request_timeout_secs: u64,
    /// Orders require Ready confirmed within this many seconds.
    pub ready_max_age_secs: u64,
    /// Global request rate (the gateway allows 10/s; stay below).
    pub max_requests_per_sec: u32,
    /// After an HTTP 429 every request is refused for this long: IBKR puts the caller in a
    /// "penalty box" for ~10 minutes and retrying inside it extends the penalty.
    pub rate_limit_penalty_secs: u64,
}

/// `[account]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// Account id; empty: use the only account the gateway reports (error if several).
    pub id: String,
    /// A live (non-`DU…`) account is refused unless this is true.
    pub allow_live: bool,
    /// IBKR username for pbal's own login (`[login]`); the password is never in this file.
    #[serde(default)]
    pub username: Option<String>,
}

/// How the cash input of a plan is chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CashSetting {
    /// A fixed deposit (> 0) or withdrawal (< 0).
    Amount(Decimal),
    /// Invest the settled cash above the buffer.
    Available,
}

impl<'de> Deserialize<'de> for CashSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = DecimalLike::deserialize(d)?;
        match raw {
            DecimalLike::Text(s) if s.trim().eq_ignore_ascii_case("available") => {
                Ok(CashSetting::Available)
            }
            other => other
                .to_decimal()
                .map(CashSetting::Amount)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// A decimal written as a TOML number or string. Floats are converted through their shortest
/// round-trip text (`0.1` stays exactly 0.1), never through binary arithmetic.
#[derive(Deserialize)]
#[serde(untagged)]
enum DecimalLike {
    Int(i64),
    Float(f64),
    Text(String),
}

impl DecimalLike {
    fn to_decimal(&self) -> Result<Decimal, String> {
        match self {
            DecimalLike::Int(i) => Ok(Decimal::from(*i)),
            DecimalLike::Float(f) if f.is_finite() => {
                Decimal::from_str(&f.to_string()).map_err(|e| format!("{f}: {e}"))
            }
            DecimalLike::Float(f) => Err(format!("{f} is not a finite number")),
            DecimalLike::Text(s) => Decimal::from_str(s.trim())
                .or_else(|_| Decimal::from_scientific(s.trim()))
                .map_err(|_| format!("`{s}` is not a decimal number")),
        }
    }
}

/// Deserializes a [`Decimal`] from a TOML/env number or string without going through `f64` maths.
pub fn de_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    DecimalLike::deserialize(d)?
        .to_decimal()
        .map_err(serde::de::Error::custom)
}

fn de_decimal_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Decimal>, D::Error> {
    let raw = BTreeMap::<String, DecimalLike>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| {
            v.to_decimal()
                .map(|w| (k.trim().to_ascii_uppercase(), w))
                .map_err(|e| serde::de::Error::custom(format!("portfolio.targets.{k}: {e}")))
        })
        .collect()
}

/// `[portfolio]`: what the portfolio should look like.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortfolioSettings {
    /// `never-sell` (default) or `hard`.
    pub strategy: String,
    /// `shares` (default), `exact`, or `increment`.
    pub granularity: String,
    /// Symbol → weight; must sum to 1 within 1e-6. Empty: equal weight over held symbols.
    /// Symbols are upper-cased (env keys arrive lower-cased).
    #[serde(deserialize_with = "de_decimal_map")]
    pub targets: BTreeMap<String, Decimal>,
    /// Deposit (> 0), withdrawal (< 0), or `"available"`.
    pub cash: CashSetting,
    /// Cash kept uninvested.
    #[serde(deserialize_with = "de_decimal")]
    pub buffer: Decimal,
    /// Trades smaller than this are dropped.
    #[serde(deserialize_with = "de_decimal")]
    pub min_trade_value: Decimal,
    /// Whole-share mode: a fractional remainder may be sold only by closing the position
    /// entirely, and only when this is true (otherwise the plan refuses with the numbers).
    pub sell_fractional_remainders: bool,
    /// Drift band, ± percentage points around each target weight (0 = off).
    #[serde(deserialize_with = "de_decimal")]
    pub band_abs_pct: Decimal,
    /// Drift band, ± percent of each target weight (0 = off). With both, the tighter applies.
    #[serde(deserialize_with = "de_decimal")]
    pub band_rel_pct: Decimal,
    /// `to-target` or `to-band`: where an asset outside its band trades to.
    pub band_mode: crate::strategy::BandMode,
    /// `min-trades`: minimise whole `shares` traded or `orders`.
    pub minimise: crate::strategy::Minimise,
    /// Margin accounts: borrow at most this % of net liquidation (0 = never borrow).
    #[serde(deserialize_with = "de_decimal")]
    pub max_margin_pct: Decimal,
    /// With a margin budget: refuse a plan whose excess liquidity afterwards could fall below
    /// this % of net liquidation.
    #[serde(deserialize_with = "de_decimal")]
    pub min_cushion_pct: Decimal,
    /// With a margin budget: the maintenance margin assumed on every dollar bought, in %.
    /// IBKR's Reg T rate for most US stocks and ETFs is 25; leveraged ETFs and house margins
    /// are higher (50–75 %), and the cushion check is only as safe as this number.
    #[serde(deserialize_with = "de_decimal")]
    pub maintenance_pct: Decimal,
    /// Default contract currency and security type used to resolve symbols.
    pub currency: String,
    pub sec_type: String,
    /// Per-symbol contract overrides (e.g. a mutual fund's secType or a fixed conid).
    pub contracts: BTreeMap<String, ContractOverride>,
}

/// `[portfolio.contracts.SYMBOL]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContractOverride {
    pub conid: Option<i64>,
    pub exchange: Option<String>,
    pub currency: Option<String>,
    pub sec_type: Option<String>,
}

/// What a cycle does with a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderMode {
    DryRun,
    Stage,
    Submit,
}

impl FromStr for OrderMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dry-run" => Ok(Self::DryRun),
            "stage" => Ok(Self::Stage),
            "submit" => Ok(Self::Submit),
            _ => Err(format!("`{s}`: expected dry-run, stage or submit")),
        }
    }
}

/// Order type used for execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderKind {
    Limit,
    Market,
}

/// `[orders]`: execution policy and the guards that make it safe.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrderSettings {
    pub mode: OrderMode,
    /// Kill switch: false stops every order (as does a `STOP` file in the state dir).
    pub enabled: bool,
    #[serde(rename = "type")]
    pub kind: OrderKind,
    /// Limit price offset from the reference price, in basis points (buys above, sells below).
    #[serde(deserialize_with = "de_decimal")]
    pub limit_offset_bps: Decimal,
    /// Time in force sent with every order.
    pub tif: String,
    /// Largest single order value (account currency).
    #[serde(deserialize_with = "de_decimal")]
    pub max_order_value: Decimal,
    /// Largest total traded value as a percentage of net liquidation.
    #[serde(deserialize_with = "de_decimal")]
    pub max_turnover_pct: Decimal,
    /// Largest number of orders in one run.
    pub max_orders: u32,
    /// Reply-prompt message ids (e.g. `o163`) pbal may confirm; any other prompt refuses the order.
    pub prompt_allowlist: Vec<String>,
    /// Message ids suppressed once per brokerage session.
    pub suppress: Vec<String>,
    /// Largest bid/ask spread accepted, percent of mid.
    #[serde(deserialize_with = "de_decimal")]
    pub max_spread_pct: Decimal,
    /// Largest distance between quote and the position's mark, percent.
    #[serde(deserialize_with = "de_decimal")]
    pub max_mark_deviation_pct: Decimal,
    /// Submit mode previews every order (what-if) before placing it and refuses one whose
    /// initial-margin requirement rises, or whose equity falls, by more than this percentage
    /// of the account's equity: a rebalance paid in cash barely moves either, so a large change
    /// means the order is not what pbal thinks it is.
    #[serde(deserialize_with = "de_decimal")]
    pub max_margin_change_pct: Decimal,
    /// Staged plans expire after this many hours.
    pub stage_expiry_hours: u64,
    /// On approval, re-plan if any price moved more than this percent since staging.
    #[serde(deserialize_with = "de_decimal")]
    pub approve_price_tolerance_pct: Decimal,
    /// How long to wait for fills before cancelling what remains.
    pub fill_timeout_secs: u64,
    /// Live-order polling period (the gateway allows one call per 5 s).
    pub poll_interval_secs: u64,
}

/// `[state]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StateSettings {
    /// State directory (journal, cookie jar, STOP file). Empty: the platform data dir.
    pub dir: Option<PathBuf>,
}

/// `[ui]`: the local approval page (`pbal ui`, and inside `pbal run` when enabled).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UiSettings {
    /// Serve the page inside `pbal run` too.
    pub enabled: bool,
    /// Loopback address to listen on; anything else is refused (the page can place orders, so
    /// it is reached from elsewhere only through an SSH tunnel).
    pub listen: std::net::SocketAddr,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `RUST_LOG`-style filter.
    pub filter: String,
    /// `auto`, `human` or `json`.
    pub format: String,
}

impl Settings {
    /// Loads defaults, then `file` (if any), then `PBAL__*` env vars, and validates.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file or key at fault.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, env)
    }

    /// As [`Settings::load`] with an explicit environment (tests do not touch the process env).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            if !path.exists() {
                return Err(invalid(
                    "--config",
                    format!("{} does not exist", path.display()),
                ));
            }
            builder = builder.add_source(
                config::File::from(path.to_path_buf()).format(config::FileFormat::Toml),
            );
        }
        let env_map: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("PBAL__"))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("PBAL")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("orders.prompt_allowlist")
                .with_list_parse_key("orders.suppress")
                .source(Some(env_map)),
        );
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// The state directory: `state.dir`, or the platform data dir for `pbal`.
    pub fn state_dir(&self) -> PathBuf {
        if let Some(dir) = self
            .state
            .dir
            .as_ref()
            .filter(|d| !d.as_os_str().is_empty())
        {
            return dir.clone();
        }
        directories::ProjectDirs::from("", "", "pbal")
            .map(|d| d.data_dir().to_path_buf())
            .unwrap_or_else(|| PathBuf::from(".pbal"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// The scheduler's tests use the shipped default schedule literally; this keeps the two
    /// in step, and checks that a bad cron is reported under its key by the loader.
    #[test]
    fn shipped_schedule_is_the_one_the_scheduler_tests_use() {
        let s = Settings::load_from(None, Vec::<(String, String)>::new()).unwrap();
        assert_eq!(s.schedule.cron, "0 30 10 1-7 1,4,7,10 Mon-Fri");
        assert_eq!(s.schedule.timezone, "America/New_York");
        assert_eq!(s.schedule.calendar, "NYSE");
        assert!(s.schedule.catch_up);
        assert_eq!(s.schedule.period, "quarter");
        assert_eq!(s.schedule.login_wait_secs, 6 * 3600);
        assert_eq!(s.schedule.preflight_before_secs, 24 * 3600);
        let e = Settings::load_from(
            None,
            vec![("PBAL__SCHEDULE__CRON".to_string(), "0 0 10 * *".to_string())],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("schedule.cron"), "{e}");
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let p = dir.path().join("pbal.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn defaults_load_and_are_safe() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.orders.mode, OrderMode::Stage);
        assert!(!s.account.allow_live);
        assert_eq!(s.gateway.url, "https://localhost:5000");
        assert!(s.gateway.ca_cert.is_none() && s.gateway.pin_sha256.is_none());
    }

    #[test]
    fn file_then_env_layering() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "[orders]\nmode = \"submit\"\nmax_order_value = 1234.5\n[portfolio.targets]\nVTI = 0.6\nBND = 0.4\n",
        );
        let s = Settings::load_from(
            Some(&p),
            env(&[("PBAL__ORDERS__MODE", "dry-run"), ("OTHER", "x")]),
        )
        .unwrap();
        assert_eq!(s.orders.mode, OrderMode::DryRun);
        assert_eq!(s.orders.max_order_value, dec!(1234.5));
        assert_eq!(s.portfolio.targets.get("VTI"), Some(&dec!(0.6)));
    }

    #[test]
    fn env_target_keys_are_uppercased() {
        let s = Settings::load_from(
            None,
            env(&[
                ("PBAL__PORTFOLIO__TARGETS__vti", "0.5"),
                ("PBAL__PORTFOLIO__TARGETS__BND", "0.5"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.portfolio.targets.keys().cloned().collect::<Vec<_>>(),
            vec!["BND", "VTI"]
        );
    }

    #[test]
    fn prompt_allowlist_takes_message_ids_only() {
        let ok = Settings::load_from(
            None,
            env(&[("PBAL__ORDERS__PROMPT_ALLOWLIST", "o163,O10151")]),
        )
        .unwrap();
        assert_eq!(ok.orders.prompt_allowlist, vec!["o163", "O10151"]);
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "[orders]\nprompt_allowlist = [\"o163\", \"exceeds the Total Value Limit\"]\n",
        );
        let e = Settings::load_from(Some(&p), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("orders.prompt_allowlist") && e.contains("not a message id"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "[orders]\nmax_order_valu = 5\n");
        let e = Settings::load_from(Some(&p), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_order_valu"), "{e}");
    }

    #[test]
    fn weights_must_sum_to_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "[portfolio.targets]\nVTI = 0.6\nBND = 0.3\n");
        let e = Settings::load_from(Some(&p), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("portfolio.targets") && e.contains("0.9"), "{e}");
    }

    #[test]
    fn cash_available_or_amount() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "[portfolio]\ncash = \"available\"\n");
        let s = Settings::load_from(Some(&p), env(&[])).unwrap();
        assert_eq!(s.portfolio.cash, CashSetting::Available);
        let p = write(&dir, "[portfolio]\ncash = -250.10\n");
        let s = Settings::load_from(Some(&p), env(&[])).unwrap();
        assert_eq!(s.portfolio.cash, CashSetting::Amount(dec!(-250.10)));
    }

    #[test]
    fn ca_and_pin_are_exclusive() {
        let e = Settings::load_from(
            None,
            env(&[
                ("PBAL__GATEWAY__CA_CERT", "/tmp/ca.pem"),
                ("PBAL__GATEWAY__PIN_SHA256", "ab"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("gateway.pin_sha256"), "{e}");
    }

    #[test]
    fn missing_config_file_is_named() {
        let e = Settings::load_from(Some(Path::new("/nonexistent/pbal.toml")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/pbal.toml"), "{e}");
    }
}
