//! sd_notify helpers against a fake systemd notification socket. One test in its own binary
//! (its own process), because it sets `NOTIFY_SOCKET`/`WATCHDOG_*` in the environment.
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use pbal::service::sd;
use tokio_util::sync::CancellationToken;

fn recv_all(sock: &UnixDatagram) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

#[test]
fn ready_status_watchdog_stopping_reach_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_nonblocking(true).unwrap();

    // Without NOTIFY_SOCKET every helper is a silent no-op.
    sd::notify_ready();
    assert!(recv_all(&sock).is_empty());
    assert_eq!(sd::watchdog_interval(), None);

    // SAFETY: this test binary has a single test, so no other thread reads the environment.
    unsafe {
        std::env::set_var("NOTIFY_SOCKET", &path);
        std::env::set_var("WATCHDOG_USEC", "120000000");
        std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
    }
    sd::notify_ready();
    sd::notify_status("next run 2027-Q2");
    sd::notify_stopping();
    assert_eq!(
        recv_all(&sock),
        ["READY=1\n", "STATUS=next run 2027-Q2\n", "STOPPING=1\n"]
    );

    // Half of WatchdogSec=120.
    let interval = sd::watchdog_interval().unwrap();
    assert_eq!(interval, Duration::from_secs(60));

    // The watchdog task pings at once, then every interval, and stops when cancelled.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(sd::watchdog_task(interval, cancel.clone()));
        tokio::time::sleep(Duration::from_secs(150)).await; // pings at 0, 60, 120
        cancel.cancel();
        task.await.unwrap();
        tokio::time::sleep(Duration::from_secs(600)).await; // no more after cancel
    });
    assert_eq!(recv_all(&sock), ["WATCHDOG=1\n"; 3]);
}
