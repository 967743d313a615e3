//go:build failpoints

package broker

import (
	"os"
	"syscall"
)

// FailpointsEnabled reports whether this binary was built with -tags failpoints.
const FailpointsEnabled = true

// armed is the failpoint named in the environment at start.
var armed = os.Getenv(FailpointEnv)

// failpoint SIGKILLs the process when name is armed: no deferred function,
// no flush, no close runs, as in a real crash.
func failpoint(name string) {
	if name == armed {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

// failpointAfter is failpoint for a point that must come after the answer
// has left (async mode's store write): it waits for answered first.
func failpointAfter(name string, answered <-chan struct{}) {
	if name == armed {
		<-answered
		failpoint(name)
	}
}
