package storetest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/nautilus-go/nautilus/broker/store"
)

// BenchmarkSave measures one synchronous request's store write: a Save of
// one session's state (about 300 bytes of JSON) with its checkpoint.
func BenchmarkSave(b *testing.B, s store.Store) {
	st := append([]byte(`{"data_types_seen":[`), bytes.Repeat([]byte(`"employee",`), 25)...)
	st = append(st, `"pii"]}`...)
	var i uint64
	for b.Loop() {
		i++
		if err := s.Save(ctx, []store.Entry{{SessionID: fmt.Sprint("s", i%64), State: st}}, i); err != nil {
			b.Fatal(err)
		}
	}
}
