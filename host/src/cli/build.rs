//! `relive build [DIR]`: builds an agent project into a component, with
//! relive's own WIT (`wit/agent.wit`, compiled into this binary) and world.
//!
//! The language is found from the project's files (`package.json`:
//! TypeScript or JavaScript, `pyproject.toml`: Python, `Cargo.toml`: Rust)
//! or given with `--lang`. The component is written to `DIR/NAME.wasm`,
//! where the `relive.toml` of `relive new` expects it.
//!
//! TypeScript and JavaScript are built with the tools of the nearest
//! `node_modules` at or above `DIR` (the project's, after `npm install`):
//! `tsc --noEmit` type-checks the project when it has a `tsconfig.json`,
//! esbuild bundles the entry module (`"relive": {"entry": ...}` in
//! package.json, default `src/app.ts`) with the SDK into one ES module,
//! written beside the component as `NAME.bundle.js` (stack traces point
//! into it),
//! and componentize-js compiles that into a component with StarlingMonkey
//! inside, without `fetch` (`--disable http fetch-event`: relive does not
//! grant `wasi:http`).
//!
//! Python is built by componentize-py, found as `$RELIVE_COMPONENTIZE_PY`,
//! else `DIR/.venv/bin/componentize-py`, else `$VIRTUAL_ENV/bin/`, else on
//! `PATH`; its virtual environment's `site-packages` (where `relive-sdk` is
//! installed) is searched for modules.

use super::new::Lang;
use anyhow::{Context, anyhow, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The componentize-py release relive is tested with (`.ci/run` installs
/// it from `guest-sdk/python/requirements-dev.txt`).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The componentize-js release relive is tested with; with the esbuild,
/// TypeScript and preview2-shim below, the versions the repository's
/// package.json pins and `relive new --lang ts` writes into a project.
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";
/// The esbuild release that bundles TypeScript agents.
pub const ESBUILD_VERSION: &str = "0.28.2";
/// The TypeScript release that type-checks them.
pub const TYPESCRIPT_VERSION: &str = "7.0.2";
/// The preview2-shim componentize-js runs its bindings generator on: 0.25,
/// which preopens `/`, so that the generator can read the WIT (0.26 preopens
/// nothing, and fails with "No such file or directory").
pub const PREVIEW2_SHIM_VERSION: &str = "0.25.0";

/// The contract every agent implements.
const AGENT_WIT: &str = include_str!("../../../wit/agent.wit");
/// The world in [`AGENT_WIT`] an agent implements.
const AGENT_WORLD: &str = "agent";

/// Arguments of `relive build`.
#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// The agent project (made by `relive new`, or any folder with a
    /// package.json, a pyproject.toml or a Cargo.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The language [default: found from the project's files].
    #[arg(long, value_enum)]
    lang: Option<Lang>,
    /// Write the component here [default: DIR/NAME.wasm].
    #[arg(long, short, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Python: also search this folder for modules (before site-packages);
    /// may be repeated.
    #[arg(long = "python-path", short = 'p', value_name = "DIR")]
    python_path: Vec<PathBuf>,
}

/// Runs `relive build`.
pub fn run(args: &BuildArgs) -> anyhow::Result<u8> {
    let dir = &args.dir;
    if !dir.is_dir() {
        bail!(
            "{} is not a folder; pass the agent project's folder",
            dir.display()
        );
    }
    let lang = match args.lang {
        Some(lang) => lang,
        None => detect(dir)?,
    };
    let started = Instant::now();
    let output = match lang {
        Lang::Ts => build_ts(dir, args.output.as_deref())?,
        Lang::Python => build_python(dir, args)?,
        Lang::Rust => build_rust(dir, args.output.as_deref())?,
    };
    let size = std::fs::metadata(&output)
        .with_context(|| format!("the build wrote no {}", output.display()))?
        .len();
    eprintln!(
        "relive: built {} ({:.1} MB) in {:.1} s",
        output.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}

fn detect(dir: &Path) -> anyhow::Result<Lang> {
    let found: Vec<(&str, Lang)> = [
        ("package.json", Lang::Ts),
        ("pyproject.toml", Lang::Python),
        ("Cargo.toml", Lang::Rust),
    ]
    .into_iter()
    .filter(|(file, _)| dir.join(file).is_file())
    .collect();
    match found[..] {
        [(_, lang)] => Ok(lang),
        [] => bail!(
            "{} has no package.json, pyproject.toml or Cargo.toml, so its language is unknown; pass --lang, or create a project with `relive new NAME --lang ts` (or python, rust)",
            dir.display()
        ),
        _ => {
            let files: Vec<&str> = found.iter().map(|(f, _)| *f).collect();
            let langs: Vec<String> = found
                .iter()
                .map(|(_, l)| format!("--lang {}", l.name()))
                .collect();
            bail!(
                "{} has {}; pass {}",
                dir.display(),
                files.join(" and "),
                langs.join(" or ")
            )
        }
    }
}

/// A TOML file of the project, parsed.
fn read_toml(path: &Path) -> anyhow::Result<toml::Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))
}

/// `table[section][key]` as a string.
fn string_at<'a>(table: &'a toml::Table, section: &str, key: &str) -> Option<&'a str> {
    section
        .split('.')
        .try_fold(table, |t, part| t.get(part)?.as_table())?
        .get(key)?
        .as_str()
}

fn build_python(dir: &Path, args: &BuildArgs) -> anyhow::Result<PathBuf> {
    let pyproject = read_toml(&dir.join("pyproject.toml"))?;
    let name = string_at(&pyproject, "project", "name").ok_or_else(|| {
        anyhow!(
            "{} has no `name` under [project]; add name = \"my-agent\"",
            dir.join("pyproject.toml").display()
        )
    })?;
    let module = string_at(&pyproject, "tool.relive", "module").unwrap_or("app");
    if !dir.join(format!("{module}.py")).is_file()
        && !dir.join(module).join("__init__.py").is_file()
    {
        bail!(
            "the agent's module `{module}` is not in {} (no {module}.py); create it, or name the module with `module = \"...\"` under [tool.relive] in pyproject.toml",
            dir.display()
        );
    }
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| dir.join(format!("{name}.wasm")));
    let componentize = componentize_py(dir)?;
    warn_on_other_version(&componentize);

    let wit = scratch_dir("wit")?;
    std::fs::write(wit.join("agent.wit"), AGENT_WIT)?;
    let mut cmd = Command::new(&componentize);
    cmd.arg("-q")
        .arg("-d")
        .arg(&wit)
        .args(["-w", AGENT_WORLD, "componentize", "-p"])
        .arg(dir);
    for extra in &args.python_path {
        cmd.arg("-p").arg(extra);
    }
    cmd.arg(module).arg("-o").arg(&output);
    // componentize-py adds $VIRTUAL_ENV's site-packages (where relive-sdk
    // is installed); a venv's componentize-py is run without activating it.
    if std::env::var_os("VIRTUAL_ENV").is_none()
        && let Some(venv) = venv_of(&componentize)
    {
        cmd.env("VIRTUAL_ENV", venv);
    }
    eprintln!(
        "relive: building {} with {} (CPython inside: this takes 15-30 s)",
        dir.display(),
        componentize.display()
    );
    let status = cmd.status();
    let _ = std::fs::remove_dir_all(&wit);
    let status = status.with_context(|| format!("cannot run {}", componentize.display()))?;
    if !status.success() {
        bail!(
            "componentize-py failed ({status}); see its output above (a `ModuleNotFoundError: relive_sdk` means the SDK is not installed where componentize-py looks: `pip install` it into the same virtual environment, or pass -p with the folder that holds `relive_sdk`)"
        );
    }
    Ok(output)
}

/// Where componentize-py is (see the module documentation).
fn componentize_py(dir: &Path) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("RELIVE_COMPONENTIZE_PY") {
        return Ok(PathBuf::from(path));
    }
    let mut candidates = vec![dir.join(".venv/bin/componentize-py")];
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        candidates.push(PathBuf::from(venv).join("bin/componentize-py"));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|p| p.join("componentize-py")));
    }
    candidates.into_iter().find(|c| c.is_file()).ok_or_else(|| {
        anyhow!(
            "componentize-py not found (looked at $RELIVE_COMPONENTIZE_PY, {}/.venv, $VIRTUAL_ENV and PATH); install it next to the SDK: `python3 -m venv .venv && .venv/bin/pip install componentize-py=={COMPONENTIZE_PY_VERSION} PATH/TO/relive/guest-sdk/python`",
            dir.display()
        )
    })
}

/// The virtual environment `bin/componentize-py` belongs to, if any.
fn venv_of(componentize: &Path) -> Option<PathBuf> {
    let venv = componentize
        .canonicalize()
        .ok()?
        .parent()?
        .parent()?
        .to_path_buf();
    venv.join("pyvenv.cfg").is_file().then_some(venv)
}

fn warn_on_other_version(componentize: &Path) {
    let Ok(out) = Command::new(componentize).arg("--version").output() else {
        return;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    let version = version.trim().trim_start_matches("componentize-py").trim();
    if version != COMPONENTIZE_PY_VERSION {
        eprintln!(
            "relive: warning: {} is version {version}; relive is tested with {COMPONENTIZE_PY_VERSION} (`pip install componentize-py=={COMPONENTIZE_PY_VERSION}`)",
            componentize.display()
        );
    }
}

/// A new empty folder under the system's temporary folder.
fn scratch_dir(what: &str) -> anyhow::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "relive-build-{what}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The entry modules `relive build` looks for, in order, when package.json
/// names none.
const TS_ENTRIES: &[&str] = &["src/app.ts", "src/app.js", "app.ts", "app.js"];

fn build_ts(dir: &Path, output: Option<&Path>) -> anyhow::Result<PathBuf> {
    let (name, entry) = ts_package(dir)?;
    let output = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join(format!("{name}.wasm")));
    let bin = node_bin(dir)?;
    warn_on_other_componentize_js(&bin);

    type_check_ts(dir, &bin)?;
    let bundle = bundle_ts(dir, &entry, &output, &bin)?;
    componentize_ts(dir, &bundle, &output, &bin)?;
    Ok(output)
}

/// The agent's name and entry module, from its package.json.
fn ts_package(dir: &Path) -> anyhow::Result<(String, String)> {
    let manifest = dir.join("package.json");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let package: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", manifest.display()))?;
    let name = package["name"]
        .as_str()
        .map(|n| n.rsplit('/').next().unwrap_or(n))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            anyhow!(
                "{} has no `name`; add \"name\": \"my-agent\"",
                manifest.display()
            )
        })?;
    let name = name.to_string();
    let entry = match package["relive"]["entry"].as_str() {
        Some(entry) => {
            if !dir.join(entry).is_file() {
                bail!(
                    "the agent's entry module {entry} (\"relive\": {{\"entry\"}} in {}) does not exist",
                    manifest.display()
                );
            }
            entry.to_string()
        }
        None => TS_ENTRIES
            .iter()
            .find(|e| dir.join(e).is_file())
            .map(|e| e.to_string())
            .ok_or_else(|| {
                anyhow!(
                    "the agent's entry module is not in {} (looked for {}); create src/app.ts, or name it with \"relive\": {{\"entry\": \"...\"}} in package.json",
                    dir.display(),
                    TS_ENTRIES.join(", ")
                )
            })?,
    };
    Ok((name, entry))
}

/// `tsc --noEmit` when the project has a tsconfig.json.
fn type_check_ts(dir: &Path, bin: &Path) -> anyhow::Result<()> {
    if dir.join("tsconfig.json").is_file() {
        eprintln!("relive: type-checking {} (tsc --noEmit)", dir.display());
        let tsc = bin.join("tsc");
        let status = Command::new(&tsc)
            .args(["--noEmit", "-p"])
            .arg(dir)
            .status()
            .with_context(|| format!("cannot run {}", tsc.display()))?;
        if !status.success() {
            bail!(
                "tsc found type errors ({status}); see its output above (the build stops before bundling, as a compiler would)"
            );
        }
    }
    Ok(())
}

/// Bundles the agent into one ES module next to `output`; returns its path.
fn bundle_ts(dir: &Path, entry: &str, output: &Path, bin: &Path) -> anyhow::Result<PathBuf> {
    // One ES module: the agent, the SDK and its other packages; the host's
    // interfaces (`relive:agent/...`) stay imports for componentize-js.
    let bundle = output.with_extension("bundle.js");
    let esbuild = bin.join("esbuild");
    let status = Command::new(&esbuild)
        .arg(dir.join(entry))
        .args([
            "--bundle",
            "--format=esm",
            "--platform=neutral",
            "--main-fields=module,main",
            "--target=es2022",
            "--external:relive:*",
            "--external:wasi:*",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", bundle.display()))
        .status()
        .with_context(|| format!("cannot run {}", esbuild.display()))?;
    if !status.success() {
        bail!(
            "esbuild could not bundle {} ({status}); see its output above (a package it cannot resolve is missing from node_modules: `npm install` it)",
            dir.join(entry).display()
        );
    }
    Ok(bundle)
}

/// Builds the component from the bundle with componentize-js.
fn componentize_ts(dir: &Path, bundle: &Path, output: &Path, bin: &Path) -> anyhow::Result<()> {
    let wit = scratch_dir("wit")?;
    std::fs::write(wit.join("agent.wit"), AGENT_WIT)?;
    let bundle_dir = bundle
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let componentize = bin.join("componentize-js");
    eprintln!(
        "relive: building {} with componentize-js (StarlingMonkey inside: this takes 10-20 s)",
        dir.display()
    );
    // Run from the bundle's folder: stack traces then name it `NAME.bundle.js`.
    let status = Command::new(&componentize)
        .current_dir(bundle_dir)
        .arg(bundle.file_name().unwrap_or_default())
        .arg("--wit")
        .arg(&wit)
        .args([
            "--world-name",
            AGENT_WORLD,
            "--disable",
            "http",
            "fetch-event",
        ])
        .arg("-o")
        .arg(std::path::absolute(output)?)
        .status();
    let _ = std::fs::remove_dir_all(&wit);
    let status = status.with_context(|| {
        format!(
            "cannot run {} (it needs Node.js 20 or later on PATH)",
            componentize.display()
        )
    })?;
    if !status.success() {
        bail!(
            "componentize-js failed ({status}); see its output above (an error thrown while the module's top level runs fails the build: top-level code runs at build time)"
        );
    }
    Ok(())
}

/// The `node_modules/.bin` nearest to `dir` (at or above it) that holds
/// componentize-js.
fn node_bin(dir: &Path) -> anyhow::Result<PathBuf> {
    let start = std::path::absolute(dir)?;
    start
        .ancestors()
        .map(|d| d.join("node_modules/.bin"))
        .find(|bin| bin.join("componentize-js").is_file())
        .ok_or_else(|| {
            anyhow!(
                "componentize-js not found in the node_modules of {} or of a folder above it; run `npm install` in the project (its package.json pins @bytecodealliance/componentize-js {COMPONENTIZE_JS_VERSION}, esbuild {ESBUILD_VERSION} and typescript {TYPESCRIPT_VERSION}; see `relive new NAME --lang ts`)",
                start.display()
            )
        })
}

fn warn_on_other_componentize_js(bin: &Path) {
    let Some(node_modules) = bin.parent() else {
        return;
    };
    let manifest = node_modules.join("@bytecodealliance/componentize-js/package.json");
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        return;
    };
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|p| p["version"].as_str().map(str::to_string))
        .unwrap_or_default();
    if version != COMPONENTIZE_JS_VERSION {
        eprintln!(
            "relive: warning: {} is componentize-js {version}; relive is tested with {COMPONENTIZE_JS_VERSION} (`npm install --save-exact @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}`)",
            node_modules.display()
        );
    }
}

fn build_rust(dir: &Path, output: Option<&Path>) -> anyhow::Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    let cargo_toml = read_toml(&manifest)?;
    let name = string_at(&cargo_toml, "package", "name").ok_or_else(|| {
        anyhow!(
            "{} has no `name` under [package]; is it a workspace? pass the agent crate's folder",
            manifest.display()
        )
    })?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "relive: building {} with cargo (wasm32-wasip2, release)",
        dir.display()
    );
    let out = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run cargo; install Rust with rustup")?;
    if !out.status.success() {
        bail!(
            "cargo build failed ({}); see its output above (a missing target is added with `rustup target add wasm32-wasip2`)",
            out.status
        );
    }
    let built = wasm_artifact(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| {
        anyhow!(
            "cargo built no .wasm for {name}; the crate needs `crate-type = [\"cdylib\"]` under [lib]"
        )
    })?;
    let output = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join(format!("{name}.wasm")));
    std::fs::copy(&built, &output)
        .with_context(|| format!("cannot copy {} to {}", built.display(), output.display()))?;
    Ok(output)
}

/// The `.wasm` file in cargo's JSON messages (the last one built).
fn wasm_artifact(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.as_str().map(PathBuf::from))
        })
        .rfind(|f| f.extension().is_some_and(|e| e == "wasm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wasm_file_is_found_in_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","filenames":["/t/libserde.rlib"]}
{"reason":"compiler-artifact","filenames":["/t/wasm32-wasip2/release/my_agent.wasm"]}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            wasm_artifact(messages),
            Some(PathBuf::from("/t/wasm32-wasip2/release/my_agent.wasm"))
        );
        assert_eq!(wasm_artifact("not json\n"), None);
    }

    #[test]
    fn tables_are_read_by_dotted_section() {
        let t: toml::Table = "[tool.relive]\nmodule = \"agent\"\n[project]\nname = \"x\""
            .parse()
            .unwrap();
        assert_eq!(string_at(&t, "tool.relive", "module"), Some("agent"));
        assert_eq!(string_at(&t, "project", "name"), Some("x"));
        assert_eq!(string_at(&t, "tool.other", "module"), None);
    }

    #[test]
    fn the_embedded_wit_has_the_agent_world() {
        assert!(AGENT_WIT.contains("package relive:agent@"));
        assert!(AGENT_WIT.contains(&format!("world {AGENT_WORLD} {{")));
    }
}
