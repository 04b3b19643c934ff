//! The engine end to end on a real SQLite file: MySQL statements in,
//! MySQL-shaped results out.

use std::time::Duration;

use super::*;

fn with_db(f: impl AsyncFnOnce(CoreDb, Session)) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(DbConfig {
        path: dir.path().join("test.sqlite"),
        name: "wordpress".into(),
        lock_wait_timeout: Duration::from_millis(300),
        slow_query_threshold: Duration::from_secs(1),
    })
    .unwrap();
    let core = db.core(0).unwrap();
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap();
    rt.block_on(f(core, Session::new(1, "wordpress")));
}

async fn one(db: &CoreDb, s: &mut Session, sql: &str) -> Result<Outcome, DbError> {
    let mut out = db.query(s, sql).await;
    assert_eq!(out.len(), 1, "{sql}");
    out.remove(0)
}

async fn ok(db: &CoreDb, s: &mut Session, sql: &str) -> Outcome {
    match one(db, s, sql).await {
        Ok(o) => o,
        Err(e) => panic!("{sql}: {e}"),
    }
}

async fn rows(db: &CoreDb, s: &mut Session, sql: &str) -> Vec<Vec<String>> {
    match ok(db, s, sql).await {
        Outcome::Rows(r) => r
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|v| match v {
                        Value::Null => "NULL".into(),
                        Value::Integer(n) => n.to_string(),
                        Value::Real(r) => r.to_string(),
                        Value::Text(t) => t.clone(),
                        Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
                    })
                    .collect()
            })
            .collect(),
        other => panic!("{sql}: no rows: {other:?}"),
    }
}

const WP_POSTS: &str = "CREATE TABLE wp_posts (
  ID bigint(20) unsigned NOT NULL auto_increment,
  post_author bigint(20) unsigned NOT NULL default '0',
  post_date datetime NOT NULL default '0000-00-00 00:00:00',
  post_content longtext NOT NULL,
  post_title text NOT NULL,
  post_status varchar(20) NOT NULL default 'publish',
  post_name varchar(200) NOT NULL default '',
  guid varchar(255) NOT NULL default '',
  menu_order int(11) NOT NULL default '0',
  comment_count bigint(20) NOT NULL default '0',
  PRIMARY KEY  (ID),
  KEY post_name (post_name(191)),
  KEY type_status_date (post_status,post_date,ID),
  KEY post_author (post_author)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci";

#[test]
fn wordpress_table_round_trip() {
    with_db(async |db, mut s| {
        ok(&db, &mut s, WP_POSTS).await;
        ok(&db, &mut s, "CREATE TABLE wp_options (option_id bigint(20) unsigned NOT NULL auto_increment, option_name varchar(191) NOT NULL default '', option_value longtext NOT NULL, autoload varchar(20) NOT NULL default 'yes', PRIMARY KEY  (option_id), UNIQUE KEY option_name (option_name)) ENGINE=InnoDB").await;
        let t = rows(&db, &mut s, "SHOW TABLES LIKE 'wp\\_%'").await;
        assert_eq!(t, vec![vec!["wp_options"], vec!["wp_posts"]]);
        let d = rows(&db, &mut s, "DESCRIBE wp_posts").await;
        assert_eq!(d[0], vec!["ID", "bigint(20) unsigned", "NO", "PRI", "NULL", "auto_increment"]);
        assert_eq!(d[5][0..5], ["post_status", "varchar(20)", "NO", "MUL", "publish"]);
        let idx = rows(&db, &mut s, "SHOW INDEX FROM wp_posts").await;
        assert_eq!(idx[0][2], "PRIMARY");
        assert!(idx.iter().any(|r| r[2] == "type_status_date" && r[3] == "2" && r[4] == "post_date"));
        let err = one(&db, &mut s, "DESCRIBE wp_nothing").await.unwrap_err();
        assert_eq!(err.code, 1146);

        let o = ok(&db, &mut s, "INSERT INTO `wp_options` (`option_name`, `option_value`, `autoload`) VALUES ('siteurl', 'http://x', 'yes') ON DUPLICATE KEY UPDATE `option_name` = VALUES(`option_name`), `option_value` = VALUES(`option_value`)").await;
        assert_eq!(o, Outcome::Done { affected: 1, last_insert_id: 1 });
        ok(&db, &mut s, "INSERT INTO `wp_options` (`option_name`, `option_value`, `autoload`) VALUES ('SITEURL', 'http://y', 'yes') ON DUPLICATE KEY UPDATE `option_value` = VALUES(`option_value`)").await;
        let v = rows(&db, &mut s, "SELECT option_value FROM wp_options WHERE option_name = 'siteurl' LIMIT 1").await;
        assert_eq!(v, vec![vec!["http://y"]], "case-insensitive unique key, upsert");
        let e = one(&db, &mut s, "INSERT INTO wp_options (option_name, option_value) VALUES ('siteurl', 'z')")
            .await
            .unwrap_err();
        assert_eq!(e.code, 1062);
        ok(&db, &mut s, "INSERT IGNORE INTO wp_options (option_name, option_value) VALUES ('siteurl', 'z')").await;

        // NOT NULL columns left out get their type's zero value, as in MySQL.
        ok(&db, &mut s, "INSERT INTO wp_posts (post_title, post_date) VALUES ('Hello', '2024-05-01 10:00:00')").await;
        ok(&db, &mut s, "INSERT INTO wp_posts SET post_title = 'Second', post_date = NOW()").await;
        assert_eq!(rows(&db, &mut s, "SELECT LAST_INSERT_ID()").await, vec![vec!["2"]]);
        let r = rows(
            &db,
            &mut s,
            "SELECT SQL_CALC_FOUND_ROWS ID, post_content, menu_order FROM wp_posts ORDER BY ID LIMIT 0, 1",
        )
        .await;
        assert_eq!(r, vec![vec!["1", "", "0"]]);
        assert_eq!(rows(&db, &mut s, "SELECT FOUND_ROWS()").await, vec![vec!["2"]]);
        let r = rows(&db, &mut s, "SELECT YEAR(post_date), DATE_FORMAT(post_date, '%Y-%m'), IF(ID > 1, 'b', 'a'), IFNULL(NULL, 3), CONCAT('a', ID) FROM wp_posts WHERE post_date < DATE_ADD('2024-05-02', INTERVAL 1 DAY) AND ID = 1").await;
        assert_eq!(r, vec![vec!["2024", "2024-05", "a", "3", "a1"]]);
        ok(&db, &mut s, "UPDATE wp_posts SET comment_count = comment_count + 1 WHERE ID = 1 LIMIT 1").await;
        ok(&db, &mut s, "DELETE FROM wp_posts WHERE ID > 1 ORDER BY ID LIMIT 5").await;
        assert_eq!(rows(&db, &mut s, "SELECT COUNT(*) FROM wp_posts").await, vec![vec!["1"]]);
        // WordPress's transient cleanup: a self-join DELETE, and REGEXP.
        ok(&db, &mut s, "INSERT INTO wp_options (option_name, option_value) VALUES ('_transient_a', '1'), ('_transient_timeout_a', '1000000000'), ('_transient_b', '1'), ('_transient_timeout_b', '9999999999')").await;
        ok(&db, &mut s, "DELETE a, b FROM wp_options a, wp_options b WHERE a.option_name LIKE '\\_transient\\_%' AND a.option_name NOT LIKE '\\_transient\\_timeout\\_%' AND b.option_name = CONCAT('_transient_timeout_', SUBSTRING(a.option_name, 12)) AND b.option_value < 2000000000").await;
        let left = rows(
            &db,
            &mut s,
            "SELECT option_name FROM wp_options WHERE option_name REGEXP '^_TRANSIENT_' ORDER BY option_name",
        )
        .await;
        assert_eq!(left, vec![vec!["_transient_b"], vec!["_transient_timeout_b"]]);
        let r = rows(
            &db,
            &mut s,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name",
        )
        .await;
        assert_eq!(r, vec![vec!["wp_options"], vec!["wp_posts"]]);
        // What Laravel's schema builder asks.
        let r = rows(&db, &mut s, "select table_name as name, (data_length + index_length) as size, table_comment as comment, engine as engine, table_collation as collation from information_schema.tables where table_schema = 'wordpress' and table_type in ('BASE TABLE', 'SYSTEM VERSIONED') order by table_name").await;
        assert_eq!(r[1][0..2], ["wp_posts", "0"]);
        let r = rows(&db, &mut s, "select column_name as name, data_type as type_name, column_type as type, collation_name as collation, is_nullable as nullable, column_default as `default`, column_comment as comment, generation_expression as expression, extra as extra from information_schema.columns where table_schema = 'wordpress' and table_name = 'wp_posts' order by ordinal_position asc").await;
        assert_eq!(r[0][0..3], ["ID", "bigint", "bigint(20) unsigned"]);
        let r = rows(&db, &mut s, "select index_name as name, group_concat(column_name order by seq_in_index) as columns, index_type as type, not non_unique as `unique` from information_schema.statistics where table_schema = 'wordpress' and table_name = 'wp_posts' group by index_name, index_type, non_unique").await;
        assert!(r.iter().any(|x| x[0] == "type_status_date" && x[1] == "post_status,post_date,ID"), "{r:?}");
        let r = rows(&db, &mut s, "select kc.constraint_name as name from information_schema.key_column_usage kc join information_schema.referential_constraints rc on rc.constraint_name = kc.constraint_name where kc.table_schema = 'wordpress' and kc.table_name = 'wp_posts'").await;
        assert!(r.is_empty());
        ok(
            &db,
            &mut s,
            "ALTER TABLE wp_posts ADD COLUMN extra varchar(10) NOT NULL default 'x', ADD KEY extra (extra)",
        )
        .await;
        ok(&db, &mut s, "ALTER TABLE wp_posts CHANGE COLUMN extra extra2 varchar(20) NOT NULL default 'x'").await;
        let d = rows(&db, &mut s, "SHOW COLUMNS FROM wp_posts LIKE 'extra2'").await;
        assert!(d.iter().any(|r| r[0] == "extra2" && r[1] == "varchar(20)"));
        let c = rows(&db, &mut s, "SHOW CREATE TABLE wp_posts").await;
        assert!(c[0][1].contains("`ID` bigint(20) unsigned NOT NULL AUTO_INCREMENT"), "{}", c[0][1]);
        assert_eq!(rows(&db, &mut s, "SELECT @@session.sql_mode").await, vec![vec!["NO_ENGINE_SUBSTITUTION"]]);
        let Outcome::Rows(r) = ok(&db, &mut s, "SELECT @@version_comment, NOW() AS n, IF(1, 2, 3)").await else {
            panic!()
        };
        let names: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["@@version_comment", "n", "IF(1, 2, 3)"]);
        ok(&db, &mut s, "SET SESSION sql_mode = 'ANSI'").await;
        assert_eq!(rows(&db, &mut s, "SELECT @@sql_mode").await, vec![vec!["ANSI"]]);
    });
}

#[test]
fn transactions_and_locks() {
    with_db(async |db, mut s| {
        ok(&db, &mut s, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))").await;
        ok(&db, &mut s, "BEGIN").await;
        assert!(s.in_transaction() && !s.in_tx, "BEGIN alone does not take the writer");
        ok(&db, &mut s, "INSERT INTO t VALUES (1, 'a')").await;
        assert!(s.in_tx);
        // Another session waits for the writer and times out.
        let mut other = Session::new(2, "wordpress");
        let e = one(&db, &mut other, "INSERT INTO t VALUES (2, 'b')").await.unwrap_err();
        assert_eq!(e.code, 1205);
        // Reads of other sessions see the last commit.
        assert!(rows(&db, &mut other, "SELECT * FROM t").await.is_empty());
        // The owner sees its own write.
        assert_eq!(rows(&db, &mut s, "SELECT v FROM t").await, vec![vec!["a"]]);
        ok(&db, &mut s, "ROLLBACK").await;
        assert!(rows(&db, &mut s, "SELECT * FROM t").await.is_empty());
        // A read-only transaction never blocks another session's write.
        ok(&db, &mut s, "START TRANSACTION").await;
        assert!(rows(&db, &mut s, "SELECT * FROM t").await.is_empty());
        ok(&db, &mut other, "INSERT INTO t VALUES (9, 'z')").await;
        ok(&db, &mut s, "COMMIT").await;
        ok(&db, &mut s, "DELETE FROM t WHERE id = 9").await;
        // SELECT ... FOR UPDATE takes the writer.
        ok(&db, &mut s, "BEGIN").await;
        ok(&db, &mut s, "SELECT * FROM t FOR UPDATE").await;
        assert!(s.in_tx);
        ok(&db, &mut s, "COMMIT").await;
        ok(&db, &mut s, "SET autocommit = 0").await;
        ok(&db, &mut s, "INSERT INTO t VALUES (3, 'c')").await;
        ok(&db, &mut s, "COMMIT").await;
        assert_eq!(rows(&db, &mut other, "SELECT id FROM t").await, vec![vec!["3"]]);
        let multi = db.query(&mut s, "SELECT 1; SELECT 2; SELEC 3; SELECT 4").await;
        assert_eq!(multi.len(), 3);
        assert_eq!(multi[2].as_ref().unwrap_err().code, 1064);
        let e = one(&db, &mut s, "CREATE TRIGGER x AFTER INSERT ON t FOR EACH ROW BEGIN END").await.unwrap_err();
        assert!(e.code == 1235 || e.code == 1064, "{e}");
    });
}

#[test]
fn prepared_statements_bind_parameters() {
    with_db(async |db, mut s| {
        ok(&db, &mut s, "CREATE TABLE sbtest1 (id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id)) /*! ENGINE = innodb */").await;
        ok(&db, &mut s, "INSERT INTO sbtest1(k, c, pad) VALUES(5, 'c1', 'p1'),(6, 'c2', 'p2')").await;
        ok(&db, &mut s, "CREATE INDEX k_1 ON sbtest1(k)").await;
        let p = db.prepare(&s, "SELECT c FROM sbtest1 WHERE id=?").unwrap();
        assert_eq!(p.params, 1);
        assert_eq!(p.columns[0].kind, ColumnType::String);
        let o = db.execute(&mut s, &p, vec![Value::Integer(2)]).await.unwrap();
        let Outcome::Rows(r) = o else { panic!() };
        assert_eq!(r.rows, vec![vec![Value::Text("c2".into())]]);
        {
            let stats = db.stats().lock().unwrap();
            assert_eq!(stats.digests["SELECT c FROM sbtest1 WHERE id=?"].count, 1);
        }
        // FOUND_ROWS() of a prepared query whose LIMIT is a parameter.
        let p = db.prepare(&s, "SELECT SQL_CALC_FOUND_ROWS id FROM sbtest1 WHERE k > ? ORDER BY id LIMIT ?").unwrap();
        db.execute(&mut s, &p, vec![Value::Integer(0), Value::Integer(1)]).await.unwrap();
        assert_eq!(s.found_rows, 2);
        // DATABASE() is read when the statement runs, not when it was prepared.
        let p = db.prepare(&s, "SELECT DATABASE()").unwrap();
        ok(&db, &mut s, "USE other").await;
        let Outcome::Rows(r) = db.execute(&mut s, &p, vec![]).await.unwrap() else { panic!() };
        assert_eq!(r.rows[0][0], Value::Text("other".into()));
        // LAST_INSERT_ID: the first row of a multi-row INSERT; nothing for an
        // upsert that updated.
        let o = ok(&db, &mut s, "INSERT INTO sbtest1 (k) VALUES (7), (8), (9)").await;
        assert_eq!(o, Outcome::Done { affected: 3, last_insert_id: 3 });
        let o =
            ok(&db, &mut s, "INSERT INTO sbtest1 (id, k) VALUES (1, 50) ON DUPLICATE KEY UPDATE k = VALUES(k)").await;
        assert!(matches!(o, Outcome::Done { last_insert_id: 0, .. }), "{o:?}");
        let o = ok(&db, &mut s, "DELETE a FROM sbtest1 a JOIN sbtest1 b ON b.id = a.id WHERE a.k >= 7").await;
        assert_eq!(o, Outcome::Done { affected: 4, last_insert_id: 0 });
        let e = one(&db, &mut s, "CREATE TEMPORARY TABLE tmp (a INT)").await.unwrap_err();
        assert_eq!(e.code, 1235);
    });
}

/// Two sessions, two tables: an id equal to the last one the other
/// session generated is the statement's own, not "unchanged".
#[test]
fn insert_id_equal_to_another_sessions_last_id() {
    with_db(async |db, mut s| {
        let mut t = Session::new(2, "wordpress");
        ok(&db, &mut s, "CREATE TABLE a (id INT AUTO_INCREMENT PRIMARY KEY, v INT)").await;
        ok(&db, &mut s, "CREATE TABLE b (id INT AUTO_INCREMENT PRIMARY KEY, v INT)").await;
        ok(&db, &mut s, "INSERT INTO a (v) VALUES (1)").await;
        ok(&db, &mut s, "INSERT INTO b (v) VALUES (1)").await;
        assert_eq!(
            ok(&db, &mut s, "INSERT INTO b (v) VALUES (2)").await,
            Outcome::Done { affected: 1, last_insert_id: 2 }
        );
        assert_eq!(
            ok(&db, &mut t, "INSERT INTO a (v) VALUES (2)").await,
            Outcome::Done { affected: 1, last_insert_id: 2 }
        );
        assert_eq!(rows(&db, &mut t, "SELECT LAST_INSERT_ID()").await, vec![vec!["2"]]);
        // Inside a transaction too, and an UPDATE leaves the session's id.
        ok(&db, &mut t, "BEGIN").await;
        assert_eq!(
            ok(&db, &mut t, "INSERT INTO b (v) VALUES (3)").await,
            Outcome::Done { affected: 1, last_insert_id: 3 }
        );
        ok(&db, &mut t, "COMMIT").await;
        assert_eq!(
            ok(&db, &mut s, "INSERT INTO a (v) VALUES (3)").await,
            Outcome::Done { affected: 1, last_insert_id: 3 }
        );
        assert_eq!(
            ok(&db, &mut s, "UPDATE a SET v = 4 WHERE id = 1").await,
            Outcome::Done { affected: 1, last_insert_id: 0 }
        );
        assert_eq!(rows(&db, &mut s, "SELECT LAST_INSERT_ID()").await, vec![vec!["3"]]);
    });
}

#[test]
fn statements_split_outside_strings_and_comments() {
    use translate::split;
    assert_eq!(split("SELECT 1--1; SELECT 2"), ["SELECT 1--1", " SELECT 2"]);
    assert_eq!(
        split("SELECT ';' -- a; b\n; SELECT `x;y` /* ; */ # c;\n"),
        ["SELECT ';' -- a; b\n", " SELECT `x;y` /* ; */ # c;\n"]
    );
    assert_eq!(split("SELECT 'it\\'s;'"), ["SELECT 'it\\'s;'"]);
    assert!(split(" ; ;").is_empty());
    assert_eq!(stats::normalize("SELECT 1 # one\n, 2 /* two */"), "SELECT ? , ?");
}

#[test]
fn names_sqlite_reads_as_keywords() {
    with_db(async |db, mut s| {
        ok(&db, &mut s, "CREATE TABLE pay (id INT PRIMARY KEY, transaction VARCHAR(20), notnull INT)").await;
        ok(&db, &mut s, "INSERT INTO pay (id, transaction, notnull) VALUES (1, 'tx-1', 5)").await;
        let r = rows(&db, &mut s, "SELECT transaction, pay.notnull, id AS nothing FROM pay WHERE transaction = 'tx-1'")
            .await;
        assert_eq!(r, vec![vec!["tx-1", "5", "1"]]);
        match ok(&db, &mut s, "SELECT transaction, 1 AS nothing FROM pay").await {
            Outcome::Rows(r) => {
                let names: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
                assert_eq!(names, ["transaction", "nothing"]);
            }
            other => panic!("{other:?}"),
        }
        ok(&db, &mut s, "UPDATE pay SET transaction = 'tx-2' WHERE notnull = 5").await;
        assert_eq!(rows(&db, &mut s, "SELECT transaction FROM pay").await, vec![vec!["tx-2"]]);
    });
}
