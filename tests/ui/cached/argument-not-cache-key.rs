use memo::cached;

struct Connection;

#[cached]
fn query(conn: &Connection, sql: &str) -> u64 {
    let _ = (conn, sql);
    1
}

fn main() {}
