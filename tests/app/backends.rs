//! The two database backends: the same schema on both, and what only
//! PostgreSQL's concurrency can show. The rest of the suite runs on whichever
//! backend TEST_DATABASE_URL selects (`helpers::TestDatabase`); `.ci/run`
//! runs it on both.

use crate::helpers::TestDatabase;

/// Whether this run has PostgreSQL; says clearly why not when it has not.
pub(crate) fn postgres_or_skip(test: &str) -> bool {
    if TestDatabase::backend() == "postgres" {
        return true;
    }
    eprintln!(
        "SKIPPED {test}: TEST_DATABASE_URL is not set, so this run uses SQLite only. \
         Set it to a PostgreSQL server (postgres://postgres@127.0.0.1:5432/test) and run \
         `cargo test --features postgres`; .ci/run does."
    );
    false
}

#[test]
fn the_suite_says_which_backend_it_runs_on() {
    // Not a check: the line a reader of the test log looks for.
    eprintln!("database backend for this run: {}", TestDatabase::backend());
    postgres_or_skip("the PostgreSQL run of the suite");
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::collections::BTreeMap;

    use diesel::prelude::*;
    use diesel::sql_types::{Bool, Text};
    use signin_reference::config::DatabaseBackend;
    use signin_reference::db::{ConnectionManager, DbConnection, run_migrations};

    use super::{TestDatabase, postgres_or_skip};

    fn migrated(url: &str) -> DbConnection {
        let backend = DatabaseBackend::parse(url).expect("database URL");
        let mut connection = ConnectionManager::new(backend).connect().expect("connects");
        run_migrations(&mut connection).expect("migrations apply");
        connection
    }

    #[derive(QueryableByName, Debug)]
    struct Column {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        column_name: String,
        #[diesel(sql_type = Text)]
        column_type: String,
        #[diesel(sql_type = Bool)]
        not_null: bool,
    }

    #[derive(QueryableByName, Debug)]
    struct Index {
        #[diesel(sql_type = Text)]
        table_name: String,
        /// The index's columns, comma-separated, in order.
        #[diesel(sql_type = Text)]
        columns: String,
        #[diesel(sql_type = Bool)]
        is_unique: bool,
    }

    /// `SELECT COUNT(*) FROM {rows}`.
    fn count(connection: &mut DbConnection, rows: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {rows}"))
            .get_result::<Count>(connection)
            .expect("count")
            .n
    }

    /// table → column → (portable type, NOT NULL)
    type Columns = BTreeMap<String, BTreeMap<String, (String, bool)>>;

    fn portable(column_type: &str) -> String {
        match column_type.to_ascii_lowercase().as_str() {
            "integer" | "bigint" => "integer".into(),
            "text" => "text".into(),
            "blob" | "bytea" => "binary".into(),
            other => other.into(),
        }
    }

    fn by_table(columns: Vec<Column>) -> Columns {
        let mut tables = Columns::new();
        for column in columns {
            tables.entry(column.table_name).or_default().insert(
                column.column_name,
                (portable(&column.column_type), column.not_null),
            );
        }
        tables
    }

    fn indexes(rows: Vec<Index>) -> Vec<(String, String, bool)> {
        let mut indexes: Vec<_> = rows
            .into_iter()
            .map(|index| (index.table_name, index.columns, index.is_unique))
            .collect();
        indexes.sort();
        indexes
    }

    #[test]
    fn both_backends_migrate_to_the_same_schema_table_by_table() {
        if !postgres_or_skip("the schema comparison") {
            return;
        }
        let postgres = TestDatabase::new();
        let mut postgres = migrated(&postgres.url);
        let mut sqlite = migrated(":memory:");

        // SQLite: a primary key column is NOT NULL whatever its declaration says
        // (an INTEGER PRIMARY KEY is the rowid).
        let sqlite_columns: Vec<Column> = diesel::sql_query(
            "SELECT m.name AS table_name, c.name AS column_name, c.type AS column_type, \
                    (c.\"notnull\" = 1 OR c.pk > 0) AS not_null \
             FROM sqlite_master m JOIN pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
               AND m.name <> '__diesel_schema_migrations'",
        )
        .load(&mut sqlite)
        .expect("SQLite columns");
        let postgres_columns: Vec<Column> = diesel::sql_query(
            "SELECT table_name::text, column_name::text, data_type::text AS column_type, \
                    (is_nullable = 'NO') AS not_null \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
        )
        .load(&mut postgres)
        .expect("PostgreSQL columns");
        let (sqlite_tables, postgres_tables) =
            (by_table(sqlite_columns), by_table(postgres_columns));
        assert_eq!(sqlite_tables.len(), 6, "{sqlite_tables:#?}");
        for (table, columns) in &sqlite_tables {
            assert_eq!(
                Some(columns),
                postgres_tables.get(table),
                "table {table} differs between migrations/sqlite and migrations/postgres"
            );
        }
        assert_eq!(
            sqlite_tables.keys().collect::<Vec<_>>(),
            postgres_tables.keys().collect::<Vec<_>>()
        );

        // Every index, unique constraints included (the (issuer, subject) key
        // that makes concurrent first sign-ins create one user), by table and
        // columns: the backends name constraint indexes differently.
        let sqlite_indexes: Vec<Index> = diesel::sql_query(
            "SELECT m.name AS table_name, \
                    (SELECT group_concat(name, ',') FROM \
                        (SELECT name FROM pragma_index_info(l.name) ORDER BY seqno)) AS columns, \
                    (l.\"unique\" = 1) AS is_unique \
             FROM sqlite_master m JOIN pragma_index_list(m.name) l \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
               AND m.name <> '__diesel_schema_migrations' AND l.origin <> 'pk'",
        )
        .load(&mut sqlite)
        .expect("SQLite indexes");
        let postgres_indexes: Vec<Index> = diesel::sql_query(
            "SELECT t.relname::text AS table_name, \
                    string_agg(a.attname::text, ',' ORDER BY k.ordinality) AS columns, \
                    i.indisunique AS is_unique \
             FROM pg_index i \
             JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ordinality) \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
             WHERE n.nspname = 'public' AND NOT i.indisprimary \
               AND t.relname <> '__diesel_schema_migrations' \
             GROUP BY t.relname, i.indexrelid, i.indisunique",
        )
        .load(&mut postgres)
        .expect("PostgreSQL indexes");
        let sqlite_indexes = indexes(sqlite_indexes);
        assert!(
            sqlite_indexes.contains(&("identities".into(), "issuer,subject".into(), true)),
            "{sqlite_indexes:#?}"
        );
        assert_eq!(sqlite_indexes, indexes(postgres_indexes));
    }

    #[test]
    fn migrations_run_up_down_and_up_again_on_postgres() {
        use diesel_migrations::MigrationHarness as _;
        if !postgres_or_skip("the PostgreSQL down migrations") {
            return;
        }
        let database = TestDatabase::new();
        let mut connection = diesel::PgConnection::establish(&database.url).expect("connects");
        use signin_reference::db::POSTGRES_MIGRATIONS as MIGRATIONS;
        connection.run_pending_migrations(MIGRATIONS).expect("up");
        connection
            .revert_all_migrations(MIGRATIONS)
            .expect("down.sql reverts cleanly");
        connection
            .run_pending_migrations(MIGRATIONS)
            .expect("up.sql applies again");
    }

    #[test]
    fn instances_starting_together_apply_the_migrations_once() {
        if !postgres_or_skip("concurrent migrations") {
            return;
        }
        let database = TestDatabase::new();
        // Without the advisory lock, two of these race to CREATE TABLE users
        // and one fails ("relation already exists", or a duplicate key in
        // diesel's own migrations table).
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let url = database.url.clone();
                std::thread::spawn(move || {
                    let backend = DatabaseBackend::parse(&url).expect("URL");
                    let mut connection =
                        ConnectionManager::new(backend).connect().expect("connects");
                    run_migrations(&mut connection)
                })
            })
            .collect();
        for thread in threads {
            thread
                .join()
                .expect("no panic")
                .expect("migrations applied or found applied");
        }
    }

    #[test]
    fn the_first_sign_in_of_one_person_on_two_instances_at_once_creates_one_user() {
        use diesel::connection::SimpleConnection as _;
        use signin_reference::db::accounts::SignInRecord;
        use signin_reference::db::sessions::SessionLimits;
        use signin_reference::db::tokens::ProviderTokens;
        use signin_reference::db::{TokenSealer, sign_ins};
        if !postgres_or_skip("concurrent first sign-ins") {
            return;
        }
        let database = TestDatabase::new();
        let mut first = migrated(&database.url);
        let mut second = migrated(&database.url);
        let record = SignInRecord {
            provider: "demo".into(),
            issuer: "http://127.0.0.1:9000/demo".into(),
            subject: "sub-new".into(),
            email: None,
            display_name: "New".into(),
        };
        // Instance A is halfway through the same person's first sign-in: it
        // has created the user and identity and not committed yet.
        first
            .batch_execute(
                "BEGIN; \
                 INSERT INTO users (display_name, created_at, last_sign_in_at) VALUES ('New', 0, 0); \
                 INSERT INTO identities (user_id, provider, issuer, subject, display_name, created_at, last_sign_in_at) \
                 SELECT currval('users_id_seq'), 'demo', 'http://127.0.0.1:9000/demo', 'sub-new', 'New', 0, 0;",
            )
            .expect("A's transaction so far");
        // Instance B completes the sign-in meanwhile: it finds no identity
        // (A's is not committed), and its INSERT waits on A's unique key.
        let b = std::thread::spawn(move || {
            let tokens = ProviderTokens {
                access_token: "access".to_owned().into(),
                refresh_token: None,
                id_token: None,
                access_token_expires_at: None,
                scopes: vec!["openid".into()],
            };
            sign_ins::complete(
                &mut second,
                &TokenSealer::new(&[7; 32]),
                &sign_ins::Completed {
                    record: &record,
                    tokens: &tokens,
                    state_hash: "state",
                    journal: Some("[]"),
                    session_id_hash: "session",
                    replaced_session_hash: None,
                    session_limits: SessionLimits {
                        idle_timeout_secs: 1800,
                        max_age_secs: 28_800,
                    },
                    browser: None,
                },
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        first.batch_execute("COMMIT").expect("A commits");
        let ids = b
            .join()
            .expect("no panic")
            .expect("B's sign-in succeeds once A's identity is there, not a 500");

        assert_eq!(count(&mut first, "users"), 1, "one user, not two");
        assert_eq!(count(&mut first, "identities"), 1);
        let a_user: i64 = signin_reference::db::schema::users::table
            .select(signin_reference::db::schema::users::id)
            .get_result(&mut first)
            .expect("A's user");
        assert_eq!(ids.user_id, a_user, "B signed in as the user A created");
    }

    /// One person signed in twice (sessions `s1`, `s2`) with two
    /// identities (`a`, `b`) and tokens for `a`: (user, a, b).
    fn person_with_two_sessions_and_identities(connection: &mut DbConnection) -> (i64, i64, i64) {
        use signin_reference::db::TokenSealer;
        use signin_reference::db::accounts::{self, SignInRecord};
        use signin_reference::db::sessions::{self, SessionLimits};
        use signin_reference::db::tokens::{self, ProviderTokens};
        let record = |subject: &str| SignInRecord {
            provider: "demo".into(),
            issuer: "http://127.0.0.1:9000/demo".into(),
            subject: subject.into(),
            email: None,
            display_name: subject.into(),
        };
        let a = accounts::record_sign_in(connection, &record("a")).expect("a");
        let b = accounts::attach_identity(connection, a.user_id, &record("b")).expect("b");
        let b = match b {
            accounts::Attached::Linked { identity_id } => identity_id,
            other => panic!("{other:?}"),
        };
        let tokens = ProviderTokens {
            access_token: "access".to_owned().into(),
            refresh_token: None,
            id_token: None,
            access_token_expires_at: None,
            scopes: vec!["openid".into()],
        };
        tokens::store(
            connection,
            &TokenSealer::new(&[7; 32]),
            a.identity_id,
            &tokens,
        )
        .expect("tokens");
        let limits = SessionLimits {
            idle_timeout_secs: 1800,
            max_age_secs: 28_800,
        };
        let now = signin_reference::db::unix_now();
        for session in ["s1", "s2"] {
            sessions::create(
                connection,
                session,
                (a.user_id, a.identity_id),
                None,
                now,
                limits,
            )
            .expect("session");
        }
        (a.user_id, a.identity_id, b)
    }

    #[test]
    fn two_sessions_unlinking_each_others_identity_at_once_leave_one() {
        use diesel::connection::SimpleConnection as _;
        use signin_reference::db::accounts;
        if !postgres_or_skip("concurrent unlinking") {
            return;
        }
        let database = TestDatabase::new();
        let mut first = migrated(&database.url);
        let mut second = migrated(&database.url);
        let (user, a, b) = person_with_two_sessions_and_identities(&mut first);
        // Instance A is halfway through unlinking `b` as `unlink_identity`
        // does (the person locked, `b` deleted), not committed yet.
        first
            .batch_execute(&format!(
                "BEGIN; SELECT id FROM users WHERE id = {user} FOR UPDATE; \
                 DELETE FROM identities WHERE id = {b};"
            ))
            .expect("A's transaction so far");
        // Instance B unlinks `a` meanwhile: it must wait, then find `a` the
        // last one left, not count `b` as still there.
        let other = std::thread::spawn(move || accounts::unlink_identity(&mut second, user, a));
        std::thread::sleep(std::time::Duration::from_millis(300));
        first.batch_execute("COMMIT").expect("A commits");
        let unlinked = other.join().expect("no panic").expect("B's query");
        assert!(!unlinked, "the last identity is never unlinked");
        assert_eq!(count(&mut first, "identities"), 1);
    }

    #[test]
    fn two_last_sessions_ending_at_once_take_the_tokens_with_them() {
        use diesel::connection::SimpleConnection as _;
        use signin_reference::db::sessions;
        if !postgres_or_skip("concurrent sign-outs") {
            return;
        }
        let database = TestDatabase::new();
        let mut first = migrated(&database.url);
        let mut second = migrated(&database.url);
        let (user, _, _) = person_with_two_sessions_and_identities(&mut first);
        // Instance A is halfway through ending `s1` as `sessions::end` does
        // (the person locked, the row deleted; `s2` is left, so it keeps
        // the tokens), not committed yet.
        first
            .batch_execute(&format!(
                "BEGIN; SELECT id FROM users WHERE id = {user} FOR UPDATE; \
                 DELETE FROM sessions WHERE id_hash = 's1';"
            ))
            .expect("A's transaction so far");
        let other = std::thread::spawn(move || sessions::end(&mut second, "s2", user));
        std::thread::sleep(std::time::Duration::from_millis(300));
        first.batch_execute("COMMIT").expect("A commits");
        let ended = other.join().expect("no panic").expect("B's sign-out");
        assert!(
            ended.tokens_deleted,
            "the last session ends with the tokens"
        );
        assert_eq!(count(&mut first, "sessions"), 0);
        assert_eq!(count(&mut first, "provider_tokens"), 0);
    }

    #[test]
    fn two_sign_in_starts_pruning_the_same_rows_do_not_deadlock() {
        use diesel::connection::SimpleConnection as _;
        use signin_reference::db::attempts::ATTEMPTS_TOTAL;
        use signin_reference::db::pending_sign_ins::{NewPendingSignIn, PendingLimits, Purpose};
        use signin_reference::db::{TokenSealer, sign_ins};
        if !postgres_or_skip("concurrent pruning") {
            return;
        }
        let database = TestDatabase::new();
        let mut holder = migrated(&database.url);
        let mut starter = migrated(&database.url);
        // The `/flow` table full: ids 1 to ATTEMPTS_TOTAL + 1, so the next
        // start (id ATTEMPTS_TOTAL + 2) drops ids 1 and 2.
        holder
            .batch_execute(&format!(
                "INSERT INTO sign_in_attempts (state_hash, browser_hash, provider, started_at, outcome, steps) \
                 SELECT 'seed-' || n, 'browser-' || n, 'demo', extract(epoch FROM now())::bigint, 'in progress', '{{}}' \
                 FROM generate_series(1, {}) AS n",
                ATTEMPTS_TOTAL + 1
            ))
            .expect("seed");
        // Another start, on another instance, is dropping the same rows and
        // holds id 2 so far.
        holder
            .batch_execute("BEGIN; DELETE FROM sign_in_attempts WHERE id = 2")
            .expect("the other start holds id 2");
        let start = std::thread::spawn(move || {
            let pending = NewPendingSignIn {
                state_hash: "state".into(),
                browser_hash: "browser".into(),
                provider: "demo".into(),
                pkce_verifier: "verifier".to_owned().into(),
                nonce: "nonce".into(),
                return_to: "/profile".into(),
                purpose: Purpose::SignIn,
            };
            let sealer = TokenSealer::new(&[7; 32]);
            sign_ins::begin(
                &mut starter,
                &sealer,
                &pending,
                PendingLimits::default(),
                Some("{}"),
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        // The other start goes on to id 1. A plain range DELETE in this
        // start would hold id 1 and wait for id 2: each waits for the other,
        // and PostgreSQL ends one of them with "deadlock detected".
        let other = holder.batch_execute("DELETE FROM sign_in_attempts WHERE id = 1; COMMIT");
        let this = start.join().expect("no panic");
        assert!(other.is_ok(), "the other start: {other:?}");
        assert!(this.is_ok(), "this start: {this:?}");
        assert_eq!(
            count(&mut holder, "sign_in_attempts WHERE id <= 2"),
            0,
            "both dropped rows are gone"
        );
    }
}
