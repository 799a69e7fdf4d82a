//! The cycle's tax statement from IBKR's Flex Web Service: `[flex]` settings → the
//! [`crate::flex::service`] client → parsed lots and trades.
//!
//! Why it is an adapter: the cycle asks its [`crate::cycle::Broker`] for a
//! [`TaxStatement`] and knows nothing of tokens, HTTP or report formats; the Flex client is
//! a leaf that knows nothing of settings. The token is read at every fetch (Flex tokens
//! expire, by default after 6 hours, and the user replaces the file or credential), and a
//! failure keeps its class: an expired token needs a human, a busy service is transient.
use std::path::Path;
use std::time::Duration;

use crate::config::{FlexConfig, Settings};
use crate::cycle::broker::{BrokerError, BrokerErrorKind};
use crate::cycle::tax_step::TaxStatement;
use crate::flex::service::{FlexService, FlexServiceError, FlexServiceOptions, Token};
use crate::ibkr::tls::{TrustMode, client_config};

/// Where the lots and trades come from.
#[derive(Debug, Clone)]
pub struct FlexSource {
    cfg: FlexConfig,
}

impl FlexSource {
    /// The source `[flex]` describes, when a lots query is configured.
    pub fn from_settings(settings: &Settings) -> Option<Self> {
        (!settings.flex.lots_query.trim().is_empty()).then(|| FlexSource {
            cfg: settings.flex.clone(),
        })
    }

    fn token(&self) -> Result<Token, BrokerError> {
        let t = match (&self.cfg.token_file, &self.cfg.token_credential) {
            (Some(file), _) => Token::from_file(file),
            (None, Some(name)) => Token::from_credential(name),
            (None, None) => {
                return Err(BrokerError::config(
                    "flex: set flex.token_file or flex.token_credential",
                ));
            }
        };
        t.map_err(|e| BrokerError::from_source(BrokerErrorKind::Config, e))
    }

    fn service(&self) -> Result<FlexService, BrokerError> {
        let mut base = self.cfg.url.trim().to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        let base_url = url::Url::parse(&base)
            .map_err(|e| BrokerError::config(format!("flex.url {base:?}: {e}")))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(60));
        if let Some(ca) = &self.cfg.ca_cert {
            let tls = client_config(&TrustMode::CaFile(ca.clone()))
                .map_err(|e| BrokerError::config(format!("flex.ca_cert: {e}")))?;
            http = http.tls_backend_preconfigured(tls);
        }
        let http = http
            .build()
            .map_err(|e| BrokerError::config(format!("flex: HTTP client: {e}")))?;
        let opts = FlexServiceOptions {
            base_url,
            max_polls: self.cfg.max_polls,
            ..FlexServiceOptions::default()
        };
        Ok(FlexService::new(http, opts))
    }

    /// Fetches and parses the lots query and (when set and different) the trades query.
    pub async fn statement(&self) -> Result<TaxStatement, BrokerError> {
        let token = self.token()?;
        let service = self.service()?;
        let lots_q = self.cfg.lots_query.trim();
        let trades_q = self.cfg.trades_query.trim();
        let lots_body = service.fetch(&token, lots_q).await.map_err(map_err)?;
        let lots_name = format!("Flex query {lots_q}");
        let file = Path::new(&lots_name);
        let parse = |e: crate::flex::FlexError| BrokerError::from_source(BrokerErrorKind::Fatal, e);
        let lots = crate::flex::parse_lots(file, &lots_body).map_err(parse)?;
        let through = crate::flex::statement_through(file, &lots_body).map_err(parse)?;
        let (trades, source) = if trades_q.is_empty() {
            (Vec::new(), lots_name.clone())
        } else if trades_q == lots_q {
            (
                crate::flex::parse_trades(file, &lots_body).map_err(parse)?,
                lots_name.clone(),
            )
        } else {
            let body = service.fetch(&token, trades_q).await.map_err(map_err)?;
            let name = format!("Flex query {trades_q}");
            let trades = crate::flex::parse_trades(Path::new(&name), &body).map_err(parse)?;
            (trades, format!("{lots_name} (lots), {name} (trades)"))
        };
        Ok(TaxStatement {
            lots,
            trades,
            through,
            source,
        })
    }
}

/// Keeps the class of a Flex failure across the seam.
fn map_err(e: FlexServiceError) -> BrokerError {
    let kind = if e.needs_human() {
        BrokerErrorKind::Config
    } else if e.is_retryable() || matches!(e, FlexServiceError::Http { .. }) {
        BrokerErrorKind::Transient
    } else {
        BrokerErrorKind::Fatal
    };
    BrokerError::from_source(kind, e)
}
