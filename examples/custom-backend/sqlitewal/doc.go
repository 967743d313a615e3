// Package sqlitewal is a WAL backend on SQLite (modernc.org/sqlite, pure Go),
// registered as "sqlite": an example of a custom backend written against the
// public API of package backend only.
package sqlitewal
