// Package broker routes agents' requests to data sources under rules and
// records, per session, the cumulative exposure those requests add up to,
// write-ahead through a backend.WAL so that no answered request is lost.
//
// `nautilus serve` (cmd/nautilus) runs it behind the HTTP API of Handler;
// walbench's broker workload drives it in-process:
//
//	b, err := broker.New(ctx, cfg, &broker.Options{Registerer: reg})
//	resp, err := b.Handle(ctx, broker.Request{AgentID: "a", Intent: "employee pii",
//		Context: broker.RequestContext{SessionID: "s1", Clearance: "secret"}})
//	err = b.Close()
//
// # Rules and working memory
//
// A request asserts its facts (agent, intent, one per source, the session
// and its exposure) into a working Memory and fires six rules in salience
// order (rules.go); the routing is the routed sources minus the denied ones,
// and every response carries the trace of the rules that fired
// (nautilus-routing::<rule>). The exposure update is a list of fact
// operations (exposure.go): asserts of new exposure elements and flags, and
// a modify of the session fact.
//
// # Promises
//
// A request is answered only after its operations are durable in the WAL
// (when enabled); only then are they asserted into the session's memory. The
// session lock is held from the read of the session to its store write, so a
// request sees every earlier answered request of its session. In
// synchronous mode the store is written before the answer; in async mode a
// background writer stores answered requests in batches in WAL index order.
// The store's checkpoint is the index through which every record is in the
// store; at startup New replays every later record into the store before it
// returns. Replay is idempotent: asserts are set-adds, modifies overwrite,
// and pii_sources_accessed is derived from its list, never incremented.
//
// # Errors
//
// New returns a *ConfigError naming the setting for a configuration mistake
// and an error satisfying errors.Is(err, backend.ErrCorrupt) for a WAL record
// that cannot be read or decoded (naming file, offset and index where the
// backend knows them); the store is then untouched. Handle returns a
// *RequestError for a malformed request and ErrClosed after Close.
//
// # Crash safety
//
// With the WAL on, a crash anywhere leaves either no WAL record (the request
// was not answered) or one that replay applies on the next start, in both
// modes. With the WAL off, synchronous mode loses nothing answered (the
// store commit is fsync'd before the answer) and async mode loses what the
// writer had not stored. Built with -tags failpoints, the process kills
// itself at the point named by NAUTILUS_FAILPOINT (see Failpoints).
package broker
