//! Cross-field checks that serde cannot express, one function per section, each error naming
//! the config key at fault.
use rust_decimal::Decimal;

use super::{ConfigError, Settings, invalid};

impl Settings {
    /// Cross-field checks that serde cannot express.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key and what to use instead.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.login.second_factor.as_str(), "auto" | "totp" | "push") {
            return Err(invalid(
                "login.second_factor",
                format!("`{}`: use auto, totp or push", self.login.second_factor),
            ));
        }
        self.validate_portfolio()?;
        self.validate_gateway()?;
        self.validate_orders()?;
        if self.schedule.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(invalid(
                "schedule.timezone",
                format!("`{}` is not an IANA time zone", self.schedule.timezone),
            ));
        }
        crate::scheduler::Schedule::from_settings(&self.schedule)
            .map_err(|e| invalid(e.key(), e.to_string()))?;
        if !self.ui.listen.ip().is_loopback() {
            return Err(invalid(
                "ui.listen",
                format!(
                    "{} is not a loopback address; use 127.0.0.1 or [::1] and an SSH tunnel",
                    self.ui.listen
                ),
            ));
        }
        Ok(())
    }

    /// `[portfolio]` (and the tax sections a tax-aware portfolio needs).
    fn validate_portfolio(&self) -> Result<(), ConfigError> {
        if !self.portfolio.targets.is_empty() {
            let sum: Decimal = self.portfolio.targets.values().copied().sum();
            if (sum - Decimal::ONE).abs() > Decimal::new(1, 6) {
                return Err(invalid(
                    "portfolio.targets",
                    format!("weights sum to {sum}, expected 1 (within 1e-6)"),
                ));
            }
            if let Some((s, w)) = self
                .portfolio
                .targets
                .iter()
                .find(|(_, w)| w.is_sign_negative())
            {
                return Err(invalid(
                    &format!("portfolio.targets.{s}"),
                    format!("negative weight {w}"),
                ));
            }
        }
        match self.portfolio.strategy.as_str() {
            "never-sell" | "hard" | "try_avoid_sell" | "hard_rebalance" | "min-trades"
            | "tax-aware" => {}
            other => {
                return Err(invalid(
                    "portfolio.strategy",
                    format!("`{other}`: expected never-sell, hard, min-trades or tax-aware"),
                ));
            }
        }
        super::taxable::validate(
            &self.tax,
            &self.exposure,
            &self.flex,
            (self.portfolio.strategy == "tax-aware").then_some(&self.portfolio.targets),
        )?;
        match self.portfolio.granularity.as_str() {
            "shares" | "exact" => {}
            other => {
                return Err(invalid(
                    "portfolio.granularity",
                    format!("`{other}`: expected shares or exact"),
                ));
            }
        }
        if self.portfolio.strategy == "min-trades"
            && self.portfolio.band_abs_pct.is_zero()
            && self.portfolio.band_rel_pct.is_zero()
        {
            return Err(invalid(
                "portfolio.strategy",
                "min-trades keeps every weight within its band: set portfolio.band_abs_pct \
                 and/or portfolio.band_rel_pct",
            ));
        }
        if self.portfolio.buffer.is_sign_negative() {
            return Err(invalid("portfolio.buffer", "must not be negative"));
        }
        for (key, v) in [
            ("portfolio.band_abs_pct", self.portfolio.band_abs_pct),
            ("portfolio.band_rel_pct", self.portfolio.band_rel_pct),
            ("portfolio.max_margin_pct", self.portfolio.max_margin_pct),
            ("portfolio.min_cushion_pct", self.portfolio.min_cushion_pct),
            ("portfolio.maintenance_pct", self.portfolio.maintenance_pct),
        ] {
            if v.is_sign_negative() || v > Decimal::ONE_HUNDRED {
                return Err(invalid(key, "must be between 0 (off) and 100"));
            }
        }
        Ok(())
    }

    /// `[gateway]`: one way of trusting the certificate, a URL, the request rate.
    fn validate_gateway(&self) -> Result<(), ConfigError> {
        if self.gateway.ca_cert.is_some() && self.gateway.pin_sha256.is_some() {
            return Err(invalid(
                "gateway.pin_sha256",
                "set either gateway.ca_cert or gateway.pin_sha256, not both",
            ));
        }
        if !self.gateway.url.starts_with("https://") && !self.gateway.url.starts_with("http://") {
            return Err(invalid("gateway.url", "must start with https://"));
        }
        if self.gateway.max_requests_per_sec == 0 || self.gateway.max_requests_per_sec > 10 {
            return Err(invalid(
                "gateway.max_requests_per_sec",
                "must be 1..=10 (the gateway's own limit is 10/s)",
            ));
        }
        Ok(())
    }

    /// `[orders]`: prompt ids, the what-if margin limit and the caps.
    fn validate_orders(&self) -> Result<(), ConfigError> {
        // Prompts are allowed by message id only (`o163`); a pasted text would never match.
        if let Some(bad) = self.orders.prompt_allowlist.iter().find(|a| {
            let mut c = a.chars();
            !(a.len() >= 2
                && c.next().is_some_and(|c| c.is_ascii_alphabetic())
                && c.all(|c| c.is_ascii_digit()))
        }) {
            return Err(invalid(
                "orders.prompt_allowlist",
                format!(
                    "{bad:?} is not a message id: list ids such as \"o163\", never prompt texts"
                ),
            ));
        }
        if self.orders.max_margin_change_pct <= Decimal::ZERO {
            return Err(invalid("orders.max_margin_change_pct", "must be positive"));
        }
        if self.orders.max_order_value <= Decimal::ZERO {
            return Err(invalid("orders.max_order_value", "must be positive"));
        }
        if self.orders.max_turnover_pct <= Decimal::ZERO
            || self.orders.max_turnover_pct > Decimal::from(100)
        {
            return Err(invalid("orders.max_turnover_pct", "must be in (0, 100]"));
        }
        Ok(())
    }
}
