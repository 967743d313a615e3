//go:build !unix

package conformance

import "testing"

// setUmask skips: permission bits are a Unix notion.
func setUmask(t *testing.T, mask int) {
	t.Skip("file modes are checked on Unix only")
}
