//go:build !failpoints

package broker

// failpoint marks a crash point of the request lifecycle. Without the
// failpoints build tag it is nothing; see failpoint_on.go.
func failpoint(string) {}

// failpointAfter is failpoint for a point that must come after the answer
// has left; without the tag it is nothing.
func failpointAfter(string, <-chan struct{}) {}

// FailpointsEnabled reports whether this binary was built with -tags failpoints.
const FailpointsEnabled = false
