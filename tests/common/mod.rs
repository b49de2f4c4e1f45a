// Each integration test binary uses a different part of the harness.
#![allow(dead_code)]

pub mod http;
pub mod layout;
pub mod proxy;
pub mod registry;
