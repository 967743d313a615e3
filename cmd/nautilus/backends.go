package main

// Every built-in WAL backend, so serve and the wal tools can open any of them
// by name (persistence.wal_backend, --backend).
import _ "github.com/nautilus-go/nautilus/backend/all"
