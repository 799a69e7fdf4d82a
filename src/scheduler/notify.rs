//! (notify)
