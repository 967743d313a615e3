package jetstream_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/jetstream"
	"github.com/nautilus-go/nautilus/conformance"
)

// TestConformance runs the whole suite against the embedded single server,
// storing in the WAL's directory, in both sync modes. The server does its
// own file I/O, so the cases that need Harness.OpenFS skip; those below
// skip for what the server does (see skips).
func TestConformance(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.RunWithEncryption(t, func(enc *backend.Encryption) conformance.Harness {
				return conformance.Harness{
					Open: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "jetstream", Dir: dir, Sync: mode})
					},
					Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone, Skip: skips},
				}
			})
		})
	}
}

// skips are the cases the NATS server cannot pass, and why.
var skips = map[string]string{
	"power_loss_every_sync":  noDirSync,
	"power_loss_torn_writes": noDirSync,
	"crash_during_recovery":  noDirSync,
	"fsync_error_fail_stop":  errorsOverTheWire,
	"enospc_fault":           errorsOverTheWire,
	"enospc_tmpfs":           errorsOverTheWire,
}

const (
	noDirSync = "nats-server's file store fsyncs its message blocks but not the directories it creates " +
		"the stream and its blocks in, so a power loss dropping those entries leaves the stream empty " +
		"(seen: Bounds (1, 0) after a cut right after the fsync of msgs/1.blk)"
	errorsOverTheWire = "the server's disk errors reach the client as a JetStream API error, or as no answer " +
		"when the server disables JetStream after a failed write, so no Append error can wrap EIO or ENOSPC"
)
