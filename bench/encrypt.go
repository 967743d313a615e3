package bench

import (
	"crypto/rand"
	"fmt"
	"strings"
	"sync"

	"github.com/nautilus-go/nautilus/backend"
)

// EncryptedSuffix marks a row of a backend opened with record encryption:
// "jsonl+enc" is jsonl with Config.Encryption set, beside the plain "jsonl".
const EncryptedSuffix = "+enc"

// encryptedSubjects are the backends measured with encryption too.
var encryptedSubjects = []string{"jsonl" + EncryptedSuffix, "pebble" + EncryptedSuffix}

// encryptedBase returns the backend an encrypted row's name stands for.
func encryptedBase(name string) (string, bool) {
	return strings.CutSuffix(name, EncryptedSuffix)
}

// benchEncryption is one random key for the whole run, so that a row that
// reopens its log reads it.
var benchEncryption = sync.OnceValue(func() *backend.Encryption {
	secret := make([]byte, backend.KeySize)
	rand.Read(secret) // never fails (crypto/rand)
	return &backend.Encryption{Active: "walbench", Keys: []backend.Key{{ID: "walbench", Secret: secret}}}
})

// encryptionTargets: sealing every record adds at most 10% to the p50 of a
// durable Append, and at most 1 µs per 200-byte record when nothing waits
// for the disk.
func encryptionTargets(f rowFinder) []Target {
	var out []Target
	for _, b := range []string{"jsonl", "pebble"} {
		enc := b + EncryptedSuffix
		t := Target{Name: enc + " ÷ " + b + ", p50 per Append, sync=always, 1 writer", Op: "<=", Want: 1.10}
		re, ok1 := f.find(WorkloadAppend, enc, "", "always", 1)
		rp, ok2 := f.find(WorkloadAppend, b, "", "always", 1)
		if ok1 && ok2 && rp.Latency.P50 > 0 {
			t.Got = float64(re.Latency.P50) / float64(rp.Latency.P50)
			t = t.judge()
		} else {
			t.Status, t.Note = Missing, fmt.Sprintf("needs append rows at -size 200 -batch 1 -sync always with the %s and %s rows", b, enc)
		}
		out = append(out, t)

		t = Target{Name: enc + " − " + b + ", time per 200-byte record, sync=none, 1 writer", Op: "<=", Want: 1, Unit: "µs/op"}
		re, ok1 = f.find(WorkloadAppend, enc, "", "none", 1)
		rp, ok2 = f.find(WorkloadAppend, b, "", "none", 1)
		if ok1 && ok2 {
			t.Got = (re.NsPerOp() - rp.NsPerOp()) / 1e3
			t = t.judge()
		} else {
			t.Status, t.Note = Missing, fmt.Sprintf("needs append rows at -size 200 -batch 1 -sync none with the %s and %s rows", b, enc)
		}
		out = append(out, t)
	}
	return out
}
