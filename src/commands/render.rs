use crate::app::Outcome;
use crate::cli::{Global, RenderArgs};

pub fn run(g: &Global, _args: &RenderArgs) -> Outcome {
    let _env = crate::app::load_env(g)?;
    Ok(())
}
