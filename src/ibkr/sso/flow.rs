//! The login conversation through the gateway (`ibkr-sso-login.md` §1): `GET /`, `SBID`,
//! INIT, COMPLETEAUTH with EKX, the XYZAB cookies, the optional second factor, Dispatcher.
//! The brokerage session is brought up afterwards by the client's usual recovery
//! (`ssodh/init`, priming), which is not repeated here.
//!
//! It uses its own in-memory cookie jar: the login cookies (`XYZAB*` is derived from the
//! session key) are bearer credentials that pbal never writes to disk, and the gateway keeps
//! the upstream session itself, so API calls after the login need none of them (§6).
use std::sync::Arc;
use std::time::Duration;

use num_bigint_dig::BigUint;
use rand::Rng;
use reqwest::cookie::Jar;
use zeroize::Zeroizing;

use super::credentials::Credentials;
use super::srp::{Group, ServerParams, SrpClient, SrpProof, parse_hex};
use super::xml::Reply;
use super::{ekx, totp};

/// Which second factor to use when the server offers several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FactorChoice {
    /// TOTP when a secret is configured and offered, else IB Key push.
    #[default]
    Auto,
    Totp,
    Push,
}

/// Knobs of one login.
#[derive(Debug, Clone)]
pub struct FlowOptions {
    pub factor: FactorChoice,
    /// A live (non-paper) user is refused unless this is set (`account.allow_live`).
    pub allow_live: bool,
    pub push_poll_every: Duration,
    pub push_max_polls: u32,
    pub request_timeout: Duration,
}

impl Default for FlowOptions {
    fn default() -> Self {
        FlowOptions {
            factor: FactorChoice::Auto,
            allow_live: false,
            push_poll_every: Duration::from_secs(6),
            push_max_polls: 30,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a login failed. [`LoginError::stops`] says whether retrying could lock the account.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    #[error("wrong username or password (IBKR rejected the password proof)")]
    WrongCredentials,
    #[error(
        "IBKR reports too many failed logins for this user (reached_max_login): the account may be locked; check it in Client Portal"
    )]
    Locked,
    #[error("the login server refused the user: {0}")]
    Refused(String),
    #[error("the second factor was refused: {0} (check the TOTP secret and this machine's clock)")]
    CodeRefused(String),
    #[error("no usable second factor: {0}")]
    NoFactor(String),
    #[error(
        "the user is a live-trading user but account.allow_live is false; pbal refuses to log in"
    )]
    LiveNotAllowed,
    #[error(transparent)]
    Credential(#[from] super::credentials::CredentialError),
    #[error("the IB Key notification was not approved within {0} polls")]
    PushNotApproved(u32),
    #[error("the Dispatcher did not confirm the login: {0}")]
    Dispatcher(String),
    #[error("unexpected login reply: {0}")]
    Protocol(String),
    #[error("login request failed: {0}")]
    Transport(String),
}

impl LoginError {
    /// True when another automatic attempt could count as one more wrong login at IBKR (or
    /// cannot succeed without the user changing something): stop until `pbal login --reset`.
    pub fn stops(&self) -> bool {
        matches!(
            self,
            LoginError::WrongCredentials
                | LoginError::Locked
                | LoginError::Refused(_)
                | LoginError::CodeRefused(_)
                | LoginError::NoFactor(_)
                | LoginError::LiveNotAllowed
                | LoginError::Credential(_)
        )
    }
}

/// What a successful login found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowReport {
    /// `ini_params/paper` said this is a paper-trading user.
    pub paper: bool,
    /// The second factor used (`none`, `totp`, `push`).
    pub factor: &'static str,
}

/// Hooks of a login: step reporting (`pbal login` prints them), the push notice, and the
/// TOTP step memory (persisted by the caller).
pub struct Hooks<'a> {
    pub progress: &'a (dyn Fn(&str, &str) + Send + Sync),
    pub push_sent: &'a (dyn Fn() + Send + Sync),
    pub totp_step: &'a mut Option<u64>,
}

struct Conversation<'a> {
    http: reqwest::Client,
    jar: Arc<Jar>,
    base: url::Url,
    creds: &'a Credentials,
    opts: &'a FlowOptions,
}

/// Runs the whole login once.
///
/// # Errors
/// [`LoginError`] for the step that failed (never containing a secret).
pub async fn login(
    tls: rustls::ClientConfig,
    base: &url::Url,
    creds: &Credentials,
    opts: &FlowOptions,
    hooks: Hooks<'_>,
) -> Result<FlowReport, LoginError> {
    let jar = Arc::new(Jar::default());
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::limited(10))
        .timeout(opts.request_timeout)
        .http1_only()
        .user_agent(concat!("pbal/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| LoginError::Transport(format!("HTTP client: {e}")))?;
    let c = Conversation {
        http,
        jar,
        base: base.clone(),
        creds,
        opts,
    };
    c.run(hooks).await
}

fn transport(e: reqwest::Error) -> LoginError {
    // Without the URL: it carries no secret, but keeps the message short.
    LoginError::Transport(e.without_url().to_string())
}

impl Conversation<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .add_cookie_str(&format!("{name}={value}; Path=/; Secure"), &self.base);
    }

    async fn authenticator(&self, fields: &[(&str, &str)]) -> Result<Reply, LoginError> {
        let n: u32 = rand::rng().random_range(1..100_000);
        let resp = self
            .http
            .post(self.url(&format!("/sso/Authenticator?{n}")))
            .form(fields)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let body = resp.text().await.map_err(transport)?;
        if !status.is_success() {
            return Err(LoginError::Protocol(format!(
                "/sso/Authenticator answered HTTP {status}"
            )));
        }
        Reply::parse(&body).ok_or_else(|| {
            LoginError::Protocol("/sso/Authenticator did not answer with ib_auth_res XML".into())
        })
    }

    /// The whole exchange of §1: the page, INIT, the password proof, the second factor and
    /// the Dispatcher, each in its own step below.
    async fn run(&self, hooks: Hooks<'_>) -> Result<FlowReport, LoginError> {
        let progress = hooks.progress;
        self.open_page().await?;
        progress("gateway", "login page reachable");
        let user = self.creds.username.as_str();
        let (client, params, paper, rsapub) = self.init(user).await?;
        progress(
            "INIT",
            &format!(
                "SRP parameters received ({} user)",
                if paper { "paper" } else { "live" }
            ),
        );
        if !paper && !self.opts.allow_live {
            return Err(LoginError::LiveNotAllowed);
        }
        let proof = client
            .complete(user, &self.creds.password, &params)
            .map_err(|e| LoginError::Protocol(e.to_string()))?;
        let reply = self
            .complete_auth(user, &proof, paper, rsapub.as_ref())
            .await?;
        progress(
            "COMPLETEAUTH",
            "password proof accepted, server proof checked",
        );
        self.set_cookie("XYZAB_AM.LOGIN", proof.cookie_value());
        self.set_cookie("XYZAB", proof.cookie_value());

        let (factor, code) = match reply.get("sftypes") {
            None => ("none", Zeroizing::new(String::new())),
            Some(list) => self.second_factor(user, &proof.m1, list, hooks).await?,
        };
        self.dispatch(user, &proof, &code, paper).await?;
        progress("Dispatcher", "Client login succeeds");
        Ok(FlowReport { paper, factor })
    }

    /// `GET /` (following redirects) and the client-side `SBID` cookie set before INIT.
    async fn open_page(&self) -> Result<(), LoginError> {
        let resp = self
            .http
            .get(self.url("/"))
            .send()
            .await
            .map_err(transport)?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            return Err(LoginError::Transport(format!(
                "GET / answered HTTP {} (is this machine allowed in the gateway's ips.allow?)",
                resp.status()
            )));
        }
        let sbid: String = (0..18)
            .map(|_| char::from_digit(rand::rng().random_range(0..36), 36).unwrap_or('0'))
            .collect();
        self.set_cookie("SBID", &sbid);
        Ok(())
    }

    /// `COMPLETEAUTH`: sends M1 (and the session key under EKX) and checks the server's M2.
    /// A wrong proof and `reached_max_login` are told apart so that both stop all attempts.
    async fn complete_auth(
        &self,
        user: &str,
        proof: &SrpProof,
        paper: bool,
        rsapub: Option<&BigUint>,
    ) -> Result<Reply, LoginError> {
        let mut fields: Vec<(&str, String)> = vec![
            ("ACTION", "COMPLETEAUTH".into()),
            ("APP_NAME", String::new()),
            ("USER", user.to_owned()),
            ("ACCT", String::new()),
            ("M1", proof.m1.clone()),
            ("VERSION", "1".into()),
        ];
        if let Some(n) = rsapub {
            let e = ekx::encrypt(proof.session_key_hex().as_bytes(), n)
                .map_err(|e| LoginError::Protocol(e.to_string()))?;
            fields.push(("EKX", e));
        }
        if paper {
            fields.push(("LOGIN_TYPE", "2".into()));
        }
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = self.authenticator(&borrowed).await?;
        let m2_ok = reply.get("M2").is_some_and(|m2| proof.server_proof_ok(m2));
        if reply.flag("reached_max_login") {
            return Err(LoginError::Locked);
        }
        if !m2_ok {
            return Err(LoginError::WrongCredentials);
        }
        Ok(reply)
    }

    /// The final `POST /sso/Dispatcher`; only the literal `Client login succeeds` is success.
    async fn dispatch(
        &self,
        user: &str,
        proof: &SrpProof,
        code: &str,
        paper: bool,
    ) -> Result<(), LoginError> {
        let m2 = proof.m2_hex();
        let login_type = if paper { "2" } else { "0" };
        let pad = "x".repeat(24);
        let form = [
            ("user_name", user),
            ("password", pad.as_str()),
            ("chlginput", code),
            ("loginType", login_type),
            ("forwardTo", "22"),
            ("M1", proof.m1.as_str()),
            ("M2", m2.as_str()),
        ];
        let resp = self
            .http
            .post(self.url("/sso/Dispatcher"))
            .form(&form)
            .send()
            .await
            .map_err(transport)?;
        let body = resp.text().await.map_err(transport)?;
        if body.trim() == "Client login succeeds" {
            return Ok(());
        }
        if body.contains("Paper Trading user") {
            return Err(LoginError::Refused(
                "the gateway says this user is a paper-trading user in live mode".into(),
            ));
        }
        Err(LoginError::Dispatcher(if body.contains("ERRORMSG") {
            "login page reported failure".into()
        } else {
            "unexpected reply".into()
        }))
    }

    async fn init(
        &self,
        user: &str,
    ) -> Result<(SrpClient, ServerParams, bool, Option<BigUint>), LoginError> {
        let mut group = Group::default();
        for _ in 0..2 {
            let client = SrpClient::new(group.clone());
            let a = client.public_hex();
            let reply = self
                .authenticator(&[
                    ("ACTION", "INIT"),
                    ("APP_NAME", ""),
                    ("MODE", "NORMAL"),
                    ("FORCE_LOGIN", ""),
                    ("USER", user),
                    ("ACCT", ""),
                    ("A", &a),
                ])
                .await?;
            if let Some(err) = reply.get("error") {
                return Err(LoginError::Refused(err.to_owned()));
            }
            let need = |k: &str| {
                reply
                    .get(k)
                    .ok_or_else(|| LoginError::Protocol(format!("INIT reply lacks `{k}`")))
            };
            let server_group = Group {
                n: parse_hex(need("N")?).ok_or_else(|| LoginError::Protocol("N".into()))?,
                g: need("g")?
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| LoginError::Protocol("g is not decimal".into()))?
                    .into(),
            };
            if server_group != group {
                group = server_group;
                continue;
            }
            let params = ServerParams {
                group: server_group,
                proto: need("proto")?.to_owned(),
                salt_hex: need("s")?.to_owned(),
                b_hex: need("B")?.to_owned(),
                lp: reply.flag("lp"),
            };
            let rsapub = reply.get("rsapub").and_then(parse_hex);
            return Ok((client, params, reply.flag("paper"), rsapub));
        }
        Err(LoginError::Protocol(
            "the server changed its SRP group twice".into(),
        ))
    }

    async fn second_factor(
        &self,
        user: &str,
        m1: &str,
        offered: &str,
        hooks: Hooks<'_>,
    ) -> Result<(&'static str, Zeroizing<String>), LoginError> {
        let sf = self.choose_factor(offered)?;
        let base = [
            ("APP_NAME", ""),
            ("USER", user),
            ("ACCT", ""),
            ("M1", m1),
            ("VERSION", "1"),
            ("SF", sf),
        ];
        let mut chosen = vec![("ACTION", "COMPLETEAUTH_1")];
        chosen.extend_from_slice(&base);
        let reply = self.authenticator(&chosen).await?;
        if reply.get("type").is_none() {
            return Err(LoginError::NoFactor(
                reply
                    .get("error")
                    .unwrap_or("no two_factor/type in the reply")
                    .to_owned(),
            ));
        }
        if sf == "4" {
            let code = self.totp_factor(&base, hooks).await?;
            return Ok(("totp", code));
        }
        self.push_factor(&base, hooks).await?;
        Ok(("push", Zeroizing::new(String::new())))
    }

    /// The `SF` code to use among those IBKR offers: TOTP (`4`, needs a secret) or IB Key
    /// push (`5.2i`/`5.2a`), as `login.second_factor` prefers.
    fn choose_factor<'o>(&self, offered: &'o str) -> Result<&'o str, LoginError> {
        let codes: Vec<&str> = offered.split(',').map(str::trim).collect();
        let push = codes.iter().copied().find(|c| *c == "5.2i" || *c == "5.2a");
        let totp_ok = codes.contains(&"4") && self.creds.totp.is_some();
        let use_totp = match self.opts.factor {
            FactorChoice::Totp => true,
            FactorChoice::Push => false,
            FactorChoice::Auto => totp_ok || push.is_none(),
        };
        match (use_totp, push) {
            (true, _) if totp_ok => Ok("4"),
            (false, Some(p)) => Ok(p),
            _ => Err(LoginError::NoFactor(format!(
                "IBKR offers [{offered}]; pbal handles TOTP (4, needs a TOTP secret) and IB Key push (5.2i/5.2a)"
            ))),
        }
    }

    /// `COMPLETETWOFACT` with a fresh TOTP code; a refused code and `reached_max_login` stop.
    async fn totp_factor(
        &self,
        base: &[(&str, &str)],
        hooks: Hooks<'_>,
    ) -> Result<Zeroizing<String>, LoginError> {
        let code = self.totp_code(hooks.totp_step).await?;
        let mut fields = vec![("ACTION", "COMPLETETWOFACT"), ("RESPONSE", code.as_str())];
        fields.extend_from_slice(base);
        let reply = self.authenticator(&fields).await?;
        if reply.flag("reached_max_login") {
            return Err(LoginError::Locked);
        }
        if !reply.flag("auth_res") {
            return Err(LoginError::CodeRefused(
                reply.get("error").unwrap_or("auth_res=false").to_owned(),
            ));
        }
        (hooks.progress)("second factor", "TOTP code accepted");
        Ok(code)
    }

    /// IB Key push: tells the user, then polls within the configured pacing until approved.
    async fn push_factor(&self, base: &[(&str, &str)], hooks: Hooks<'_>) -> Result<(), LoginError> {
        (hooks.push_sent)();
        (hooks.progress)(
            "second factor",
            "IB Key notification sent; approve pbal's login on your phone",
        );
        for counter in 1..=self.opts.push_max_polls {
            tokio::time::sleep(self.opts.push_poll_every).await;
            let n = counter.to_string();
            let mut fields = vec![
                ("ACTION", "COMPLETETWOFACT"),
                ("PUSH", "true"),
                ("counter", n.as_str()),
            ];
            fields.extend_from_slice(base);
            let reply = self.authenticator(&fields).await?;
            if reply.flag("reached_max_login") {
                return Err(LoginError::Locked);
            }
            if reply.flag("auth_res") {
                (hooks.progress)("second factor", "IB Key push approved");
                return Ok(());
            }
        }
        Err(LoginError::PushNotApproved(self.opts.push_max_polls))
    }

    /// A code for a fresh step never used before; the step is recorded before it is sent.
    async fn totp_code(&self, last: &mut Option<u64>) -> Result<Zeroizing<String>, LoginError> {
        let key = self
            .creds
            .totp
            .as_ref()
            .ok_or_else(|| LoginError::NoFactor("no TOTP secret configured".into()))?;
        loop {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            match totp::next_step(now, *last) {
                Ok(step) => {
                    *last = Some(step);
                    return Ok(Zeroizing::new(key.code(step)));
                }
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}
