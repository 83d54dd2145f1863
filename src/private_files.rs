//! Folders and files that only their owner can read: the data folder (0700),
//! the SQLite database and the generated development keys (0600), on unix.
//! They hold sealed tokens, session ids and keys; on a shared machine they
//! are nobody else's business.
//!
//! Only what these functions create gets these modes: a folder or file that
//! already exists keeps the permissions its owner gave it. On other systems
//! the files are created with the platform's defaults.
//!
//! What it must not do: read or write what the files contain beyond creating
//! them (`config` writes the keys, `db` lets SQLite fill the database).

use std::io::Write as _;
use std::path::Path;

/// Creates `dir` and any missing parents, each readable by the owner only.
pub fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates `path` (which must not exist yet) readable by the owner only,
/// holding `contents`.
pub fn write_new_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}

/// Creates an empty `path` readable by the owner only, unless it exists.
/// SQLite then opens it as a new database, and gives its `-wal` and `-shm`
/// files the same permissions (os_unix.c, `findCreateFileMode`).
pub fn create_file_if_missing(path: &Path) -> std::io::Result<()> {
    match write_new_file(path, b"") {
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn created_folders_and_files_are_the_owners_only() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("data/inner");
        create_dir_all(&dir).expect("folders");
        assert_eq!(mode(&root.path().join("data")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("key");
        write_new_file(&file, b"secret").expect("file");
        assert_eq!(mode(&file), 0o600);
        let database = dir.join("app.db");
        create_file_if_missing(&database).expect("created");
        create_file_if_missing(&database).expect("already there is fine");
        assert_eq!(mode(&database), 0o600);
    }
}
