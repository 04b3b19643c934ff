use super::*;
use std::io::Write;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn defaults_need_no_file() {
    let (c, _) = Config::load(None, env(&[])).unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:8080");
    assert_eq!(c.server.max_body_size.0, 8 << 20);
    assert_eq!(c.server.max_header_size.0, 16 << 10);
    assert_eq!(c.server.index, ["index.php", "index.html"]);
    assert_eq!(c.server.fallback, "/index.php");
    assert_eq!(c.log.level, "info");
}

#[test]
fn file_values_and_units() {
    let f = file("[server]\nlisten = \"0.0.0.0:9000\"\ncores = 2\nmax_body_size = \"1MiB\"\n[server.timeouts]\nheader = \"5s\"\n[server.static]\ncache_control = \"max-age=60\"\n");
    let (c, _) = Config::load(Some(f.path()), env(&[])).unwrap();
    assert_eq!(c.server.cores, Cores::Count(2));
    assert_eq!(c.server.max_body_size.0, 1 << 20);
    assert_eq!(c.server.timeouts.header.0.as_secs(), 5);
    assert_eq!(c.server.statics.cache_control, "max-age=60");
}

#[test]
fn unknown_key_names_key_and_file() {
    let f = file("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n");
    let e = Config::load(Some(f.path()), env(&[])).unwrap_err();
    assert!(e.contains("lisen"), "{e}");
    assert!(e.contains(&f.path().display().to_string()), "{e}");
}

#[test]
fn bad_units_explain_themselves() {
    let f = file("[server]\nmax_body_size = \"8 parsecs\"\n");
    let e = Config::load(Some(f.path()), env(&[])).unwrap_err();
    assert!(e.contains("unit") && e.contains("8 parsecs"), "{e}");
    let f = file("[server.timeouts]\nheader = \"soon\"\n");
    let e = Config::load(Some(f.path()), env(&[])).unwrap_err();
    assert!(e.contains("duration") && e.contains("soon"), "{e}");
}

#[test]
fn env_overrides_win_and_are_typed() {
    let f = file("[server]\nlisten = \"127.0.0.1:1\"\n");
    let vars = env(&[
        ("EPHPM_SERVER__LISTEN", "0.0.0.0:8081"),
        ("EPHPM_SERVER__TIMEOUTS__HEADER", "5s"),
        ("EPHPM_SERVER__CORES", "3"),
        ("EPHPM_SERVER__DENY", "[\"/vendor/*\"]"),
        ("EPHPM_CONFIG", "ignored.toml"),
        ("OTHER__X", "1"),
    ]);
    let (c, _) = Config::load(Some(f.path()), vars).unwrap();
    assert_eq!(c.server.listen, "0.0.0.0:8081");
    assert_eq!(c.server.timeouts.header.0.as_secs(), 5);
    assert_eq!(c.server.cores, Cores::Count(3));
    assert_eq!(c.server.deny, ["/vendor/*"]);
}

#[test]
fn bad_env_override_names_variable() {
    let e = Config::load(None, env(&[("EPHPM_SERVER__LISTN", "x")])).unwrap_err();
    assert!(e.contains("EPHPM_SERVER__LISTN") && e.contains("listn"), "{e}");
    let e = Config::load(None, env(&[("EPHPM_SERVER__TIMEOUTS__HEADER", "fast")])).unwrap_err();
    assert!(e.contains("EPHPM_SERVER__TIMEOUTS__HEADER"), "{e}");
}

#[test]
fn validation_names_keys() {
    for (text, key) in [
        ("[server]\nlisten = \"nowhere\"", "server.listen"),
        ("[server]\nio = \"kqueue\"", "server.io"),
        ("[log]\nlevel = \"loud\"", "log.level"),
        ("[server]\ncores = 0", "core count"),
        ("[server]\ndeny = [\"/a/[\"]", "server.deny"),
    ] {
        let f = file(text);
        let e = Config::load(Some(f.path()), env(&[])).unwrap_err();
        assert!(e.contains(key), "{text}: {e}");
    }
}

#[test]
fn redaction_hides_secrets() {
    let (c, _) = Config::load(None, env(&[])).unwrap();
    let text = redacted_toml(&c);
    assert!(text.contains("listen = \"127.0.0.1:8080\""), "{text}");
    let mut v: toml::Value = toml::from_str("[db]\npassword = \"hunter2\"\n[node_api]\ntoken = \"t\"").unwrap();
    redact::redact_for_test(&mut v);
    let s = v.to_string();
    assert!(!s.contains("hunter2") && !s.contains("\"t\""), "{s}");
}

#[test]
fn env_validation_errors_name_the_variable_not_the_file() {
    let f = file("[server]\nlisten = \"127.0.0.1:1\"\n");
    let e = Config::load(Some(f.path()), env(&[("EPHPM_SERVER__LISTEN", "nowhere")])).unwrap_err();
    assert!(e.contains("EPHPM_SERVER__LISTEN") && e.contains("server.listen"), "{e}");
    let f = file("[server]\nlisten = \"nowhere\"\n");
    let e = Config::load(Some(f.path()), env(&[])).unwrap_err();
    assert!(e.contains(&f.path().display().to_string()), "{e}");
}

#[test]
fn php_section_and_ini_table() {
    let f = file("[php]\nthreads_per_core = 2\nmax_wait = \"250ms\"\n[php.ini]\nmemory_limit = \"64M\"\nmax_execution_time = 5\n\"opcache.validate_timestamps\" = false\n");
    let (c, _) = Config::load(Some(f.path()), env(&[("EPHPM_PHP__INI__PRECISION", "10")])).unwrap();
    assert_eq!(c.php.threads_per_core, 2);
    assert_eq!(c.php.max_wait.0.as_millis(), 250);
    let ini = c.php.ini_pairs().unwrap();
    assert!(ini.contains(&("memory_limit".into(), "64M".into())), "{ini:?}");
    assert!(ini.contains(&("max_execution_time".into(), "5".into())), "{ini:?}");
    assert!(ini.contains(&("opcache.validate_timestamps".into(), "0".into())), "{ini:?}");
    assert!(ini.contains(&("precision".into(), "10".into())), "{ini:?}");

    let f = file("[php.ini]\nextension = [\"a\", \"b\"]\n");
    let e = Config::load(Some(f.path()), env(&[])).unwrap_err();
    assert!(e.contains("php.ini.extension") && e.contains(&f.path().display().to_string()), "{e}");
    let f = file("[php]\nthreads_per_core = 0\n");
    let e = Config::load(Some(f.path()), env(&[])).unwrap_err();
    assert!(e.contains("php.threads_per_core"), "{e}");
}

#[test]
fn the_documented_complete_example_loads() {
    let doc = include_str!("../../../docs/configuration.md");
    let section = doc.split("## Complete example").nth(1).expect("the section exists");
    let toml = section.split("```toml").nth(1).and_then(|s| s.split("```").next()).expect("a toml block");
    let f = file(toml);
    let (c, _) = Config::load(Some(f.path()), env(&[])).unwrap();
    assert_eq!(c.php.threads_per_core, 4);
    assert_eq!(c.php.ini_pairs().unwrap().len(), 2);
}

#[test]
fn php_worker_settings_parse_and_are_checked() {
    let (c, _) = Config::load(None, env(&[])).unwrap();
    assert!(c.php.worker.script.is_none(), "classic mode by default");
    assert!(c.php.worker.frankenphp_compat);
    let f = file(
        "[php.worker]\nscript = \"public/index.php\"\nmax_requests = 500\nmax_memory = \"256MiB\"\n\
         boot_timeout = \"20s\"\nfrankenphp_compat = false\n",
    );
    let (c, _) = Config::load(Some(f.path()), env(&[("EPHPM_PHP__WORKER__MAX_REQUESTS", "7")])).unwrap();
    let w = &c.php.worker;
    assert_eq!(w.script.as_deref(), Some(Path::new("public/index.php")));
    assert_eq!((w.max_requests, w.max_memory.map(|m| m.0)), (7, Some(256 << 20)));
    assert_eq!(w.boot_timeout.0, std::time::Duration::from_secs(20));
    assert!(!w.frankenphp_compat);
    for (bad, key) in [
        ("script = \"\"", "php.worker.script"),
        ("boot_timeout = \"0s\"", "php.worker.boot_timeout"),
        ("max_memory = \"10KiB\"", "php.worker.max_memory"),
    ] {
        let f = file(&format!("[php.worker]\n{bad}\n"));
        let e = Config::load(Some(f.path()), env(&[])).unwrap_err();
        assert!(e.contains(key) && e.contains(&f.path().display().to_string()), "{bad}: {e}");
    }
}
