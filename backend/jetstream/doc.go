// Package jetstream is a WAL backend on a NATS JetStream stream, registered
// as "jetstream": either an existing cluster, replicated, or a single server
// this process runs itself over the WAL's directory.
//
//	import _ "github.com/nautilus-go/nautilus/backend/jetstream"
//
//	w, err := backend.Open(ctx, backend.Config{Backend: "jetstream", Dir: dir,
//		Params: map[string]string{"url": "nats://a:4222,nats://b:4222,nats://c:4222", "stream": "orders"}})
//
// # Layout
//
// One stream per WAL, capturing the one subject nautilus.wal.<stream>, file
// storage. A record's index is its stream sequence; each message holds the
// record in the shared envelope (CRC32C over index and payload), so a record
// read back at the wrong sequence or with other bytes is ErrCorrupt. The
// stream denies deleting single messages, so the log has no gaps;
// TruncateFront(i) purges the stream below sequence i, and the stream keeps
// its last sequence, so an empty log (new or purged) has bounds (last+1,
// last). The local Dir holds only the framework's lock, and with the
// embedded server its store, in Dir/jetstream.
//
// # Appends
//
// Append publishes its records one after another without waiting, each
// with the expected last sequence of the record before it and a
// Nats-Msg-Id naming this WAL's writer (random per Open) and the index, then
// waits for the acks. A record whose ack does not come (the connection lost,
// the stream's leader stopped) is published again, same id, same expected
// sequence, until the stream answers or append_timeout passes: the stream's
// duplicate window (2 minutes, or twice append_timeout) drops a second copy,
// and a stream whose last sequence moved past it is checked for this
// writer's record there. So a record is stored once, at its index, whatever
// retries a leader change causes. JetStream's atomic batch publish is not
// used: a retried batch that was committed is answered with an error rather
// than its sequences, so the retry could not tell its own batch from
// another writer's.
//
// The backend package's wrapper calls the driver with no deadline of the
// caller's (it commits many callers' records at once), so append_timeout,
// not the caller's context, bounds an Append. An Append that times out, as
// when the stream has lost its quorum, fails and, as every backend, leaves
// the WAL fail-stop until reopened; its records were not acknowledged, but
// one may still appear after the acknowledged ones once the quorum is back,
// as a write not yet fsync'd may survive a crash.
//
// # One writer
//
// The directory lock keeps out a second writer on the same Dir. Two WALs in
// different directories (different machines) on one stream are told apart
// by the expected last sequence every publish carries: the one whose view
// of the log is stale fails with ErrLocked at its next Append and writes
// nothing, so the log never interleaves them. Open itself does not take a
// lock on the stream.
//
// # Durability
//
// With a cluster, "durable" means what the cluster makes of a stored
// message: the ack comes once a quorum of the stream's replicas has it in
// its log. A JetStream file store fsyncs every sync_interval (default 2
// minutes) unless the servers run with sync_interval: always, so with the
// default an acknowledged record survives a process crash of every replica
// but not a power loss of a quorum within that interval. Run the servers
// with sync_interval: always for the fsync the contract means; no client
// request can make a server fsync, so Sync has nothing to do.
//
// The embedded server (no url) runs with sync_interval: always under
// SyncAlways: its file store writes and fsyncs each message before the ack,
// and the conformance suite's kill -9 cases pass. Under SyncNone it runs the
// server's default: writes are flushed to the OS within milliseconds, by a
// goroutine of the server, and fsync'd every 2 minutes, so a kill -9 or
// a power loss may lose the last acknowledged records, and Sync cannot
// change that; Close stops the server, which flushes and fsyncs its store.
// The server fsyncs its blocks but not the directories it creates them in,
// so even under SyncAlways a power loss right after a stream's first block
// is created can drop the stream; the power-loss cases skip for this.
//
// Measured Append latency, ns/op of one 200-byte record per Append (three
// runs of 1000 on a 2-core VM, loopback; BenchmarkWAL, BenchmarkCluster):
//
//	embedded, 1 replica, sync_interval always    1.4-1.9 ms
//	embedded, 1 replica, default sync_interval    32-50 µs
//	3 nodes, 3 replicas, sync_interval always    1.6-2.0 ms
//	3 nodes, 3 replicas, default sync_interval   170-210 µs
//
// The embedded server fsyncs each message on its own, so 64 concurrent
// writers still pay about one fsync per record (1.5-1.8 ms per Append),
// where a 3-replica stream commits its Raft log in batches (100-130 µs per
// Append with sync always). With other processes busy on the same two
// cores, the 3-node figures doubled. See docs/jetstream.md.
//
// # Params
//
//	url             the cluster's client URLs, comma-separated; absent: the embedded server
//	stream          the stream's name (default nautilus_wal); created if missing
//	replicas        the stream's replicas, 1 to 5 (default 3; the embedded server has 1)
//	creds_file      a NATS credentials file (JWT and NKey seed); secrets come from files only
//	tls_cert        a client certificate file, with tls_key
//	tls_key         the client certificate's key file
//	tls_ca          a CA file to verify the servers with
//	embedded_dir    the embedded server's store directory (default: Dir); not with url
//	append_timeout  how long an Append, Open or TruncateFront keeps trying (default 30s)
//
// A record is limited by the servers' max_payload (the embedded server's:
// 8 MiB, with the envelope). An existing stream with other replicas, or
// capturing other subjects, is refused.
package jetstream
