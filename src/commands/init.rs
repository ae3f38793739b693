//! `bootstrap init`: placeholder, filled in with the registry fields.

use super::{Failure, Outcome};
use crate::cli::{Global, InitArgs};

pub fn run(_g: &Global, _args: &InitArgs) -> Outcome {
    Err(Failure::Failed("not yet".into()))
}
