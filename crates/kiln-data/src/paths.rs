//! Where the bundled data folder (`data/` at the workspace root) is.

use std::path::PathBuf;

/// The environment variable that overrides [`data_dir`].
pub const DATA_DIR_ENV: &str = "KILN_DATA_DIR";

/// The data folder: `$KILN_DATA_DIR` when set and non-empty, otherwise the
/// workspace's `data/` folder (found from this crate's `CARGO_MANIFEST_DIR`
/// at compile time). Datasets live in sub-folders (`mnist/`, `iris/`).
pub fn data_dir() -> PathBuf {
    resolve(std::env::var_os(DATA_DIR_ENV))
}

/// The data folder given the value of `$KILN_DATA_DIR`.
fn resolve(env: Option<std::ffi::OsString>) -> PathBuf {
    match env {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => bundled_data_dir(),
    }
}

/// The workspace's `data/` folder, ignoring `$KILN_DATA_DIR`.
pub fn bundled_data_dir() -> PathBuf {
    // crates/kiln-data -> workspace root.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_dir_holds_the_datasets() {
        let dir = bundled_data_dir();
        assert!(dir.join("mnist").is_dir(), "{}", dir.display());
        assert!(dir.join("iris").is_dir(), "{}", dir.display());
    }

    #[test]
    fn env_var_overrides_when_set() {
        assert_eq!(resolve(Some("/x/y".into())), PathBuf::from("/x/y"));
        assert_eq!(resolve(Some("".into())), bundled_data_dir());
        assert_eq!(resolve(None), bundled_data_dir());
    }
}
