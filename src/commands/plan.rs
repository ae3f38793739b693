use crate::app::Outcome;
use crate::cli::Global;

pub fn run(g: &Global) -> Outcome {
    let _env = crate::app::load_env(g)?;
    Ok(())
}
