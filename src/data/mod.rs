//! Data: the synthetic spec grammar, exact-length prompt building, dataset files and traces.
pub mod dataset_dir;
pub mod files;
pub mod prompts;
pub mod synthetic;
pub mod trace;
