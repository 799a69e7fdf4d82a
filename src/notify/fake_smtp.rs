//! A fake SMTP receiver on loopback for the e-mail tests: speaks enough ESMTP for lettre
//! (EHLO, optional STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) and records what it got.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_rustls::TlsAcceptor;

/// One received e-mail.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// The decoded AUTH PLAIN response (`\0user\0password`), if the client logged in.
    pub auth: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    /// True if the mail arrived over TLS (after STARTTLS).
    pub encrypted: bool,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The receiver: its address and what it received.
pub struct FakeSmtp {
    pub addr: SocketAddr,
    pub mails: Arc<Mutex<Vec<Mail>>>,
}

impl FakeSmtp {
    /// Listens on 127.0.0.1; offers STARTTLS with `tls` when given.
    pub async fn start(tls: Option<TlsAcceptor>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let sink = mails.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (sink, tls) = (sink.clone(), tls.clone());
                tokio::spawn(async move {
                    let _ = session(Box::new(sock), tls, sink).await;
                });
            }
        });
        Self { addr, mails }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

enum End {
    Quit,
    StartTls(Box<dyn Io>),
}

async fn session(
    stream: Box<dyn Io>,
    tls: Option<TlsAcceptor>,
    sink: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let mut stream = stream;
    stream.write_all(b"220 fake.test ESMTP\r\n").await?;
    match converse(stream, tls.is_some(), false, &sink).await? {
        End::Quit => Ok(()),
        End::StartTls(plain) => {
            let acceptor = tls.expect("STARTTLS is offered only with TLS");
            let secure = acceptor.accept(plain).await?;
            converse(Box::new(secure), false, true, &sink)
                .await
                .map(|_| ())
        }
    }
}

async fn converse(
    stream: Box<dyn Io>,
    offer_tls: bool,
    encrypted: bool,
    sink: &Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<End> {
    use base64::Engine;
    let mut s = BufReader::new(stream);
    let mut mail = Mail {
        encrypted,
        ..Mail::default()
    };
    let mut line = String::new();
    loop {
        line.clear();
        if s.read_line(&mut line).await? == 0 {
            return Ok(End::Quit);
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let tls = if offer_tls { "250-STARTTLS\r\n" } else { "" };
            format!("250-fake.test\r\n{tls}250 AUTH PLAIN LOGIN\r\n")
        } else if upper == "STARTTLS" {
            s.get_mut().write_all(b"220 go ahead\r\n").await?;
            return Ok(End::StartTls(s.into_inner()));
        } else if let Some(b64) = upper.strip_prefix("AUTH PLAIN ").map(|_| &cmd[11..]) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .unwrap_or_default();
            mail.auth = Some(String::from_utf8_lossy(&raw).into_owned());
            "235 ok\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = cmd[10..].trim().to_owned();
            "250 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(cmd[8..].trim().to_owned());
            "250 ok\r\n".into()
        } else if upper == "DATA" {
            s.get_mut().write_all(b"354 go\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if s.read_line(&mut line).await? == 0 {
                    return Ok(End::Quit);
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            mail.data = data;
            sink.lock().unwrap().push(std::mem::take(&mut mail));
            mail.encrypted = encrypted;
            "250 queued\r\n".into()
        } else if upper == "QUIT" {
            s.get_mut().write_all(b"221 bye\r\n").await?;
            return Ok(End::Quit);
        } else {
            "250 ok\r\n".into()
        };
        s.get_mut().write_all(reply.as_bytes()).await?;
    }
}
