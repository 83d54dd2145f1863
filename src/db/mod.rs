//! Storage: the connection pool, migrations, and the queries the app needs.
//!
//! Queries are plain synchronous diesel functions in the submodules, each taking a
//! connection. Async code reaches them only through [`Database::run`] (reads)
//! and [`Database::write`] (writes, one at a time), which take a pooled
//! connection and run the closure on actix's blocking thread pool, so SQLite
//! file I/O never blocks the async executor.
//!
//! This module owns sealing tokens at rest (`seal`): nothing outside it sees a
//! sealed blob, and nothing it returns holds a token in a printable form. It must
//! not know about HTTP, sessions or providers' protocols.

pub mod accounts;
pub mod attempts;
pub mod pending_sign_ins;
pub mod schema;
pub mod seal;
pub mod sessions;
pub mod sign_ins;
pub mod tokens;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use diesel::connection::SimpleConnection as _;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _, embed_migrations};

pub use seal::TokenSealer;

/// The connection type of the (so far only) backend.
pub type DbConnection = SqliteConnection;

type DbPool = Pool<ConnectionManager<DbConnection>>;

/// Connections in the pool: also the number of blocking threads the server
/// allows (`startup`), since a query cannot run without a connection.
pub const POOL_SIZE: u32 = 8;

/// Migrations compiled into the binary and applied at start-up.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Errors of the storage layer. Their text is for logs, never for pages.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("could not get a database connection")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("database query failed")]
    Query(#[from] diesel::result::Error),
    #[error("database worker was cancelled")]
    Blocking(#[from] actix_web::error::BlockingError),
    #[error("a sealed token could not be opened (wrong TOKEN_KEY or tampered row)")]
    Unseal,
    #[error("could not open the database: {0}")]
    Open(String),
}

/// The pool plus the key that seals tokens: everything a query needs.
#[derive(Clone)]
pub struct Database {
    pool: DbPool,
    sealer: TokenSealer,
    /// Held while a write runs (`Database::write`): one writer at a time.
    writer: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Database(<pool>)")
    }
}

/// SQLite settings applied to every pooled connection.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, connection: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        // busy_timeout first: it makes a connection wait for a lock instead of
        // failing, and switching to WAL itself takes a lock. WAL lets readers
        // proceed while one writer writes; SQLite ignores foreign keys unless
        // asked on each connection.
        connection
            .batch_execute(
                "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            )
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Database {
    /// Opens (creating if needed) the database, applies pending migrations and
    /// builds the pool. Called once at start-up.
    pub fn open(database_url: &str, sealer: TokenSealer) -> Result<Self, DbError> {
        let path = database_url
            .strip_prefix("sqlite://")
            .unwrap_or(database_url);
        // The folder and the file hold sealed tokens and session ids: created
        // readable by their owner only (an existing one keeps its permissions).
        if path != ":memory:" {
            let file = Path::new(path);
            if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                crate::private_files::create_dir_all(parent)
                    .map_err(|error| DbError::Open(format!("{}: {error}", parent.display())))?;
            }
            crate::private_files::create_file_if_missing(file)
                .map_err(|error| DbError::Open(format!("{}: {error}", file.display())))?;
        }
        let pool = Pool::builder()
            .max_size(POOL_SIZE)
            // Open connections as needed rather than eight at start-up.
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .connection_customizer(Box::new(SqlitePragmas))
            .build(ConnectionManager::<DbConnection>::new(path))
            .map_err(|error| DbError::Open(error.to_string()))?;
        let mut connection = pool.get()?;
        connection
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(|error| DbError::Open(format!("migrations failed: {error}")))?;
        Ok(Database {
            pool,
            sealer,
            writer: Arc::default(),
        })
    }

    /// Runs `query`, which only reads, with a pooled connection on the
    /// blocking thread pool. Reads run side by side (WAL mode).
    pub async fn run<T, F>(&self, query: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConnection, &TokenSealer) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let sealer = self.sealer.clone();
        actix_web::web::block(move || {
            let mut connection = pool.get()?;
            query(&mut connection, &sealer)
        })
        .await?
    }

    /// Runs `query`, which writes, like [`Database::run`], but one at a time.
    ///
    /// SQLite lets one connection write at a time. Without this lock, a second
    /// writer finds the database locked and SQLite's busy handler sleeps and
    /// retries (1, 2, 5, 10 ms…), which showed as the long tail of sign-in
    /// times in the benchmark; queued on a mutex, it starts the moment the first
    /// one commits.
    pub async fn write<T, F>(&self, query: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConnection, &TokenSealer) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let (pool, sealer, writer) = (self.pool.clone(), self.sealer.clone(), self.writer.clone());
        actix_web::web::block(move || {
            // The lock before the connection: a queued writer does not hold
            // one of the connections that readers need.
            let _one_writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
            let mut connection = pool.get()?;
            query(&mut connection, &sealer)
        })
        .await?
    }

    /// A trivial query, for the health check.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|connection, _| {
            connection.batch_execute("SELECT 1")?;
            Ok(())
        })
        .await
    }
}

/// Seconds since the Unix epoch, the unit of every time column.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A fresh, migrated in-memory database connection for unit tests.
    pub fn connection() -> DbConnection {
        use diesel::Connection as _;
        let mut connection = DbConnection::establish(":memory:").expect("in-memory SQLite opens");
        connection
            .batch_execute("PRAGMA foreign_keys = ON;")
            .expect("pragma");
        connection
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .expect("migrations apply");
        connection
    }

    /// A database whose pool never gets a connection (its file would be in
    /// a folder that does not exist) and gives up after 200 ms: the database
    /// down, as `/readyz` sees it.
    pub fn unreachable() -> Database {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("no-such-folder").join("app.db");
        let pool = Pool::builder()
            .max_size(1)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_millis(200))
            .build_unchecked(ConnectionManager::<DbConnection>::new(
                path.display().to_string(),
            ));
        Database {
            pool,
            sealer: sealer(),
            writer: Arc::default(),
        }
    }

    pub fn sealer() -> TokenSealer {
        TokenSealer::new(&[7u8; 32])
    }

    /// A demo-provider sign-in of `subject`, named Alice.
    pub fn demo_sign_in(subject: &str) -> accounts::SignInRecord {
        accounts::SignInRecord {
            provider: "demo".into(),
            issuer: "http://127.0.0.1:9000/demo".into(),
            subject: subject.into(),
            email: None,
            display_name: "Alice".into(),
        }
    }

    /// Runs eight 5 ms closures at once through `submit` and tells whether
    /// any two ran at the same time.
    async fn any_overlap<F, Fut>(submit: F) -> bool
    where
        F: Fn(Box<dyn FnOnce() + Send>) -> Fut,
        Fut: std::future::Future<Output = Result<(), DbError>>,
    {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let running = Arc::new(AtomicUsize::new(0));
        let overlapped = Arc::new(AtomicBool::new(false));
        let jobs = (0..8).map(|_| {
            let (running, overlapped) = (running.clone(), overlapped.clone());
            submit(Box::new(move || {
                if running.fetch_add(1, Ordering::SeqCst) > 0 {
                    overlapped.store(true, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
            }))
        });
        for result in futures_util::future::join_all(jobs).await {
            result.expect("job ran");
        }
        overlapped.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[actix_web::test]
    async fn writes_run_one_at_a_time_and_reads_side_by_side() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("test.db").display().to_string();
        let database = Database::open(&path, sealer()).expect("opens");
        let writes = any_overlap(|job| {
            database.write(move |_, _| {
                job();
                Ok(())
            })
        })
        .await;
        assert!(!writes, "two writes ran at once");
        let reads = any_overlap(|job| {
            database.run(move |_, _| {
                job();
                Ok(())
            })
        })
        .await;
        assert!(reads, "reads are not serialised (and this test can tell)");
    }

    #[cfg(unix)]
    #[test]
    fn the_data_folder_and_database_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |path: &std::path::Path| {
            std::fs::metadata(path)
                .expect("exists")
                .permissions()
                .mode()
                & 0o777
        };
        let root = tempfile::tempdir().expect("temp dir");
        let folder = root.path().join("data");
        let file = folder.join("app.db");
        let database = Database::open(&file.display().to_string(), sealer()).expect("opens");
        assert_eq!(mode(&folder), 0o700, "data folder");
        assert_eq!(mode(&file), 0o600, "database file");
        // SQLite gives the write-ahead log the database file's permissions.
        let wal = folder.join("app.db-wal");
        assert!(wal.exists(), "WAL mode is on");
        assert_eq!(mode(&wal), 0o600, "write-ahead log");
        drop(database);
    }

    #[test]
    fn migrations_run_up_down_and_up_again() {
        let mut connection = connection();
        connection
            .revert_all_migrations(SQLITE_MIGRATIONS)
            .expect("down.sql reverts cleanly");
        connection
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .expect("up.sql applies again");
    }
}
