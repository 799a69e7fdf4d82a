//! `pbal cert pin` and `pbal cert generate`: the two supported ways to trust the gateway's
//! certificate without ever turning verification off.
//!
//! - `pin` connects, shows the certificate the gateway presents (subject, issuer, validity,
//!   SANs, SHA-256) and, after confirmation or `--yes`, writes `gateway.pin_sha256` into the
//!   config file, keeping the rest of the file (comments included) as it was.
//! - `generate` makes a private CA and a `localhost`/`127.0.0.1` leaf, and writes the exact
//!   steps to load the leaf into the gateway's keystore (`conf.yaml` `sslCert`/`sslPwd`).
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::Settings;
use crate::ibkr::tls;

/// Arguments of `pbal cert`.
#[derive(Debug, clap::Args)]
pub struct CertArgs {
    #[command(subcommand)]
    pub action: CertAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum CertAction {
    /// Connect to the gateway, show its certificate and pin its SHA-256 in the config file.
    Pin {
        /// Write without asking.
        #[arg(long)]
        yes: bool,
        /// Gateway URL (default: gateway.url from the config).
        #[arg(long)]
        url: Option<String>,
    },
    /// Generate a private CA and a localhost certificate for the gateway, with instructions.
    Generate {
        /// Directory for the files (created; existing files are not overwritten without --force).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Host names / IPs the gateway certificate is valid for.
        #[arg(long = "name", value_name = "NAME", default_values = ["localhost", "127.0.0.1"])]
        names: Vec<String>,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: CertArgs, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    match args.action {
        CertAction::Pin { yes, url } => pin(config, url, yes),
        CertAction::Generate { out, names, force } => generate(&out, &names, force),
    }
}

fn pin(config: Option<&Path>, url: Option<String>, yes: bool) -> anyhow::Result<ExitCode> {
    let (url, timeout) = match url {
        Some(u) => (u, Duration::from_secs(10)),
        None => {
            // Load leniently: a config whose current pin is malformed must still be fixable.
            let s = Settings::load(config).context("loading the configuration")?;
            (
                s.gateway.url.clone(),
                Duration::from_secs(s.gateway.request_timeout_secs.max(1)),
            )
        }
    };
    let parsed = url::Url::parse(url.trim().trim_end_matches('/'))
        .with_context(|| format!("gateway URL `{url}`"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let chain = rt.block_on(tls::fetch_server_chain(&parsed, timeout))?;
    let info = tls::describe(chain[0].as_ref());
    println!("The gateway at {parsed} presents this certificate:");
    print_info(&info);
    if chain.len() > 1 {
        println!(
            "  (plus {} more certificate(s) in its chain)",
            chain.len() - 1
        );
    }
    if info.expired {
        println!(
            "  note: it has expired — normal for the gateway's stock certificate; a pin trusts \
             exactly this certificate regardless of its dates."
        );
    }
    println!(
        "Compare the fingerprint with the gateway's keystore before trusting it, e.g.\n  \
         keytool -list -v -keystore root/vertx.jks -storepass mywebapi | grep SHA256"
    );
    let Some(path) = config else {
        println!(
            "\nNo config file given (--config or PBAL_CONFIG). Add this to your config:\n\n\
             [gateway]\npin_sha256 = \"{}\"",
            info.fingerprint
        );
        return Ok(ExitCode::SUCCESS);
    };
    if !yes {
        print!(
            "\nWrite gateway.pin_sha256 = \"{}\" to {}? [y/N] ",
            info.fingerprint,
            path.display()
        );
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
            println!("Not written.");
            return Ok(ExitCode::from(1));
        }
    }
    let removed_ca = write_pin(path, &info.fingerprint)?;
    println!("Wrote gateway.pin_sha256 to {}.", path.display());
    if removed_ca {
        println!("Removed gateway.ca_cert from that file (a pin replaces it).");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_info(info: &tls::CertInfo) {
    println!("  subject:     {}", info.subject);
    println!("  issuer:      {}", info.issuer);
    println!("  valid:       {} → {}", info.not_before, info.not_after);
    println!(
        "  names (SAN): {}",
        if info.sans.is_empty() {
            "none".to_owned()
        } else {
            info.sans.join(", ")
        }
    );
    println!("  SHA-256:     {}", info.fingerprint);
}

/// Sets `[gateway] pin_sha256` in the TOML file at `path`, preserving everything else, and
/// removes `gateway.ca_cert` (the two are exclusive). Returns whether `ca_cert` was removed.
///
/// # Errors
/// Unreadable or invalid TOML, write failure.
pub fn write_pin(path: &Path, fingerprint: &str) -> anyhow::Result<bool> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    if !doc.contains_key("gateway") {
        doc["gateway"] = toml_edit::table();
    }
    let Some(gw) = doc["gateway"].as_table_like_mut() else {
        bail!("{}: `gateway` is not a table", path.display());
    };
    gw.insert("pin_sha256", toml_edit::value(fingerprint));
    let removed = gw.remove("ca_cert").is_some();
    crate::util::atomic_write_private(path, doc.to_string().as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(removed)
}

fn generate(out: &Path, names: &[String], force: bool) -> anyhow::Result<ExitCode> {
    let pki = tls::generate_pki(names)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let files: [(&str, &str, bool); 4] = [
        ("ca.pem", &pki.ca_cert_pem, false),
        ("ca-key.pem", &pki.ca_key_pem, true),
        ("gateway-cert.pem", &pki.leaf_cert_pem, false),
        ("gateway-key.pem", &pki.leaf_key_pem, true),
    ];
    for (name, _, _) in &files {
        let p = out.join(name);
        if p.exists() && !force {
            bail!(
                "{} exists; use --force to replace it (the gateway and pbal must then both be \
                 updated)",
                p.display()
            );
        }
    }
    for (name, content, secret) in &files {
        let p = out.join(name);
        if *secret {
            crate::util::atomic_write_private(&p, content.as_bytes())?;
        } else {
            crate::util::atomic_write_private(&p, content.as_bytes())?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))?;
        }
    }
    let dir = out.canonicalize().unwrap_or_else(|_| out.to_path_buf());
    let steps = instructions(&dir, names);
    crate::util::atomic_write_private(&out.join("INSTALL.txt"), steps.as_bytes())?;
    println!("{steps}");
    Ok(ExitCode::SUCCESS)
}

fn instructions(dir: &Path, names: &[String]) -> String {
    let d = dir.display();
    format!(
        "Generated in {d}:
  ca.pem             the CA pbal trusts (gateway.ca_cert)
  ca-key.pem         the CA's private key (0600; keep it or delete it — only needed to issue more)
  gateway-cert.pem   the gateway's certificate, valid for: {names}
  gateway-key.pem    the gateway's private key (0600)

Load it into the Client Portal Gateway (it reads a Java keystore):

1. Bundle certificate, key and CA as PKCS#12 (choose a password):
     openssl pkcs12 -export -name localhost \\
       -in {d}/gateway-cert.pem -inkey {d}/gateway-key.pem -certfile {d}/ca.pem \\
       -out {d}/gateway.p12 -passout pass:CHANGEIT
2. Convert it to a JKS keystore in the gateway's root/ directory:
     keytool -importkeystore -srckeystore {d}/gateway.p12 -srcstoretype PKCS12 \\
       -srcstorepass CHANGEIT -destkeystore <gateway>/root/pbal-gateway.jks \\
       -deststoretype JKS -deststorepass CHANGEIT -destkeypass CHANGEIT
3. In <gateway>/root/conf.yaml (keep IBKR's original file, change only these two keys):
     sslCert: \"pbal-gateway.jks\"
     sslPwd: \"CHANGEIT\"
4. Restart the gateway (bin/run.sh root/conf.yaml) and log in again.
5. In pbal's config:
     [gateway]
     url = \"https://localhost:5000\"
     ca_cert = \"{d}/ca.pem\"
6. Check: pbal check

Hostname verification stays on: connect with one of the names above.
",
        names = names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_pin_preserves_the_rest_and_drops_ca_cert() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pbal.toml");
        std::fs::write(
            &p,
            "# my settings\n[gateway]\nurl = \"https://localhost:5000\" # the gateway\nca_cert = \"/x.pem\"\n\n[orders]\nmode = \"submit\"\n",
        )
        .unwrap();
        let fp = vec!["AB"; 32].join(":");
        assert!(write_pin(&p, &fp).unwrap());
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("# my settings") && text.contains("# the gateway"),
            "{text}"
        );
        assert!(text.contains(&format!("pin_sha256 = \"{fp}\"")), "{text}");
        assert!(!text.contains("ca_cert"), "{text}");
        assert!(text.contains("mode = \"submit\""), "{text}");
        // The result loads and validates.
        let s = Settings::load_from(Some(&p), Vec::<(String, String)>::new()).unwrap();
        assert_eq!(s.gateway.pin_sha256.as_deref(), Some(fp.as_str()));
    }

    #[test]
    fn write_pin_creates_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new.toml");
        assert!(!write_pin(&p, "AA").unwrap());
        assert!(std::fs::read_to_string(&p).unwrap().contains("[gateway]"));
    }

    #[test]
    fn generate_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_owned()];
        generate(dir.path(), &names, false).unwrap();
        assert!(dir.path().join("INSTALL.txt").exists());
        let e = generate(dir.path(), &names, false).unwrap_err().to_string();
        assert!(e.contains("--force"), "{e}");
        generate(dir.path(), &names, true).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("gateway-key.pem"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
}
