//! envs.yaml: parse with positions, decode with defaults, layer overrides, validate.

pub mod decode;
pub mod diag;
pub mod load;
pub mod model;
pub mod node;
pub mod pins;
pub mod validate;

pub use diag::{Diag, Diags, Severity};
pub use load::{load_str, FlagOverrides, Loaded, Override};
pub use model::*;
