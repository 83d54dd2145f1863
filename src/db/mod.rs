//! Storage: the connection pool, migrations, and the queries the app needs,
//! on SQLite (the zero-setup default) or PostgreSQL (several instances; the
//! `postgres` feature).
//!
//! Queries are plain synchronous diesel functions in the submodules, each taking a
//! connection. Async code reaches them only through [`Database::run`] (reads)
//! and [`Database::write`] (writes), which take a pooled connection and run
//! the closure on actix's blocking thread pool, so database I/O never blocks
//! the async executor.
//!
//! Both backends share one schema (`schema.rs`, portable types) and one query
//! code: [`DbConnection`] is diesel's `MultiConnection` over both, so a query
//! written once runs on either. The few statements that differ by backend
//! (the upsert, the immediate transaction, the migration lock) are here and
//! in `tokens.rs` only, through `each_backend!`. Every transaction is
//! opened in this module's submodules, never by a caller.
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
use diesel::r2d2::{CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _, embed_migrations};

use crate::config::DatabaseBackend;
pub use seal::TokenSealer;

/// A connection to either backend. Queries take `&mut DbConnection` and are
/// written once; diesel checks each against both backends at compile time.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(diesel::pg::PgConnection),
}

/// Runs `$body` with `$connection` rebound to the backend's own connection
/// type, once per backend: for the statements `DbConnection` cannot express
/// for both at once (diesel's `MultiConnection` has no `ON CONFLICT`), while
/// the statement is still written only once.
macro_rules! each_backend {
    ($connection:ident => $body:expr) => {
        match $connection {
            $crate::db::DbConnection::Sqlite($connection) => $body,
            #[cfg(feature = "postgres")]
            $crate::db::DbConnection::Postgres($connection) => $body,
        }
    };
}
pub(crate) use each_backend;

/// `DELETE FROM $table WHERE $filter` (`$key` is the primary key, of
/// Rust type `$key_type`), for pruning: the rows a bound drops
/// (the oldest, the expired, those beyond a per-browser count), which any
/// concurrent sign-in may be dropping at the same moment.
///
/// On PostgreSQL, several transactions prune side by side (SQLite has one
/// writer at a time). A plain `DELETE` locks the rows it matches one by one
/// and waits for any that another transaction holds; two of them matching
/// overlapping rows in different orders wait for each other, and
/// PostgreSQL ends one with "deadlock detected" (the flood test met it:
/// concurrent prunes of `sign_in_attempts` by id range). So there a prune
/// first claims its rows with `SELECT $key … WHERE $filter FOR UPDATE SKIP
/// LOCKED` (PostgreSQL docs, "The Locking Clause"), then deletes those,
/// and only if there are any: it never waits, so it never deadlocks. A row
/// it skips is being deleted by the transaction that holds it, or is
/// dropped by the next prune. (Two statements, not one with a subquery:
/// diesel does not build a subquery on the table being deleted from.) On
/// SQLite it is the plain `DELETE`.
macro_rules! delete_unclaimed {
    ($connection:ident, $table:expr, $key:expr => $key_type:ty, $filter:expr) => {
        match $connection {
            $crate::db::DbConnection::Sqlite(connection) => {
                diesel::delete($table.filter($filter)).execute(connection)
            }
            #[cfg(feature = "postgres")]
            $crate::db::DbConnection::Postgres(connection) => {
                let claimed: Vec<$key_type> = $table
                    .select($key)
                    .filter($filter)
                    .for_update()
                    .skip_locked()
                    .load(connection)?;
                if claimed.is_empty() {
                    Ok(0)
                } else {
                    diesel::delete($table.filter($key.eq_any(claimed))).execute(connection)
                }
            }
        }
    };
}
pub(crate) use delete_unclaimed;

type DbPool = Pool<ConnectionManager>;

/// Migrations compiled into the binary and applied at start-up, one folder
/// per backend with the same migration names (a test compares the schemas).
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
#[cfg(feature = "postgres")]
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

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

impl DbError {
    /// The database cannot be reached right now (no connection within the
    /// pool's 5 s, the connection dropped mid-query, or SQLite's write lock
    /// still held by another process when its 5 s busy timeout ran out), as
    /// opposed to a query that failed: pages say so with a 503, and the next
    /// request tries again by itself.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            DbError::Pool(_)
            | DbError::Query(
                Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
                | Error::BrokenTransactionManager,
            ) => true,
            // SQLITE_BUSY, as SQLite words it (sqlite3_errstr).
            DbError::Query(Error::DatabaseError(_, info)) => {
                info.message().starts_with("database is locked")
            }
            _ => false,
        }
    }

    /// A unique key was already taken: another transaction (on another
    /// instance) created the same row first.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// The pool plus the key that seals tokens: everything a query needs.
#[derive(Clone)]
pub struct Database {
    pool: DbPool,
    sealer: TokenSealer,
    /// SQLite only: held while a write runs (`Database::write`), one writer
    /// at a time. PostgreSQL takes row locks instead.
    writer: Option<Arc<Mutex<()>>>,
    backend: &'static str,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Database({}, <pool>)", self.backend)
    }
}

/// Opens connections of the backend DATABASE_URL named, and only that one:
/// diesel's own `MultiConnection::establish` tries each backend in turn, and
/// SQLite accepts any string as a file name.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    backend: DatabaseBackend,
}

impl ConnectionManager {
    pub fn new(backend: DatabaseBackend) -> Self {
        ConnectionManager { backend }
    }

    /// One new connection, outside any pool (tests, tools).
    pub fn connect(&self) -> diesel::ConnectionResult<DbConnection> {
        use diesel::Connection as _;
        match &self.backend {
            DatabaseBackend::Sqlite { path } => {
                SqliteConnection::establish(path).map(DbConnection::Sqlite)
            }
            #[cfg(feature = "postgres")]
            DatabaseBackend::Postgres { url } => {
                use secrecy::ExposeSecret as _;
                diesel::pg::PgConnection::establish(url.expose_secret()).map(DbConnection::Postgres)
            }
            #[cfg(not(feature = "postgres"))]
            DatabaseBackend::Postgres { .. } => Err(diesel::ConnectionError::BadConnection(
                "this build has no PostgreSQL support (the `postgres` feature)".into(),
            )),
        }
    }
}

impl diesel::r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        ConnectionManager::connect(self).map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, connection: &mut DbConnection) -> Result<(), Self::Error> {
        use diesel::r2d2::R2D2Connection as _;
        connection.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, connection: &mut DbConnection) -> bool {
        use diesel::r2d2::R2D2Connection as _;
        connection.is_broken()
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
        #[cfg_attr(
            not(feature = "postgres"),
            allow(irrefutable_let_patterns, reason = "one backend in this build")
        )]
        if let DbConnection::Sqlite(connection) = connection {
            connection
                .batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Applies the backend's pending migrations.
///
/// PostgreSQL: under a session-level advisory lock, so that instances
/// starting together apply each migration once; the others wait, then find
/// nothing pending. (SQLite is one process's file: nothing to race.)
pub fn run_migrations(connection: &mut DbConnection) -> Result<(), DbError> {
    let failed = |error: Box<dyn std::error::Error + Send + Sync>| {
        DbError::Open(format!("migrations failed: {error}"))
    };
    match connection {
        DbConnection::Sqlite(connection) => {
            connection
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(failed)?;
        }
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(connection) => {
            // Any number every instance agrees on names the lock.
            const LOCK_KEY: i64 = 7310593220110;
            connection.batch_execute(&format!("SELECT pg_advisory_lock({LOCK_KEY})"))?;
            let applied = connection
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(drop)
                .map_err(failed);
            connection.batch_execute(&format!("SELECT pg_advisory_unlock({LOCK_KEY})"))?;
            applied?;
        }
    }
    Ok(())
}

/// Runs `body` in a transaction that is meant to write. On SQLite it is
/// `BEGIN IMMEDIATE`, which takes the write lock at the start instead of
/// upgrading a read lock halfway, where two writers would deadlock and one
/// fail with SQLITE_BUSY; on PostgreSQL a plain `BEGIN` (rows are locked as
/// they are written). Transactions inside `body` become savepoints.
pub fn write_transaction<T>(
    connection: &mut DbConnection,
    body: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager as _};
    match connection {
        DbConnection::Sqlite(connection) => {
            AnsiTransactionManager::begin_transaction_sql(&mut *connection, "BEGIN IMMEDIATE")?;
        }
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(connection) => {
            AnsiTransactionManager::begin_transaction(&mut *connection)?;
        }
    }
    let result = body(connection);
    let end = match (&result, &mut *connection) {
        (Ok(_), DbConnection::Sqlite(connection)) => {
            AnsiTransactionManager::commit_transaction(connection)
        }
        (Err(_), DbConnection::Sqlite(connection)) => {
            AnsiTransactionManager::rollback_transaction(connection)
        }
        #[cfg(feature = "postgres")]
        (Ok(_), DbConnection::Postgres(connection)) => {
            AnsiTransactionManager::commit_transaction(connection)
        }
        #[cfg(feature = "postgres")]
        (Err(_), DbConnection::Postgres(connection)) => {
            AnsiTransactionManager::rollback_transaction(connection)
        }
    };
    let value = result?;
    end?;
    Ok(value)
}

impl Database {
    /// Opens (creating if needed) the database, applies pending migrations and
    /// builds the pool of `pool_size` connections. Called once at start-up.
    pub fn open(
        backend: &DatabaseBackend,
        pool_size: u32,
        sealer: TokenSealer,
    ) -> Result<Self, DbError> {
        let builder = Pool::builder()
            .max_size(pool_size)
            // Open connections as needed rather than all at start-up.
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5));
        let (builder, writer) = match backend {
            DatabaseBackend::Sqlite { path } => {
                create_private_file(path)?;
                (
                    builder.connection_customizer(Box::new(SqlitePragmas)),
                    Some(Arc::default()),
                )
            }
            DatabaseBackend::Postgres { .. } => (builder, None),
        };
        let pool = builder
            .build(ConnectionManager::new(backend.clone()))
            .map_err(|error| DbError::Open(error.to_string()))?;
        run_migrations(&mut *pool.get()?)?;
        Ok(Database {
            pool,
            sealer,
            writer,
            backend: backend.name(),
        })
    }

    /// Whether TOKEN_KEY_PREVIOUS is set: a key rotation is under way
    /// (`key_rotation`).
    pub fn is_rotating_keys(&self) -> bool {
        self.sealer.is_rotating()
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

    /// Runs `query`, which writes, like [`Database::run`]; on SQLite one at a
    /// time.
    ///
    /// SQLite lets one connection write at a time. Without this lock, a second
    /// writer finds the database locked and SQLite's busy handler sleeps and
    /// retries (1, 2, 5, 10 ms…), which showed as the long tail of sign-in
    /// times in the benchmark; queued on a mutex, it starts the moment the first
    /// one commits. PostgreSQL writes side by side.
    pub async fn write<T, F>(&self, query: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConnection, &TokenSealer) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let (pool, sealer, writer) = (self.pool.clone(), self.sealer.clone(), self.writer.clone());
        actix_web::web::block(move || {
            // The lock before the connection: a queued writer does not hold
            // one of the connections that readers need.
            let _one_writer = writer
                .as_ref()
                .map(|writer| writer.lock().unwrap_or_else(PoisonError::into_inner));
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

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }
}

/// The SQLite file and its folder hold sealed tokens and session ids: created
/// readable by their owner only (an existing one keeps its permissions).
fn create_private_file(path: &str) -> Result<(), DbError> {
    if path == ":memory:" {
        return Ok(());
    }
    let file = Path::new(path);
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::private_files::create_dir_all(parent)
            .map_err(|error| DbError::Open(format!("{}: {error}", parent.display())))?;
    }
    crate::private_files::create_file_if_missing(file)
        .map_err(|error| DbError::Open(format!("{}: {error}", file.display())))
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
        let mut connection = ConnectionManager::new(DatabaseBackend::Sqlite {
            path: ":memory:".into(),
        })
        .connect()
        .expect("in-memory SQLite opens");
        connection
            .batch_execute("PRAGMA foreign_keys = ON;")
            .expect("pragma");
        run_migrations(&mut connection).expect("migrations apply");
        connection
    }

    /// The SQLite connection inside a unit test's [`connection`].
    pub fn sqlite(connection: &mut DbConnection) -> &mut SqliteConnection {
        match connection {
            DbConnection::Sqlite(connection) => connection,
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(_) => unreachable!("unit tests use SQLite"),
        }
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
            .build_unchecked(ConnectionManager::new(DatabaseBackend::Sqlite {
                path: path.display().to_string(),
            }));
        Database {
            pool,
            sealer: sealer(),
            writer: Some(Arc::default()),
            backend: "sqlite",
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
        let database =
            Database::open(&DatabaseBackend::Sqlite { path }, 8, sealer()).expect("opens");
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
        let backend = DatabaseBackend::Sqlite {
            path: file.display().to_string(),
        };
        let database = Database::open(&backend, 8, sealer()).expect("opens");
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
        let connection = sqlite(&mut connection);
        connection
            .revert_all_migrations(SQLITE_MIGRATIONS)
            .expect("down.sql reverts cleanly");
        connection
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .expect("up.sql applies again");
    }
}
