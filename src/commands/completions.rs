//! `bootstrap completions SHELL`: the completion script clap_complete generates from the same
//! clap definition the binary parses with, so it cannot fall behind the commands.

use super::Outcome;
use crate::cli::{Cli, CompletionsArgs};
use clap::CommandFactory;

pub fn run(args: &CompletionsArgs) -> Outcome {
    print!("{}", script(args.shell));
    Ok(())
}

/// The script for one shell, as text.
pub fn script(shell: clap_complete::Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "bootstrap", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}
