//! (driver: see below)
