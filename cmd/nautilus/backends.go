package main

// The WAL backends serve can open by name (persistence.wal_backend).
import (
	_ "github.com/nautilus-go/nautilus/backend/jsonl"
	_ "github.com/nautilus-go/nautilus/backend/pebble"
	_ "github.com/nautilus-go/nautilus/backend/tidwall"
)
