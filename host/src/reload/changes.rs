//! Which pipeline folders a set of changed paths touches, and how.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use crate::config::PIPELINE_FILE;

/// What changed under one pipeline folder.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FolderChange {
    /// `pipeline.toml` was written, created or removed.
    pub pipeline_file: bool,
    /// `.wasm` files written, created or removed (directly in the folder).
    pub plugins: BTreeSet<PathBuf>,
    /// Anything else (the folder itself, other files): may mean the folder appeared or went.
    pub other: bool,
}

/// Groups changed `paths` by the pipeline folder they belong to: `root` itself when it holds a
/// `pipeline.toml` (`single`), else the direct subfolder of `root` they are in. Paths outside
/// `root`, and `root` itself, are ignored.
pub fn by_folder(
    root: &Path,
    single: bool,
    paths: impl IntoIterator<Item = PathBuf>,
) -> BTreeMap<PathBuf, FolderChange> {
    let mut folders: BTreeMap<PathBuf, FolderChange> = BTreeMap::new();
    for path in paths {
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        let parts: Vec<&std::ffi::OsStr> = relative
            .components()
            .filter_map(|c| match c {
                Component::Normal(part) => Some(part),
                _ => None,
            })
            .collect();
        let (folder, inside) = if single {
            (root.to_path_buf(), &parts[..])
        } else {
            match parts.split_first() {
                Some((first, rest)) => (root.join(first), rest),
                None => continue,
            }
        };
        let change = folders.entry(folder).or_default();
        match inside {
            [file] if *file == PIPELINE_FILE => change.pipeline_file = true,
            [file] if Path::new(file).extension().is_some_and(|e| e == "wasm") => {
                change.plugins.insert(path.clone());
            }
            _ => change.other = true,
        }
    }
    folders
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_group_by_the_pipeline_folder_they_are_in() {
        let root = Path::new("/p");
        let changes = by_folder(
            root,
            false,
            [
                "/p/posts/pipeline.toml",
                "/p/posts/validate.wasm",
                "/p/posts/validate.wasm",
                "/p/posts/notes.txt",
                "/p/orders",
                "/p/orders/tag.wasm.part",
                "/p/orders/sub/deep.wasm",
                "/elsewhere/x.wasm",
                "/p",
            ]
            .map(PathBuf::from),
        );
        assert_eq!(changes.len(), 2);
        let posts = &changes[Path::new("/p/posts")];
        assert!(posts.pipeline_file);
        assert_eq!(posts.plugins, BTreeSet::from([PathBuf::from("/p/posts/validate.wasm")]));
        assert!(posts.other);
        let orders = &changes[Path::new("/p/orders")];
        assert!(!orders.pipeline_file);
        assert!(
            orders.plugins.is_empty(),
            "a partial copy or a nested file is not a plugin of the folder"
        );
        assert!(orders.other);
    }

    #[test]
    fn a_single_pipeline_root_is_its_own_folder() {
        let changes = by_folder(
            Path::new("/p/posts"),
            true,
            ["/p/posts/pipeline.toml", "/p/posts/tag.wasm"].map(PathBuf::from),
        );
        let posts = &changes[Path::new("/p/posts")];
        assert!(posts.pipeline_file);
        assert_eq!(posts.plugins.len(), 1);
    }
}
