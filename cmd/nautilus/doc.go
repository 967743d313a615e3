// Command nautilus runs the Nautilus broker and its operator tools.
//
//	nautilus serve --config nautilus.yaml   the HTTP broker (docs/broker.md)
//	nautilus wal verify --backend B --dir D  check a WAL; also dump, repair,
//	                                        stats (docs/operations.md)
//	nautilus help                           the list of commands
//
// Operators run it; its tests build it with -tags failpoints to crash it at
// named points of a request and check that every answered request survives.
// Each command lives in its own file and adds itself to the command table
// from init with register, so a new command is a new file. Every command
// parses its flags with parseFlags and reports bad usage with usageError, so
// all share one convention: -h or --help prints the usage to stdout and exits
// 0; bad usage or configuration exits 2 naming what is wrong, having done
// nothing; a failure while running exits 1.
package main
