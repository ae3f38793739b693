//! `bootstrap man`: the man page clap_mangen renders from the clap definition. Printed, it is
//! bootstrap(1) followed by a section per command with its own options, so one page holds all;
//! with `--dir`, one file per command the way man(1) looks them up.

use super::{Failure, Outcome};
use crate::cli::{Cli, ManArgs};
use clap::CommandFactory;
use std::path::Path;

pub fn run(args: &ManArgs) -> Outcome {
    match &args.dir {
        None => {
            print!("{}", page());
            Ok(())
        }
        Some(dir) => {
            write_pages(dir).map_err(|e| Failure::Failed(format!("{}: {e}", dir.display())))
        }
    }
}

/// bootstrap(1): the top page, then each command's options and examples under its own heading.
pub fn page() -> String {
    let cmd = Cli::command();
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd.clone()).render(&mut out);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("bootstrap {}", sub.get_name());
        // A handful of short names, once per run: leaking them is what clap's `&'static str` asks.
        let sub = sub.clone().name(&*Box::leak(name.clone().into_boxed_str()));
        let mut sect = roff_section(&name.to_uppercase());
        let man = clap_mangen::Man::new(sub.clone());
        let mut body = Vec::new();
        let _ = man.render_synopsis_section(&mut body);
        let _ = man.render_description_section(&mut body);
        let _ = man.render_options_section(&mut body);
        if sub.has_subcommands() {
            let _ = man.render_subcommands_section(&mut body);
        }
        if sub.get_after_help().is_some() {
            let _ = man.render_extra_section(&mut body);
        }
        // Each part starts with the page preamble and its own `.SH` heading: keep the preamble
        // once (the top page has it) and make the headings `.SS` under the command's section.
        for line in String::from_utf8_lossy(&body).lines() {
            if line.starts_with(".ie \\n(.g") || line.starts_with(".el .ds Aq") {
                continue;
            }
            match line.strip_prefix(".SH ") {
                Some(h) => sect.push_str(&format!(".SS {h}\n")),
                None => {
                    sect.push_str(line);
                    sect.push('\n');
                }
            }
        }
        out.extend_from_slice(sect.as_bytes());
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn roff_section(title: &str) -> String {
    format!(".SH \"{}\"\n", title.replace('"', ""))
}

fn write_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let cmd = Cli::command();
    let mut top = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut top)?;
    std::fs::write(dir.join("bootstrap.1"), top)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("bootstrap-{}", sub.get_name());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub.clone().name(&*Box::leak(name.clone().into_boxed_str())))
            .render(&mut page)?;
        std::fs::write(dir.join(format!("{name}.1")), page)?;
        println!("{}", dir.join(format!("{name}.1")).display());
    }
    println!("{}", dir.join("bootstrap.1").display());
    Ok(())
}
