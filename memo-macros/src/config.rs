//! The build configuration, read from the compiler's own command line (the macro runs
//! inside it): the `cfg` set, edition, target, the codegen settings that change what code
//! computes, the compiler itself, and the artifact each `--extern` crate resolves to, whose
//! file name carries cargo's hash of that crate's version, source, features and
//! dependencies.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use crate::fingerprint::Component;

/// What the command line says, parsed once per compiler process.
#[derive(Default)]
pub struct Config {
    /// `cfg`, `build` and `rustc` components, every function's.
    pub components: Vec<Component>,
    /// The crate name code uses → its artifact's file stem (`libserde-1a2b3c`).
    externs: HashMap<String, String>,
}

impl Config {
    /// The artifact `--extern` names for `ident`, without its directory or extension.
    pub fn artifact(&self, ident: &str) -> Option<&str> {
        self.externs.get(ident).map(String::as_str)
    }

    /// Every crate name `--extern` gives the code.
    pub fn externs(&self) -> impl Iterator<Item = &str> {
        self.externs.keys().map(String::as_str)
    }
}

/// The configuration of this compiler process.
pub fn current() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| parse(&arguments(), driver().as_deref()))
}

/// The compiler's arguments, with `@file` arguments expanded as rustc expands them.
fn arguments() -> Vec<String> {
    // `args_os`: `args` would panic on a path that is not UTF-8.
    let raw: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut out = Vec::with_capacity(raw.len());
    for arg in raw {
        match arg.strip_prefix('@') {
            Some(file) => match std::fs::read_to_string(file) {
                Ok(text) => out.extend(text.lines().map(str::to_owned)),
                Err(_) => out.push(arg),
            },
            None => out.push(arg),
        }
    }
    out
}

/// What identifies the compiler: the file name of its driver library carries a hash of
/// its build, and its path names the toolchain.
fn driver() -> Option<String> {
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    let lib = exe.parent()?.parent()?.join("lib");
    let mut names: Vec<String> = std::fs::read_dir(lib)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("librustc_driver-") || n.starts_with("rustc_driver-"))
        .collect();
    names.sort();
    let exe = exe.to_string_lossy().into_owned();
    Some(if names.is_empty() {
        exe
    } else {
        names.join(",")
    })
}

fn component(kind: &'static str, path: String, value: &str) -> Component {
    Component {
        kind,
        hash: *blake3::hash(value.as_bytes()).as_bytes(),
        location: value.to_owned(),
        path,
        source: None,
    }
}

/// The options that take a value, in either `--opt value` or `--opt=value` form.
fn pairs(args: &[String]) -> Vec<(&str, &str)> {
    const LONG: [&str; 4] = ["--cfg", "--edition", "--target", "--extern"];
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if let Some(rest) = arg.strip_prefix("-C").or_else(|| arg.strip_prefix("-Z")) {
            let flag = &arg[..2];
            if rest.is_empty() {
                if let Some(value) = args.get(i + 1) {
                    out.push((flag, value.as_str()));
                }
                i += 2;
                continue;
            }
            out.push((flag, rest));
        } else if let Some(long) = LONG.iter().find(|l| arg == **l) {
            if let Some(value) = args.get(i + 1) {
                out.push((long, value.as_str()));
            }
            i += 2;
            continue;
        } else if let Some((long, value)) = arg.split_once('=')
            && LONG.contains(&long)
        {
            out.push((long, value));
        }
        i += 1;
    }
    out
}

fn parse(args: &[String], driver: Option<&str>) -> Config {
    let mut config = Config::default();
    let mut codegen: HashMap<&str, &str> = HashMap::new();
    let mut edition = "2015";
    let mut target = None;
    for (flag, value) in pairs(args) {
        match flag {
            "--cfg" => config
                .components
                .push(component("cfg", value.to_owned(), value)),
            "--edition" => edition = value,
            "--target" => target = Some(value),
            "--extern" => {
                if let Some((name, file)) = value.split_once('=') {
                    let stem = Path::new(file)
                        .file_stem()
                        .map_or_else(|| file.to_owned(), |s| s.to_string_lossy().into_owned());
                    config.externs.insert(name.to_owned(), stem);
                }
            }
            "-C" => {
                let (key, value) = value.split_once('=').unwrap_or((value, ""));
                codegen.insert(key, value);
            }
            // Unstable flags can change anything: all of them count.
            "-Z" => config
                .components
                .push(component("build", format!("-Z {value}"), value)),
            _ => {}
        }
    }
    let on = |v: &str| matches!(v, "" | "on" | "yes" | "y" | "true");
    let optimised = codegen.get("opt-level").is_some_and(|level| *level != "0");
    let debug_assertions = codegen
        .get("debug-assertions")
        .map_or(!optimised, |v| on(v));
    let overflow_checks = codegen
        .get("overflow-checks")
        .map_or(debug_assertions, |v| on(v));
    let switch = |b: bool| if b { "on" } else { "off" };
    let host = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    let settings = [
        ("edition", edition.to_owned()),
        ("target", target.map_or(host, str::to_owned)),
        ("debug-assertions", switch(debug_assertions).to_owned()),
        ("overflow-checks", switch(overflow_checks).to_owned()),
        (
            "panic",
            codegen.get("panic").unwrap_or(&"unwind").to_string(),
        ),
        (
            "target-cpu",
            codegen.get("target-cpu").unwrap_or(&"").to_string(),
        ),
        (
            "target-feature",
            codegen.get("target-feature").unwrap_or(&"").to_string(),
        ),
    ];
    for (name, value) in settings {
        config
            .components
            .push(component("build", name.to_owned(), &value));
    }
    if let Some(driver) = driver {
        config
            .components
            .push(component("rustc", "compiler".to_owned(), driver));
    }
    config
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    fn value(config: &super::Config, path: &str) -> String {
        let found = config.components.iter().find(|c| c.path == path);
        found.map(|c| c.location.clone()).unwrap_or_default()
    }

    #[test]
    fn a_release_build_has_no_debug_assertions_or_overflow_checks() {
        let dev = parse(
            &args("--edition=2024 src/main.rs -C embed-bitcode=no"),
            None,
        );
        let release = parse(&args("--edition=2024 src/main.rs -C opt-level=3"), None);
        assert_eq!(value(&dev, "debug-assertions"), "on");
        assert_eq!(value(&dev, "overflow-checks"), "on");
        assert_eq!(value(&release, "debug-assertions"), "off");
        assert_eq!(value(&release, "overflow-checks"), "off");
        let checked = parse(&args("-C opt-level=3 -Coverflow-checks=on"), None);
        assert_eq!(value(&checked, "overflow-checks"), "on");
        assert_eq!(value(&dev, "edition"), "2024");
    }

    #[test]
    fn cfgs_and_externs_are_read_in_both_forms() {
        let config = parse(
            &args(
                "--cfg feature=\"x\" --cfg=tokio_unstable --extern serde=/t/deps/libserde-ab12.rlib --extern=itoa=/t/libitoa-cd.rmeta",
            ),
            None,
        );
        let cfgs: Vec<&str> = config
            .components
            .iter()
            .filter(|c| c.kind == "cfg")
            .map(|c| c.path.as_str())
            .collect();
        assert_eq!(cfgs, ["feature=\"x\"", "tokio_unstable"]);
        assert_eq!(config.artifact("serde"), Some("libserde-ab12"));
        assert_eq!(config.artifact("itoa"), Some("libitoa-cd"));
    }
}
