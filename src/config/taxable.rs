//! `[tax]`, `[flex]` and `[exposure]`: the daemon's tax-aware planning (`portfolio.strategy =
//! "tax-aware"`), where its lots come from (the Flex Web Service), and exposure groups.
//!
//! Why here and not in the `tax` leaf: the engine's own [`TaxSettings`] carries run data
//! (the year-to-date results) that no config file holds; this is the file's view, validated
//! once at start-up with errors that name the key, and turned into engine settings per run.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use super::{ConfigError, DecimalLike, de_decimal, invalid};
use crate::tax::{LotMethod, Realized, TaxSettings};

/// IBKR's Flex Web Service endpoint (reference §1).
pub const FLEX_URL: &str =
    "https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService/";

/// `[tax]`: the limits of a tax-aware plan (see the README's "Taxable accounts").
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaxConfig {
    /// The account's default lot-matching method, as set in IBKR's Tax Optimizer.
    pub lot_method: String,
    /// Largest tax cost (weighted net realised gain) of one run; absent = unlimited.
    #[serde(deserialize_with = "de_opt_decimal")]
    pub budget_per_run: Option<Decimal>,
    /// Largest tax cost of the calendar year, year-to-date results included.
    #[serde(deserialize_with = "de_opt_decimal")]
    pub budget_per_year: Option<Decimal>,
    /// How many times a net short-term gain counts against the budget.
    #[serde(deserialize_with = "de_decimal")]
    pub st_weight: Decimal,
    /// Groups of substantially identical symbols (wash-sale rules).
    pub identical: Vec<Vec<String>>,
    /// Sell losing lots and buy the alternate with the proceeds.
    pub harvest: bool,
    /// A lot is harvested only when its loss exceeds this many dollars.
    #[serde(deserialize_with = "de_decimal")]
    pub harvest_min_loss: Decimal,
    /// Symbol → the alternate a harvest buys.
    pub alternates: BTreeMap<String, String>,
}

impl Default for TaxConfig {
    fn default() -> Self {
        TaxConfig {
            lot_method: "FIFO".into(),
            budget_per_run: None,
            budget_per_year: None,
            st_weight: Decimal::ONE,
            identical: Vec::new(),
            harvest: false,
            harvest_min_loss: Decimal::ZERO,
            alternates: BTreeMap::new(),
        }
    }
}

/// `[exposure]`: groups of symbols held as one exposure (GOOG/GOOGL).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExposureConfig {
    /// Group name → members; a group has one combined target, split as currently held.
    pub groups: BTreeMap<String, Vec<String>>,
    /// Group name → the largest combined weight (fraction of the portfolio, e.g. 0.10).
    #[serde(deserialize_with = "de_decimal_values")]
    pub caps: BTreeMap<String, Decimal>,
}

/// `[flex]`: where the daemon fetches lots and trades (Flex Web Service v3).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlexConfig {
    /// File holding the Flex Web Service token (mode 0600).
    pub token_file: Option<PathBuf>,
    /// Or the name of a systemd credential holding it (`LoadCredential=`).
    pub token_credential: Option<String>,
    /// The Flex query with Open Positions at Lot level (XML recommended).
    pub lots_query: String,
    /// The Flex query with Trades for this calendar year (may equal `lots_query` when one
    /// query holds both sections). Empty: no trades (no per-year budget then).
    pub trades_query: String,
    /// Service base URL; `pbal sim` serves it at `https://127.0.0.1:PORT/AccountManagement/FlexWebService/`.
    pub url: String,
    /// PEM CA to trust for `url` instead of the system roots (for the simulator).
    pub ca_cert: Option<PathBuf>,
    /// Give up after this many polls of one statement.
    pub max_polls: u32,
}

impl Default for FlexConfig {
    fn default() -> Self {
        FlexConfig {
            token_file: None,
            token_credential: None,
            lots_query: String::new(),
            trades_query: String::new(),
            url: FLEX_URL.into(),
            ca_cert: None,
            max_polls: 20,
        }
    }
}

fn de_opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    Option::<DecimalLike>::deserialize(d)?
        .map(|v| v.to_decimal().map_err(serde::de::Error::custom))
        .transpose()
}

fn de_decimal_values<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Decimal>, D::Error> {
    BTreeMap::<String, DecimalLike>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| {
            v.to_decimal()
                .map(|x| (k.clone(), x))
                .map_err(|e| serde::de::Error::custom(format!("{k}: {e}")))
        })
        .collect()
}

fn upper(s: &str) -> String {
    s.trim().to_ascii_uppercase()
}

impl TaxConfig {
    /// The engine's settings for one run, with this year's realised results so far.
    pub fn engine(&self, exposure: &ExposureConfig, ytd: Realized) -> TaxSettings {
        TaxSettings {
            lot_method: LotMethod::from_str(&self.lot_method).unwrap_or_default(),
            budget_per_run: self.budget_per_run,
            budget_per_year: self.budget_per_year,
            ytd,
            st_weight: self.st_weight,
            identical: self
                .identical
                .iter()
                .map(|g| g.iter().map(|s| upper(s)).collect())
                .collect(),
            exposure_groups: exposure
                .groups
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().map(|s| upper(s)).collect()))
                .collect(),
            exposure_caps: exposure.caps.clone(),
            harvest: self.harvest,
            harvest_min_loss: self.harvest_min_loss,
            alternates: self
                .alternates
                .iter()
                .map(|(k, v)| (upper(k), upper(v)))
                .collect(),
        }
    }
}

/// Checks `[tax]`, `[exposure]` and, for `tax-aware` (given its `portfolio.targets`),
/// `[flex]` and that the targets name every symbol the plan needs; each error names its key.
pub(super) fn validate(
    tax: &TaxConfig,
    exposure: &ExposureConfig,
    flex: &FlexConfig,
    tax_aware: Option<&BTreeMap<String, Decimal>>,
) -> Result<(), ConfigError> {
    LotMethod::from_str(&tax.lot_method).map_err(|e| invalid("tax.lot_method", e.to_string()))?;
    if tax.st_weight <= Decimal::ZERO {
        return Err(invalid("tax.st_weight", "must be positive (e.g. 2.0)"));
    }
    for (key, v) in [
        ("tax.budget_per_run", tax.budget_per_run),
        ("tax.budget_per_year", tax.budget_per_year),
    ] {
        if v.is_some_and(|v| v.is_sign_negative()) {
            return Err(invalid(key, "must not be negative (0 = no net gain)"));
        }
    }
    if tax.harvest_min_loss.is_sign_negative() {
        return Err(invalid("tax.harvest_min_loss", "must not be negative"));
    }
    if tax.harvest && tax.alternates.is_empty() {
        return Err(invalid(
            "tax.alternates",
            "tax.harvest = true needs alternates, e.g. alternates = { VTI = \"ITOT\" }",
        ));
    }
    validate_exposure(exposure)?;
    // The engine's own checks (a symbol in two identical groups, an alternate identical to
    // its symbol), reported under the section's name.
    let engine = tax.engine(exposure, Realized::default());
    crate::tax::validate_settings(&engine).map_err(|e| invalid("tax", e.to_string()))?;
    if let Some(targets) = tax_aware {
        validate_flex(flex, tax)?;
        validate_symbols(tax, exposure, targets)?;
    }
    Ok(())
}

/// The daemon prices only held symbols and `portfolio.targets`: a group member or a harvest
/// alternate outside both could not be planned, so it must be a target (weight 0 is fine).
/// With no targets (equal weight over the holdings) there is nothing to check here.
fn validate_symbols(
    tax: &TaxConfig,
    exposure: &ExposureConfig,
    targets: &BTreeMap<String, Decimal>,
) -> Result<(), ConfigError> {
    if targets.is_empty() {
        return Ok(());
    }
    let missing = |sym: &str| !targets.contains_key(&upper(sym));
    for (name, members) in &exposure.groups {
        if let Some(m) = members.iter().find(|m| missing(m)) {
            return Err(invalid(
                &format!("exposure.groups.{name}"),
                format!(
                    "{m} is not in portfolio.targets; add it (a weight of 0 is fine) so pbal prices it"
                ),
            ));
        }
    }
    if let Some(alt) = tax.alternates.values().find(|a| tax.harvest && missing(a)) {
        return Err(invalid(
            "tax.alternates",
            format!(
                "{alt} is not in portfolio.targets; add it (a weight of 0 is fine) so a \
                 harvest can buy it"
            ),
        ));
    }
    Ok(())
}

fn validate_exposure(e: &ExposureConfig) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (name, members) in &e.groups {
        let key = format!("exposure.groups.{name}");
        if members.len() < 2 {
            return Err(invalid(&key, "a group needs at least two symbols"));
        }
        for m in members {
            if let Some(other) = seen.insert(upper(m), name) {
                return Err(invalid(
                    &key,
                    format!("{m} is also in group {other}; a symbol may be in one group"),
                ));
            }
        }
    }
    for (name, cap) in &e.caps {
        let key = format!("exposure.caps.{name}");
        if !e.groups.contains_key(name) {
            return Err(invalid(&key, format!("no exposure group named {name}")));
        }
        if *cap <= Decimal::ZERO || *cap > Decimal::ONE {
            return Err(invalid(&key, "must be a weight in (0, 1], e.g. 0.10"));
        }
    }
    Ok(())
}

fn validate_flex(f: &FlexConfig, tax: &TaxConfig) -> Result<(), ConfigError> {
    match (&f.token_file, &f.token_credential) {
        (None, None) => {
            return Err(invalid(
                "flex.token_file",
                "portfolio.strategy = \"tax-aware\" fetches lots from the Flex Web Service: set \
                 flex.token_file (a 0600 file) or flex.token_credential (a systemd credential)",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                "flex.token_credential",
                "set either flex.token_file or flex.token_credential, not both",
            ));
        }
        _ => {}
    }
    if f.lots_query.trim().is_empty() {
        return Err(invalid(
            "flex.lots_query",
            "the id of a Flex query with Open Positions at Lot level is required for tax-aware",
        ));
    }
    if tax.budget_per_year.is_some() && f.trades_query.trim().is_empty() {
        return Err(invalid(
            "flex.trades_query",
            "tax.budget_per_year needs this year's realised results: set the id of a Flex \
             query with Trades (year to date)",
        ));
    }
    let url = url::Url::parse(&f.url).map_err(|e| invalid("flex.url", e.to_string()))?;
    if url.scheme() != "https" {
        return Err(invalid("flex.url", "must start with https://"));
    }
    if f.max_polls == 0 {
        return Err(invalid("flex.max_polls", "must be at least 1"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Settings;
    use rust_decimal_macros::dec;

    fn load(toml: &str) -> Result<Settings, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pbal.toml");
        std::fs::write(&p, toml).unwrap();
        Settings::load_from(Some(&p), Vec::<(String, String)>::new()).map_err(|e| e.to_string())
    }

    const FLEX: &str = "[flex]\ntoken_file = \"/run/pbal/flex\"\nlots_query = \"123\"\n";

    #[test]
    fn a_full_tax_aware_config_loads() {
        let s = load(&format!(
            "[portfolio]\nstrategy = \"tax-aware\"\n[tax]\nlot_method = \"HIFO\"\n\
             budget_per_run = 500\nbudget_per_year = \"2000.50\"\nst_weight = 2.0\n\
             identical = [[\"VOO\", \"IVV\"]]\nharvest = true\nharvest_min_loss = 100\n\
             alternates = {{ vti = \"itot\" }}\n[exposure]\n\
             groups = {{ GOOGLE = [\"GOOG\", \"GOOGL\"] }}\ncaps = {{ GOOGLE = 0.1 }}\n\
             {FLEX}trades_query = \"124\"\n"
        ))
        .unwrap();
        assert_eq!(s.tax.budget_per_year, Some(dec!(2000.50)));
        let e = s.tax.engine(&s.exposure, Default::default());
        assert_eq!(e.alternates.get("VTI").map(String::as_str), Some("ITOT"));
        assert_eq!(e.exposure_caps.get("GOOGLE"), Some(&dec!(0.1)));
        assert_eq!(e.st_weight, dec!(2));
        assert_eq!(s.flex.url, super::FLEX_URL);
    }

    #[test]
    fn each_bad_value_is_named_by_its_key() {
        let cases = [
            ("[tax]\nlot_method = \"newest\"\n", "tax.lot_method"),
            ("[tax]\nst_weight = 0\n", "tax.st_weight"),
            ("[tax]\nbudget_per_run = -1\n", "tax.budget_per_run"),
            ("[tax]\nharvest = true\n", "tax.alternates"),
            ("[tax]\nbudgett = 1\n", "budgett"),
            (
                "[exposure]\ngroups = { G = [\"GOOG\"] }\n",
                "exposure.groups.G",
            ),
            (
                "[exposure]\ngroups = { G = [\"A\", \"B\"], H = [\"B\", \"C\"] }\n",
                "exposure.groups.H",
            ),
            (
                "[exposure]\ngroups = { G = [\"A\", \"B\"] }\ncaps = { G = 1.5 }\n",
                "exposure.caps.G",
            ),
            ("[exposure]\ncaps = { X = 0.5 }\n", "exposure.caps.X"),
            ("[portfolio]\nstrategy = \"tax-aware\"\n", "flex.token_file"),
            (
                "[portfolio]\nstrategy = \"tax-aware\"\n[flex]\ntoken_file = \"/t\"\n",
                "flex.lots_query",
            ),
            (
                "[portfolio]\nstrategy = \"tax-aware\"\n[tax]\nbudget_per_year = 5\n[flex]\n\
                 token_file = \"/t\"\nlots_query = \"1\"\n",
                "flex.trades_query",
            ),
            (
                "[portfolio]\nstrategy = \"tax-aware\"\n[flex]\ntoken_file = \"/t\"\n\
                 lots_query = \"1\"\nurl = \"http://example.com/\"\n",
                "flex.url",
            ),
            (
                "[tax]\nidentical = [[\"VTI\", \"ITOT\"]]\nharvest = true\n\
                 alternates = { VTI = \"ITOT\" }\n",
                "substantially identical",
            ),
        ];
        for (toml, key) in cases {
            let e = load(toml).unwrap_err();
            assert!(e.contains(key), "{toml:?}: {e}");
        }
        // Tax-aware with targets: every group member and alternate must be a target.
        let base = format!(
            "[portfolio]\nstrategy = \"tax-aware\"\n[portfolio.targets]\nVTI = 0.5\nGOOG = 0.5\n{FLEX}"
        );
        let e = load(&format!(
            "{base}[exposure]\ngroups = {{ G = [\"GOOG\", \"GOOGL\"] }}\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("exposure.groups.G") && e.contains("GOOGL"),
            "{e}"
        );
        let e = load(&format!(
            "{base}[tax]\nharvest = true\nalternates = {{ VTI = \"ITOT\" }}\n"
        ))
        .unwrap_err();
        assert!(e.contains("tax.alternates") && e.contains("ITOT"), "{e}");
        // Without tax-aware, [flex] is not required.
        assert!(load("[tax]\nbudget_per_run = 0\n").is_ok());
    }
}
