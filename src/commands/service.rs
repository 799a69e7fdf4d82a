//! `pbal service install --systemd [--user] [--print]` / `--launchd [--print]`: writes (or
//! prints) the unit that runs `pbal run` under the service manager, and prints the commands
//! that enable it. It never runs `systemctl`/`launchctl` itself: enabling a trading daemon is
//! a step the user takes knowingly.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::service::{self, UnitOptions};

/// Arguments of `pbal service`.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub action: ServiceAction,
}

#[derive(Debug, Subcommand)]
pub enum ServiceAction {
    /// Write a systemd unit or a launchd agent that runs `pbal run`.
    Install(InstallArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("manager").required(true).args(["systemd", "launchd"])))]
pub struct InstallArgs {
    /// A systemd unit (Linux).
    #[arg(long)]
    pub systemd: bool,
    /// A launchd LaunchAgent (macOS).
    #[arg(long)]
    pub launchd: bool,
    /// systemd: a per-user unit (`systemctl --user`) instead of a system unit.
    #[arg(long, conflicts_with = "launchd")]
    pub user: bool,
    /// Print the unit to stdout instead of writing it.
    #[arg(long)]
    pub print: bool,
    /// The pbal binary the unit runs (default: this executable).
    #[arg(long, value_name = "PATH")]
    pub exec: Option<PathBuf>,
    /// Replace an existing, different unit file.
    #[arg(long)]
    pub force: bool,
}

/// Runs `pbal service …`. `config` is the global `--config`, baked into the unit.
pub fn run(args: ServiceArgs, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    match args.action {
        ServiceAction::Install(a) => install(a, config),
    }
}

/// The executable the unit should start: the `pbal` front beside this one when there is one,
/// so the unit names the command users know (`pbal run`; the front `exec`s `pbal-full`, same
/// PID), otherwise this executable itself.
fn this_pbal() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this executable; pass --exec")?;
    let front = exe.with_file_name("pbal");
    let is_full = exe.file_name() == Some(std::ffi::OsStr::new(super::FULL_EXE));
    Ok(if is_full && front.is_file() {
        front
    } else {
        exe
    })
}

fn install(a: InstallArgs, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let exec = match a.exec {
        Some(p) => absolute(&p)?,
        None => this_pbal()?,
    };
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
        .context("HOME is not set to an absolute path")?;
    let config = config.map(absolute).transpose()?;
    if let Some(c) = &config
        && !c.exists()
    {
        eprintln!(
            "note: {} does not exist yet; create it before starting the service",
            c.display()
        );
    }

    let generated = if a.systemd {
        systemd(config.as_deref(), a.user, exec, &home)?
    } else {
        launchd(config.as_deref(), exec, &home)
    };
    let Generated {
        text,
        path,
        commands,
        opts,
    } = generated;

    if a.print {
        print!("{text}");
        eprintln!("\n# Install it as {}, then:\n{commands}", path.display());
        return Ok(ExitCode::SUCCESS);
    }

    if let Ok(existing) = std::fs::read_to_string(&path)
        && existing != text
        && !a.force
    {
        bail!(
            "{} exists and differs from the generated unit; compare with --print, then re-run with --force to replace it",
            path.display()
        );
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {} (system units need root)", dir.display()))?;
    }
    // Unit files are not secret (no credentials ever go in them): 0644 like any unit.
    std::fs::write(&path, &text)
        .with_context(|| format!("writing {} (system units need root)", path.display()))?;
    if let Some(dir) = &opts.user_state_dir {
        create_private_dir(dir)?;
    }
    if a.launchd {
        let logs = service::launchd_log_path(&home);
        if let Some(dir) = logs.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    println!("wrote {}\n\nNext:\n{commands}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// A generated unit, where it goes, the commands to enable it, and the options it was made
/// from.
struct Generated {
    text: String,
    path: PathBuf,
    commands: String,
    opts: UnitOptions,
}

/// The systemd unit; reads the config for `state.dir` and the login files to load as
/// credentials.
fn systemd(
    config: Option<&Path>,
    user: bool,
    exec: PathBuf,
    home: &Path,
) -> anyhow::Result<Generated> {
    let config_arg = match config {
        Some(c) => c.display().to_string(),
        // `%E` is /etc for system units and $XDG_CONFIG_HOME for user units, matching
        // ConfigurationDirectory=pbal.
        None => "%E/pbal/pbal.toml".to_owned(),
    };
    let settings = crate::config::Settings::load(config)
        .context("loading the config to find state.dir and the login files")?;
    let opts = UnitOptions {
        exec,
        config: config_arg,
        user,
        user_state_dir: user.then(|| settings.state_dir()),
        home: home.to_path_buf(),
        credentials: login_credentials(&settings),
    };
    Ok(Generated {
        text: service::systemd_unit(&opts),
        path: service::systemd_unit_path(user, home),
        commands: service::systemd_commands(user),
        opts,
    })
}

/// The launchd property list (per user).
fn launchd(config: Option<&Path>, exec: PathBuf, home: &Path) -> Generated {
    let config_arg = match config {
        Some(c) => c.display().to_string(),
        None => home
            .join("Library/Application Support/pbal/pbal.toml")
            .display()
            .to_string(),
    };
    let opts = UnitOptions {
        exec,
        config: config_arg,
        user: true,
        user_state_dir: None,
        home: home.to_path_buf(),
        credentials: Vec::new(),
    };
    let path = service::launchd_plist_path(home);
    Generated {
        text: service::launchd_plist(&opts),
        commands: service::launchd_commands(&path),
        path,
        opts,
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod 700 {}", dir.display()))
}

/// `LoadCredential=` entries for the login files named in `[login]` and the SMTP password file
/// of `[notify.email]` (absolute paths only: systemd reads them before the sandbox exists).
fn login_credentials(settings: &crate::config::Settings) -> Vec<(String, std::path::PathBuf)> {
    use crate::ibkr::sso::credentials::{PASSWORD_CREDENTIAL, TOTP_CREDENTIAL};
    let smtp = settings
        .notify
        .email
        .as_ref()
        .and_then(|e| e.password_file.clone());
    [
        (PASSWORD_CREDENTIAL, &settings.login.password_file),
        (TOTP_CREDENTIAL, &settings.login.totp_secret_file),
        (crate::notify::email::PASSWORD_CREDENTIAL, &smtp),
    ]
    .into_iter()
    .filter_map(|(name, path)| {
        let p = path.as_ref()?;
        let abs = std::path::absolute(p).ok()?;
        Some((name.to_owned(), abs))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smtp_password_file_becomes_a_credential_beside_the_login_files() {
        let mut s = crate::config::Settings::load_from(None, vec![]).unwrap();
        assert!(login_credentials(&s).is_empty());
        s.login.password_file = Some("/etc/pbal/ibkr-pw".into());
        s.notify.email = Some(crate::notify::EmailSettings {
            host: "smtp.example.org".into(),
            port: None,
            tls: Default::default(),
            from: "pbal@example.org".into(),
            to: vec!["me@example.org".into()],
            username: Some("me".into()),
            password_file: Some("/etc/pbal/smtp-pw".into()),
            ca_file: None,
        });
        assert_eq!(
            login_credentials(&s),
            [
                ("pbal-ibkr-password".to_owned(), "/etc/pbal/ibkr-pw".into()),
                ("pbal-smtp-password".to_owned(), "/etc/pbal/smtp-pw".into()),
            ]
        );
    }

    /// The README's example `[notify]` section loads as written.
    #[test]
    fn the_readme_alerts_example_loads() {
        let readme = include_str!("../../README.md");
        let block = readme
            .split("```toml\n[notify]\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("README has a ```toml [notify] block");
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("pbal.toml");
        std::fs::write(&cfg, format!("[notify]\n{block}")).unwrap();
        let s = crate::config::Settings::load_from(Some(&cfg), vec![]).unwrap();
        assert_eq!(s.notify.command.as_deref(), Some("notify-send pbal"));
        let e = s.notify.email.unwrap();
        assert_eq!(e.host, "smtp.example.org");
        assert_eq!(e.tls, crate::notify::email::EmailTls::Starttls);
        assert_eq!(e.to, ["me@example.org"]);
        assert_eq!(
            e.password_file.as_deref(),
            Some(std::path::Path::new("/etc/pbal/smtp-password"))
        );
    }
}
