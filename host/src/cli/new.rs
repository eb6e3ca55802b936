//! `relive new NAME --lang LANG`: a new agent project from a template that
//! builds (`relive build`) and runs (`relive run NAME`) as it is.
//!
//! The templates live in `templates/<lang>/` at the repository root and are
//! compiled into the binary. Adding a language takes one [`Lang`] variant,
//! its template table in [`Lang::template`], its SDK folder in
//! [`Lang::sdk_in`], and in `build.rs` its project file in `detect` and its
//! builder.

use super::build::{
    COMPONENTIZE_JS_VERSION, COMPONENTIZE_PY_VERSION, ESBUILD_VERSION, PREVIEW2_SHIM_VERSION,
    TYPESCRIPT_VERSION,
};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// The languages relive can start an agent in.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// TypeScript or JavaScript, bundled by esbuild and built into a
    /// component by componentize-js.
    #[value(alias = "typescript", alias = "js", alias = "javascript")]
    Ts,
    /// Python, built into a component by componentize-py.
    #[value(alias = "py")]
    Python,
    /// Rust, built for wasm32-wasip2 by cargo.
    #[value(alias = "rs")]
    Rust,
}

impl Lang {
    /// Every file of the template: its path in the project, and its text
    /// with `{{name}}`, `{{sdk}}` and the pinned versions
    /// (`{{componentize_py}}`, `{{componentize_js}}`, ...) to fill in.
    fn template(self) -> &'static [(&'static str, &'static str)] {
        macro_rules! files {
            ($dir:literal: $($path:literal => $file:literal),* $(,)?) => {
                &[$(($path, include_str!(concat!("../../../templates/", $dir, "/", $file)))),*]
            };
        }
        match self {
            Lang::Ts => files!("ts":
                "src/app.ts" => "src/app.ts",
                "package.json" => "package.json",
                "tsconfig.json" => "tsconfig.json",
                "relive.toml" => "relive.toml",
                "script.json" => "script.json",
                "README.md" => "README.md",
                ".gitignore" => "gitignore",
            ),
            Lang::Python => files!("python":
                "app.py" => "app.py",
                "pyproject.toml" => "pyproject.toml",
                "requirements.txt" => "requirements.txt",
                "relive.toml" => "relive.toml",
                "script.json" => "script.json",
                "README.md" => "README.md",
                ".gitignore" => "gitignore",
            ),
            Lang::Rust => files!("rust":
                "Cargo.toml" => "Cargo.toml",
                "src/lib.rs" => "src/lib.rs",
                "relive.toml" => "relive.toml",
                "script.json" => "script.json",
                "README.md" => "README.md",
                ".gitignore" => "gitignore",
            ),
        }
    }

    /// The language's name, as `--lang` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Ts => "ts",
            Lang::Python => "python",
            Lang::Rust => "rust",
        }
    }

    /// Where this language's SDK is inside a relive checkout.
    fn sdk_in(self, checkout: &Path) -> PathBuf {
        match self {
            Lang::Ts => checkout.join("guest-sdk/ts"),
            Lang::Python => checkout.join("guest-sdk/python"),
            Lang::Rust => checkout.join("guest-sdk"),
        }
    }
}

/// Arguments of `relive new`.
#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// The agent's name: lowercase letters, digits, `-` and `_`, starting
    /// with a letter. The project is created in ./NAME.
    name: String,
    /// The language of the agent.
    #[arg(long, value_enum)]
    lang: Lang,
    /// Create the project here instead of ./NAME.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The relive checkout whose SDK the project uses [default: the one
    /// this binary was built from].
    #[arg(long, value_name = "DIR")]
    sdk: Option<PathBuf>,
}

/// The relive checkout this binary was built from.
fn built_from() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Runs `relive new`.
pub fn run(args: &NewArgs) -> anyhow::Result<u8> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!(
            "{} already exists and is not empty; choose another NAME, or --dir for an empty folder",
            dir.display()
        );
    }
    let checkout = args.sdk.clone().unwrap_or_else(built_from);
    let sdk = args.lang.sdk_in(&checkout);
    if !sdk.is_dir() {
        bail!(
            "the relive SDK for {} is not at {}; pass --sdk with the path of a relive checkout",
            args.lang.name(),
            sdk.display()
        );
    }
    let sdk = sdk.canonicalize()?;
    for (path, text) in args.lang.template() {
        let text = text
            .replace("{{name}}", &args.name)
            .replace("{{sdk}}", &sdk.display().to_string())
            .replace("{{componentize_py}}", COMPONENTIZE_PY_VERSION)
            .replace("{{componentize_js}}", COMPONENTIZE_JS_VERSION)
            .replace("{{esbuild}}", ESBUILD_VERSION)
            .replace("{{typescript}}", TYPESCRIPT_VERSION)
            .replace("{{preview2_shim}}", PREVIEW2_SHIM_VERSION);
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, text)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    eprintln!(
        "relive: created {} ({} agent `{}`); next: see {}",
        dir.display(),
        args.lang.name(),
        args.name,
        dir.join("README.md").display()
    );
    Ok(0)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(
            "`{name}` is not a valid agent name; use lowercase letters, digits, `-` and `_`, starting with a letter (e.g. `my-agent`)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["a", "my-agent", "agent_2"] {
            check_name(good).unwrap();
        }
        for bad in ["", "2agent", "My", "a b", "../x", "a.b"] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(err.contains("not a valid agent name"), "{err}");
        }
    }

    #[test]
    fn every_template_names_its_agent_and_has_a_config() {
        for lang in [Lang::Ts, Lang::Python, Lang::Rust] {
            let files = lang.template();
            assert!(files.iter().any(|(p, _)| *p == "relive.toml"), "{lang:?}");
            assert!(
                files
                    .iter()
                    .any(|(p, t)| *p == "relive.toml" && t.contains("[agents.{{name}}]")),
                "{lang:?}"
            );
        }
    }

    #[test]
    fn the_ts_template_pins_the_toolchain_of_the_repository() {
        // The repository's package.json installs the toolchain the e2e tests
        // build with; a new project must get the same versions.
        let root: serde_json::Value =
            serde_json::from_str(include_str!("../../../package.json")).unwrap();
        let pins = &root["devDependencies"];
        for (package, version) in [
            ("@bytecodealliance/componentize-js", COMPONENTIZE_JS_VERSION),
            ("esbuild", ESBUILD_VERSION),
            ("typescript", TYPESCRIPT_VERSION),
            ("@bytecodealliance/preview2-shim", PREVIEW2_SHIM_VERSION),
        ] {
            assert_eq!(pins[package], version, "{package} in package.json");
        }
        let (_, template) = Lang::Ts
            .template()
            .iter()
            .find(|(p, _)| *p == "package.json")
            .unwrap();
        for placeholder in [
            "{{componentize_js}}",
            "{{esbuild}}",
            "{{typescript}}",
            "{{preview2_shim}}",
            "file:{{sdk}}",
        ] {
            assert!(template.contains(placeholder), "{placeholder}");
        }
    }
}
