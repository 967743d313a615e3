package backend_test

import (
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeShowsTheExamples checks that the code README.md shows is the code
// of the examples go test compiles and runs, so that the README cannot drift
// into code that does not build or that fails on a restart.
func TestReadmeShowsTheExamples(t *testing.T) {
	readme := readText(t, "../README.md")

	use := fencedBlocks(t, readme, "Using the WAL")
	require.Len(t, use, 2, "Using the WAL: a go block and its output")
	require.Equal(t, "go", use[0].lang)
	require.Contains(t, use[0].code, "func start(")
	requirePartOf(t, "example_test.go", use[0].code)
	require.Equal(t, "text", use[1].lang)
	require.Equal(t, exampleOutput(t, "example_test.go", ""), use[1].code,
		"README.md's Using the WAL output is not the output of backend/example_test.go's Example")

	custom := fencedBlocks(t, readme, "Writing a custom backend")
	require.Len(t, custom, 2, "Writing a custom backend: the driver and its test")
	// The example names the test testConformance, so that go test does not
	// run it against a driver its package lacks.
	test := strings.Replace(custom[1].code, "func TestConformance(", "func testConformance(", 1)
	require.Contains(t, test, "conformance.Run(")
	requirePartOf(t, "../conformance/example_test.go", test)
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// requirePartOf fails unless block is a contiguous part of the file at path,
// naming the first line of block the file lacks.
func requirePartOf(t *testing.T, path, block string) {
	t.Helper()
	src := readText(t, path)
	if strings.Contains(src, block) {
		return
	}
	for _, line := range strings.Split(block, "\n") {
		if !strings.Contains(src, line) {
			t.Fatalf("README.md shows %q, which %s lacks", line, path)
		}
	}
	t.Fatalf("README.md shows lines of %s in another order or with lines left out", path)
}

type fencedBlock struct{ lang, code string }

var fence = regexp.MustCompile("(?ms)^```(\\w*)\n(.*?)^```$")

// fencedBlocks returns the fenced blocks of the section of markdown headed
// "## title", up to the next heading of that level.
func fencedBlocks(t *testing.T, markdown, title string) []fencedBlock {
	t.Helper()
	_, section, ok := strings.Cut(markdown, "\n## "+title+"\n")
	require.True(t, ok, "README.md has no section %q", title)
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks []fencedBlock
	for _, m := range fence.FindAllStringSubmatch(section, -1) {
		blocks = append(blocks, fencedBlock{lang: m[1], code: m[2]})
	}
	return blocks
}

// exampleOutput returns the // Output: comment of the example named name
// ("" for Example) in the file at path.
func exampleOutput(t *testing.T, path, name string) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
	require.NoError(t, err)
	for _, e := range doc.Examples(f) {
		if e.Name == name {
			require.NotEmpty(t, e.Output, "%s: Example%s has no output", path, name)
			return e.Output
		}
	}
	t.Fatalf("%s: no Example%s", path, name)
	return ""
}
