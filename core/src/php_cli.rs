//! `ephpm php`: php-cli's options for tooling (a script with arguments,
//! `-r`, `-l`, `-v`, `-m`, `-i`, `-d`), with the engine linked into this
//! binary. Invoked as `php` (a symlink named `php` to ephpm), ephpm is
//! this command, so Composer scripts and PHPUnit find it as `php`.

use std::ffi::OsString;
use std::process::ExitCode;

use ephpm_sapi::CliMode;

const USAGE: &str = "usage: ephpm php [-d key=value]... [-f] script.php [args...]
       ephpm php [-d key=value]... -r code [args...]
       ephpm php [-d key=value]... -l script.php
       ephpm php -v | -m | -i";

/// Runs the command with the arguments after `php`.
pub fn run(args: Vec<OsString>) -> ExitCode {
    match parse(args) {
        Ok(p) => execute(p),
        Err(e) => {
            eprintln!("ephpm php: {e}\n{USAGE}");
            ExitCode::from(1)
        }
    }
}

/// A parsed command line.
#[derive(Debug, PartialEq)]
struct Parsed {
    mode: CliMode,
    ini: Vec<(String, String)>,
    /// The script (script and lint modes) and the arguments.
    args: Vec<OsString>,
}

/// Reads php-cli's options up to the script (or `--`); what follows is the
/// script's, untouched.
fn parse(args: Vec<OsString>) -> Result<Parsed, String> {
    let mut ini = Vec::new();
    let mut mode = CliMode::Script;
    let mut it = args.into_iter();
    let rest = loop {
        let Some(arg) = it.next() else { break Vec::new() };
        let s = arg.to_string_lossy().into_owned();
        let mut value =
            |name: &str| it.next().map(|v| v.to_string_lossy().into_owned()).ok_or(format!("{name} needs a value"));
        match s.as_str() {
            "-d" => push_ini(&mut ini, &value("-d")?),
            d if d.starts_with("-d") => push_ini(&mut ini, &d[2..]),
            "-r" => mode = CliMode::Code(value("-r")?),
            "-v" | "--version" => mode = CliMode::Version,
            "-m" | "--modules" => mode = CliMode::Modules,
            "-i" | "--info" => mode = CliMode::Info,
            "-l" | "--syntax-check" => mode = CliMode::Lint,
            "-f" | "--file" => {
                let script = value("-f")?;
                let mut rest = vec![OsString::from(script)];
                rest.extend(it.by_ref());
                break rest;
            }
            "--" => break it.by_ref().collect(),
            o if o.starts_with('-') && o.len() > 1 => return Err(format!("unknown option {o}")),
            _ => {
                let mut rest = vec![arg];
                rest.extend(it.by_ref());
                break rest;
            }
        }
        // -r's code takes the arguments after it; -v, -m, -i take none.
        if matches!(mode, CliMode::Code(_)) {
            let rest: Vec<OsString> = it.by_ref().collect();
            break rest.into_iter().skip_while(|a| a == "--").collect();
        }
    };
    match mode {
        CliMode::Script | CliMode::Lint if rest.is_empty() => Err("no script given".into()),
        _ => Ok(Parsed { mode, ini, args: rest }),
    }
}

fn push_ini(ini: &mut Vec<(String, String)>, setting: &str) {
    let (k, v) = setting.split_once('=').unwrap_or((setting, "1"));
    ini.push((k.to_string(), v.to_string()));
}

fn execute(p: Parsed) -> ExitCode {
    if matches!(p.mode, CliMode::Script | CliMode::Lint) {
        let script = std::path::Path::new(&p.args[0]);
        if !script.is_file() {
            println!("Could not open input file: {}", script.display());
            return ExitCode::from(1);
        }
    }
    // [php.ini] from the config applies here too; -d wins over it.
    let mut ini = match crate::config::Config::load(crate::config_path(None).as_deref(), std::env::vars()) {
        Ok((cfg, _)) => match cfg.php.ini_pairs() {
            Ok(pairs) => pairs,
            Err(e) => return fail(&e),
        },
        Err(e) => return fail(&e),
    };
    ini.extend(p.ini);
    match ephpm_sapi::run_cli(p.mode, p.args, &ini) {
        Ok(status) => ExitCode::from(status.clamp(0, 255) as u8),
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(e: &str) -> ExitCode {
    eprintln!("ephpm php: {e}");
    ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    use super::{parse, CliMode};

    fn os(v: &[&str]) -> Vec<std::ffi::OsString> {
        v.iter().map(Into::into).collect()
    }

    #[test]
    fn settings_then_script_and_its_args() {
        let p = parse(os(&["-d", "memory_limit=1G", "-dx=y", "s.php", "-d", "a"])).unwrap();
        assert_eq!(p.ini, vec![("memory_limit".into(), "1G".into()), ("x".into(), "y".into())]);
        assert_eq!((p.mode, p.args), (CliMode::Script, os(&["s.php", "-d", "a"])));
        assert!(parse(os(&["-d"])).is_err());
        assert!(parse(os(&["-z", "s.php"])).is_err());
        assert!(parse(os(&[])).is_err());
    }

    #[test]
    fn php_cli_modes() {
        let p = parse(os(&["-d", "a=1", "-r", "echo 1;", "--", "x", "-y"])).unwrap();
        assert_eq!((p.mode, p.args), (CliMode::Code("echo 1;".into()), os(&["x", "-y"])));
        assert_eq!(parse(os(&["-v"])).unwrap().mode, CliMode::Version);
        assert_eq!(parse(os(&["-m"])).unwrap().mode, CliMode::Modules);
        assert_eq!(parse(os(&["-i"])).unwrap().mode, CliMode::Info);
        let p = parse(os(&["-l", "s.php"])).unwrap();
        assert_eq!((p.mode, p.args), (CliMode::Lint, os(&["s.php"])));
        assert!(parse(os(&["-l"])).is_err());
        assert!(parse(os(&["-r"])).is_err());
        let p = parse(os(&["-f", "artisan", "migrate", "--force"])).unwrap();
        assert_eq!(p.args, os(&["artisan", "migrate", "--force"]));
    }
}
