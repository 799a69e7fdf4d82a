//! CSV input for `pbal plan` (under construction).
