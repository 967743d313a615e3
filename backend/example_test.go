package backend_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/jsonl" // or backend/all: every built-in backend
)

// start is what a program does each time it starts on its directory: replay
// the records its store has not caught up with, drop them from the log once
// the store holds them, then log new ones before applying them.
func start(ctx context.Context, dir string, records ...string) error {
	w, err := backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir})
	if err != nil {
		return err
	}
	defer w.Close() // on the error paths; Close is idempotent

	// Replay from the first index the log holds, not from 1: after a
	// TruncateFront, 1 is out of range.
	first, last, err := w.Bounds(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("open: first %d, last %d\n", first, last)
	err = w.Replay(ctx, first, func(index uint64, data []byte) error {
		fmt.Printf("replay %d %s\n", index, data) // apply to the store
		return nil
	})
	if err != nil {
		return err
	}
	// Once the store has made the replayed records durable, drop them.
	if err := w.TruncateFront(ctx, last+1); err != nil {
		return err
	}

	for _, r := range records {
		index, err := w.Append(ctx, []byte(r)) // durable (fdatasync'd) on return
		if err != nil {
			return err
		}
		fmt.Printf("append %d %s\n", index, r) // now apply it to the store
	}
	return w.Close()
}

// Example starts a program three times on one directory, as restarts do:
// each start replays what the previous one logged, from the index Bounds
// gives, which is 3 by the third start.
func Example() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	for _, records := range [][]string{
		{`{"op":"assert","fact":"a"}`, `{"op":"assert","fact":"b"}`},
		{`{"op":"assert","fact":"c"}`},
		nil,
	} {
		if err := start(ctx, dir, records...); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// open: first 1, last 0
	// append 1 {"op":"assert","fact":"a"}
	// append 2 {"op":"assert","fact":"b"}
	// open: first 1, last 2
	// replay 1 {"op":"assert","fact":"a"}
	// replay 2 {"op":"assert","fact":"b"}
	// append 3 {"op":"assert","fact":"c"}
	// open: first 3, last 3
	// replay 3 {"op":"assert","fact":"c"}
}
