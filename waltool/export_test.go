package waltool

import (
	"context"

	"github.com/nautilus-go/nautilus/backend"
)

// VerifyCopy verifies a copy of the log, as Verify does for a backend
// without an Inspector, so a test can compare the two ways.
func VerifyCopy(ctx context.Context, cfg backend.Config) (Report, error) {
	return check(ctx, cfg, true)
}

// SetBeforeSwap makes Rekey call f once the new log is durable, before the
// swap, and stop there when f fails.
func SetBeforeSwap(f func() error) { beforeSwap = f }
