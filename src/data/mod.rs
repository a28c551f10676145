//! Data: the synthetic spec grammar and exact-length prompt building.
pub mod dataset_dir;
pub mod files;
pub mod prompts;
pub mod synthetic;
