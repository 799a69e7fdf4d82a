//! The simulator fixture: a running simulator on `127.0.0.1:0`, a temp dir that lives as long
//! as the test, and the simulator's CA written where settings point (`<dir>/ca.pem`).
use std::path::{Path, PathBuf};

use pbal::sim::{SimConfig, SimHandle, Simulator};

pub struct SimEnv {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
}

impl SimEnv {
    /// Starts a simulator with `cfg` and writes its CA into a fresh temp dir.
    pub async fn start(cfg: SimConfig) -> SimEnv {
        let sim = Simulator::start(cfg).await.expect("simulator starts");
        let dir = tempfile::tempdir().unwrap();
        sim.write_ca(&dir.path().join("ca.pem")).unwrap();
        SimEnv { sim, dir }
    }

    /// [`SimEnv::start`] with [`SimConfig::relaxed`] (no pacing, no idle expiry).
    pub async fn relaxed() -> SimEnv {
        Self::start(SimConfig::relaxed()).await
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The CA file clients must trust.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The state directory settings and config files point at (not created).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

impl std::ops::Deref for SimEnv {
    type Target = SimHandle;
    fn deref(&self) -> &SimHandle {
        &self.sim
    }
}
