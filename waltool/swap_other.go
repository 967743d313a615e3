//go:build !linux

package waltool

import "os"

// exchangeDirs swaps a and b with two renames, through a third name: without
// an atomic exchange, a crash between them leaves b's log under b+".old"
// and b missing, which an operator renames back.
func exchangeDirs(a, b string) error {
	old := b + ".old"
	if err := os.Rename(b, old); err != nil {
		return err
	}
	if err := os.Rename(a, b); err != nil {
		return err
	}
	return os.Rename(old, a)
}
