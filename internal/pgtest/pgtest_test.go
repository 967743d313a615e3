package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// Each DSN is its own database: a table made in one is not in another.
func TestDSNGivesAFreshDatabase(t *testing.T) {
	ctx := context.Background()
	a, b := DSN(t), DSN(t)
	require.NotEqual(t, a, b)
	ca, err := pgx.Connect(ctx, a)
	require.NoError(t, err)
	defer ca.Close(ctx)
	_, err = ca.Exec(ctx, `CREATE TABLE t (x int)`)
	require.NoError(t, err)
	cb, err := pgx.Connect(ctx, b)
	require.NoError(t, err)
	defer cb.Close(ctx)
	var n int
	require.NoError(t, cb.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 't'`).Scan(&n))
	require.Zero(t, n)
}

func TestFindBinDir(t *testing.T) {
	empty := t.TempDir()
	_, err := findBinDir(filepath.Join(empty, "none"), empty)
	var nb *notInstalledError
	require.ErrorAs(t, err, &nb)
	require.ErrorContains(t, err, "install the Debian package postgresql")

	root := t.TempDir()
	for _, v := range []string{"9", "15", "13"} {
		dir := filepath.Join(root, v, "bin")
		require.NoError(t, os.MkdirAll(dir, 0o700))
		for _, b := range []string{"initdb", "pg_ctl"} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, b), nil, 0o700))
		}
	}
	got, err := findBinDir(root, "")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "15", "bin"), got, "the newest version")

	onPath := filepath.Join(root, "15", "bin")
	got, err = findBinDir(filepath.Join(empty, "none"), empty+string(filepath.ListSeparator)+onPath)
	require.NoError(t, err)
	require.Equal(t, onPath, got, "found on PATH")
}

// recorder captures whether missing skipped or failed.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }
func (r *recorder) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }

func TestMissingSkipsUnlessRequired(t *testing.T) {
	cause := &notInstalledError{looked: []string{"/nowhere"}}
	r := &recorder{TB: t}
	missing(r, false, cause)
	require.Contains(t, r.skipped, "install the Debian package postgresql")
	require.Empty(t, r.failed)

	r = &recorder{TB: t}
	missing(r, true, cause)
	require.Contains(t, r.failed, EnvRequire+"=1")
	require.Empty(t, r.skipped)
}

func TestWithDatabase(t *testing.T) {
	require.Equal(t, "postgres://u@h:5/db2?sslmode=disable", withDatabase("postgres://u@h:5/db1?sslmode=disable", "db2"))
	require.Equal(t, "host=h dbname=db1 dbname=db2", withDatabase("host=h dbname=db1", "db2"))
}
