//! Helpers shared by this crate's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod faulty;
pub mod heap;
pub mod models;
pub mod mutate;
