use std::path::{Path, PathBuf};

/// A fresh directory under the system's temporary directory, removed with everything in it when
/// dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<tmp>/mtx-test-<uuid>`.
    ///
    /// # Panics
    /// When the directory cannot be created: no test can run without it.
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("mtx-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory in /tmp must not turn a passing test into a panic.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
