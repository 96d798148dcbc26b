//! What a write costs the database, whatever the size of the chat it goes to.

use crate::services::{fresh_postgres_database, test_database, TestDatabase};
use app::model::{GroupTitle, MessageBody, Nonce, User};
use server::db::Db;
use sqlx::AnyPool;

/// Every table Natter keeps.
const TABLES: [&str; 11] = [
    "users",
    "sessions",
    "known_devices",
    "chats",
    "chat_members",
    "messages",
    "events",
    "log_head",
    "nodes",
    "presence",
    "throttle_windows",
];

async fn rows_in_all_tables(pool: &AnyPool) -> i64 {
    let mut total = 0;
    for table in TABLES {
        total += sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(pool)
            .await
            .unwrap();
    }
    total
}

#[tokio::test]
async fn a_message_writes_the_same_rows_to_a_chat_of_any_size() {
    let dir = tempfile::tempdir().unwrap();
    let url = match test_database() {
        TestDatabase::Sqlite => format!("sqlite://{}/natter.db", dir.path().display()),
        TestDatabase::Postgres => tokio::task::spawn_blocking(fresh_postgres_database)
            .await
            .unwrap(),
    };
    let db = Db::open(&url).await.unwrap();
    let counter = AnyPool::connect(&url).await.unwrap();
    let mut people: Vec<User> = Vec::new();
    for n in 0..1000 {
        people.push(
            db.create_user(&format!("member{n}"), "hash", 0)
                .await
                .unwrap(),
        );
    }
    let sender = people[0].clone();
    let body = MessageBody::parse("x".repeat(4000)).unwrap();
    let mut written = Vec::new();
    for size in [2, 100, 1000] {
        let others: Vec<_> = people[1..size].iter().map(|user| user.id).collect();
        let title = GroupTitle::parse(&format!("size {size}")).unwrap();
        let (chat, _) = db
            .create_group(&sender, &title, &others, false, size, 1)
            .await
            .unwrap();
        assert_eq!(chat.members.len(), size);
        let before = rows_in_all_tables(&counter).await;
        let nonce = Nonce::parse(format!("size-{size}")).unwrap();
        let (message, logged) = db
            .send_message(sender.id, chat.id, &nonce, &body, 2)
            .await
            .unwrap();
        assert_eq!(logged.len(), 1, "one event for the whole chat");
        let rows = rows_in_all_tables(&counter).await - before;
        println!("a message to {size} members adds {rows} rows");
        written.push(rows);
        // The body is stored once, in `messages`; the event holds only a reference to it.
        let fact = sqlx::query_scalar::<_, String>("SELECT fact FROM events WHERE pos = $1")
            .bind(logged[0].pos)
            .fetch_one(&counter)
            .await
            .unwrap();
        assert!(fact.len() < 100, "{fact}");
        assert!(fact.contains(&message.id.to_string()));
    }
    assert_eq!(
        written,
        vec![2, 2, 2],
        "a message and its event, whatever the size"
    );
}
