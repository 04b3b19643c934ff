//! `ephpm php [-d key=value]... script.php [args...]`: runs a script as
//! php-cli would, with the engine linked into this binary.

use std::ffi::OsString;
use std::process::ExitCode;

/// Runs the command with the arguments after `php`.
pub fn run(args: Vec<OsString>) -> ExitCode {
    match parse(args) {
        Ok((ini, script_and_args)) => execute(ini, script_and_args),
        Err(e) => {
            eprintln!("ephpm php: {e}\nusage: ephpm php [-d key=value]... script.php [args...]");
            ExitCode::from(1)
        }
    }
}

type Parsed = (Vec<(String, String)>, Vec<OsString>);

/// Splits `-d` settings from the script and its arguments.
fn parse(args: Vec<OsString>) -> Result<Parsed, String> {
    let mut ini = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let s = arg.to_string_lossy();
        let setting = if s == "-d" {
            it.next().ok_or("-d needs key=value")?.to_string_lossy().into_owned()
        } else if let Some(rest) = s.strip_prefix("-d") {
            rest.to_string()
        } else if s == "--" {
            return Ok((ini, it.collect()));
        } else if s.starts_with('-') && s.len() > 1 {
            return Err(format!("unknown option {s}"));
        } else {
            let mut rest = vec![arg];
            rest.extend(it);
            return Ok((ini, rest));
        };
        let (k, v) = setting.split_once('=').unwrap_or((setting.as_str(), "1"));
        ini.push((k.to_string(), v.to_string()));
    }
    Err("no script given".into())
}

fn execute(cli_ini: Vec<(String, String)>, args: Vec<OsString>) -> ExitCode {
    let script = std::path::Path::new(&args[0]);
    if !script.is_file() {
        println!("Could not open input file: {}", script.display());
        return ExitCode::from(1);
    }
    // [php.ini] from the config applies here too; -d wins over it.
    let mut ini = match crate::config::Config::load(crate::config_path(None).as_deref(), std::env::vars()) {
        Ok((cfg, _)) => match cfg.php.ini_pairs() {
            Ok(pairs) => pairs,
            Err(e) => return fail(&e),
        },
        Err(e) => return fail(&e),
    };
    ini.extend(cli_ini);
    match ephpm_sapi::run_cli(args, &ini) {
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
    use super::parse;

    fn os(v: &[&str]) -> Vec<std::ffi::OsString> {
        v.iter().map(Into::into).collect()
    }

    #[test]
    fn settings_then_script_and_its_args() {
        let (ini, rest) = parse(os(&["-d", "memory_limit=1G", "-dx=y", "s.php", "-d", "a"])).unwrap();
        assert_eq!(ini, vec![("memory_limit".into(), "1G".into()), ("x".into(), "y".into())]);
        assert_eq!(rest, os(&["s.php", "-d", "a"]));
        assert!(parse(os(&["-d"])).is_err());
        assert!(parse(os(&["-z", "s.php"])).is_err());
        assert!(parse(os(&[])).is_err());
    }
}
