//! The encrypted SQLite store: schema migrations and queries, run off the async workers.
