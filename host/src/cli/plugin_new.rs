//! `weir plugin new NAME --lang rust|python|js`: a working plugin skeleton in `NAME/`, with its
//! build file (Cargo.toml, pyproject.toml or package.json), its code and a sample input, ready
//! for `scripts/build-plugin.sh NAME` and `weir plugin test`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// A plugin's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// Which world of wit/weir-plugin.wit the plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum World {
    Transform,
    Aggregate,
}

impl World {
    fn name(self) -> &'static str {
        match self {
            World::Transform => "transform",
            World::Aggregate => "aggregate",
        }
    }
}

/// What to write.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    pub name: String,
    pub lang: Lang,
    pub world: World,
    /// The folder to create `NAME/` in.
    pub parent: PathBuf,
    /// The Rust SDK (plugins/sdk); found from the current folder or the build's source when None.
    pub sdk: Option<PathBuf>,
}

const SAMPLE: &str = include_str!("../../templates/plugin/sample.jsonl");

/// The files of a skeleton: (path in the plugin folder, template).
fn templates(lang: Lang, world: World) -> Vec<(&'static str, &'static str)> {
    let code = match (lang, world) {
        (Lang::Rust, World::Transform) => include_str!("../../templates/plugin/rust/transform.rs"),
        (Lang::Rust, World::Aggregate) => include_str!("../../templates/plugin/rust/aggregate.rs"),
        (Lang::Python, World::Transform) => include_str!("../../templates/plugin/python/transform.py"),
        (Lang::Python, World::Aggregate) => include_str!("../../templates/plugin/python/aggregate.py"),
        (Lang::Js, World::Transform) => include_str!("../../templates/plugin/js/transform.js"),
        (Lang::Js, World::Aggregate) => include_str!("../../templates/plugin/js/aggregate.js"),
    };
    match lang {
        Lang::Rust => vec![
            ("Cargo.toml", include_str!("../../templates/plugin/rust/Cargo.toml")),
            ("src/lib.rs", code),
        ],
        Lang::Python => vec![
            (
                "pyproject.toml",
                include_str!("../../templates/plugin/python/pyproject.toml"),
            ),
            ("plugin.py", code),
        ],
        Lang::Js => vec![
            ("package.json", include_str!("../../templates/plugin/js/package.json")),
            ("plugin.js", code),
        ],
    }
}

/// Writes the skeleton; returns its folder. Refuses a bad name or a folder that exists.
pub fn run(new: &NewPlugin) -> anyhow::Result<PathBuf> {
    check_name(&new.name)?;
    let dir = new.parent.join(&new.name);
    if dir.exists() {
        bail!("{} exists already: choose another name or remove it", dir.display());
    }
    let sdk = match new.lang {
        Lang::Rust => rust_sdk(new.sdk.as_deref())?.display().to_string(),
        _ => String::new(),
    };
    let fill = |template: &str| {
        template
            .replace("{{name}}", &new.name)
            .replace("{{file}}", &new.name.replace('-', "_"))
            .replace("{{world}}", new.world.name())
            .replace("{{sdk}}", &sdk)
    };
    for (path, template) in templates(new.lang, new.world) {
        write(&dir.join(path), &fill(template))?;
    }
    write(&dir.join("sample.jsonl"), SAMPLE)?;
    Ok(dir)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// A plugin name is a package name in all three languages: lowercase letters, digits and dashes,
/// starting with a letter.
fn check_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        bail!("plugin name `{name}`: use lowercase letters, digits and dashes, starting with a letter");
    }
    Ok(())
}

/// The Rust SDK: the one given, else plugins/sdk of a Weir checkout above the current folder,
/// else the one this binary was built from.
fn rust_sdk(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let is_sdk = |dir: &Path| dir.join("Cargo.toml").is_file() && dir.join("src/lib.rs").is_file();
    if let Some(dir) = given {
        if !is_sdk(dir) {
            bail!("{} is not the Weir Rust SDK (plugins/sdk)", dir.display());
        }
        return Ok(std::path::absolute(dir)?);
    }
    let cwd = std::env::current_dir()?;
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    cwd.ancestors()
        .chain(std::iter::once(built_from.as_path()))
        .map(|root| root.join("plugins/sdk"))
        .find(|dir| is_sdk(dir))
        .map(|dir| std::path::absolute(dir).map_err(Into::into))
        .unwrap_or_else(|| bail!("cannot find the Weir Rust SDK: pass --sdk <weir checkout>/plugins/sdk"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_package_names() {
        for good in ["enrich", "geo-lookup2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Enrich", "2x", "a_b", "a b", "../x"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_each_language_and_world_and_refuses_an_existing_folder() {
        let parent = tempfile::tempdir().unwrap();
        let langs = [
            (Lang::Rust, "src/lib.rs"),
            (Lang::Python, "plugin.py"),
            (Lang::Js, "plugin.js"),
        ];
        for (i, (lang, file)) in langs.into_iter().enumerate() {
            for world in [World::Transform, World::Aggregate] {
                let name = format!("p-{i}-{}", world.name());
                let new = NewPlugin {
                    name: name.clone(),
                    lang,
                    world,
                    parent: parent.path().to_path_buf(),
                    sdk: None,
                };
                let dir = run(&new).unwrap();
                let code = std::fs::read_to_string(dir.join(file)).unwrap();
                assert!(code.contains(&name) && !code.contains("{{"), "{code}");
                assert!(dir.join("sample.jsonl").is_file());
                assert!(run(&new).unwrap_err().to_string().contains("exists already"));
            }
        }
        let manifest = std::fs::read_to_string(parent.path().join("p-0-transform/Cargo.toml")).unwrap();
        assert!(manifest.contains("plugins/sdk\" }"), "{manifest}");
    }
}
