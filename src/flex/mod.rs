//! IBKR Flex Queries: reading lot-level Open Positions and Trades (CSV or XML), and fetching
//! them unattended from the Flex Web Service.
//!
//! A leaf like [`crate::ibkr`]: it knows nothing about config, cycles or the journal. It
//! produces the pure [`crate::tax`] inputs ([`Lot`](crate::tax::Lot),
//! [`PastTrade`](crate::tax::PastTrade)). Layout is read leniently (columns in any order,
//! extra columns and sections ignored, CSV with or without IBKR's `BOF`/`HEADER`/`DATA` record
//! descriptors, a BOM), content strictly: a bad value is an error naming the file, line and
//! column (CSV header or XML attribute).
use std::path::PathBuf;

mod dates;
mod parse;
pub mod service;
mod statement;

pub use dates::parse_datetime;
pub use parse::{parse_lots, parse_trades, read_lots, read_trades};
pub use statement::statement_through;

/// A Flex file problem, located precisely enough to fix it in an editor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlexError {
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: column {column}: {message}", file.display())]
    Field {
        file: PathBuf,
        line: u64,
        column: String,
        message: String,
    },
    #[error("{}:{line}: {message}", file.display())]
    Row {
        file: PathBuf,
        line: u64,
        message: String,
    },
}
