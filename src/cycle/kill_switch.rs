//! The kill switch: `orders.enabled = false` or a `STOP` file in the state directory.
//!
//! Why one place: the guard that refuses orders, the daemon's pre-flight, `pbal status` and the
//! approval page must agree on whether orders are off; each once had its own copy (one with a
//! hard-coded file name).
use std::path::Path;

/// Name of the kill-switch file in the state directory.
pub const STOP_FILE: &str = "STOP";

/// Why orders are off, or `None` when they are allowed.
pub fn engaged(state_dir: &Path, orders_enabled: bool) -> Option<String> {
    if !orders_enabled {
        return Some("orders.enabled = false".to_owned());
    }
    let stop = state_dir.join(STOP_FILE);
    if stop.exists() {
        return Some(format!(
            "{} exists (delete it to allow orders)",
            stop.display()
        ));
    }
    None
}
