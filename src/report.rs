//! Plan rendering (under construction).
