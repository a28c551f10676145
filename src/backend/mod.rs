//! The `vllm_python` backend: a supervised Python worker speaking protocol v1 over a Unix socket.
pub mod protocol;
pub mod reaper;
pub mod worker;
