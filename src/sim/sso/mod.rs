//! The simulator's side of IBKR's SSO login (`ibkr-sso-login.md` §8): the SRP-6 server, EKX
//! decryption and the second factor, so `pbal login` and the daemon's unattended login are
//! tested against a gateway that behaves like the real one.
pub mod srp;

#[cfg(test)]
mod interop_tests;
