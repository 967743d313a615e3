// Package kvtest holds the tests the key-value backends (pebble and bbolt)
// share: records whose bytes derive from their index, and the bit-flip sweep
// that damages every file of a WAL directory and requires the damage to be
// reported as corruption or to be harmless. Only tests import it.
//
// # Errors
//
// Helpers fail the test they are given; Sweep reports each flip that led to
// anything but ErrCorrupt or the intact log with t.Errorf, naming the file,
// offset and bit.
//
// # Params
//
// None.
//
// # Crash safety
//
// Not applicable: the package damages copies of WAL directories on purpose.
//
// # Limitations
//
// Flips are sampled from a fixed seed, so a run covers the same few hundred
// positions every time; change the seed to explore others.
package kvtest
