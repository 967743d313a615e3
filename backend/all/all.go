// Package all registers every built-in WAL backend: importing it for its side
// effect makes "memory", "jsonl", "tidwall", "pebble", "bbolt" and
// "jetstream" available to backend.Open. Programs that let their
// configuration pick the backend, such as the broker, walbench and the
// nautilus command, import it:
//
//	import _ "github.com/nautilus-go/nautilus/backend/all"
//
// A program that needs one backend imports that backend's package instead,
// and links only its library.
package all

import (
	_ "github.com/nautilus-go/nautilus/backend/bbolt"
	_ "github.com/nautilus-go/nautilus/backend/jetstream"
	_ "github.com/nautilus-go/nautilus/backend/jsonl"
	_ "github.com/nautilus-go/nautilus/backend/memory"
	_ "github.com/nautilus-go/nautilus/backend/pebble"
	_ "github.com/nautilus-go/nautilus/backend/tidwall"
)
