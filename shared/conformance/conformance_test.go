package conformance

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoRoot is the repository's root, two levels above this package.
const repoRoot = "../.."

// TestFixtures checks that every fixture parses and names its sources.
func TestFixtures(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range all {
		if len(f.Files) == 0 {
			t.Errorf("fixture %s holds no documented form (no files)", f.Name)
		}
	}
}

// row is one line of the fidelity table.
type row struct {
	file                 string
	line                 int
	fixture              string
	emulator, production string
}

var testRef = regexp.MustCompile("^`([a-z0-9_./-]+)\\.(Test[A-Za-z0-9_]+)`$")

// TestFidelityTable checks docs/fidelity.md against the fixtures and the
// tests: every fixture has a row, every row names a fixture that exists and
// two tests (emulator, production) that exist in the package it names.
func TestFidelityTable(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "docs", "fidelity*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs/fidelity*.md (%v)", err)
	}
	var rows []row
	for _, file := range files {
		rows = append(rows, readTable(t, file)...)
	}
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, f := range all {
		known[f.Name] = true
	}
	covered := map[string]bool{}
	for _, r := range rows {
		if !known[r.fixture] {
			t.Errorf("%s:%d: fixture %q does not exist in shared/conformance/fixtures", r.file, r.line, r.fixture)
		}
		covered[r.fixture] = true
		for _, ref := range []string{r.emulator, r.production} {
			if strings.HasPrefix(ref, "none:") {
				continue // no emulator or no production reader for this form, with the reason
			}
			m := testRef.FindStringSubmatch(ref)
			if m == nil {
				t.Errorf("%s:%d: %q is not `dir.TestName` or \"none: reason\"", r.file, r.line, ref)
				continue
			}
			if !hasTest(t, filepath.Join(repoRoot, m[1]), m[2]) {
				t.Errorf("%s:%d: no func %s in %s/*_test.go", r.file, r.line, m[2], m[1])
			}
		}
		if strings.HasPrefix(r.emulator, "none:") && strings.HasPrefix(r.production, "none:") {
			t.Errorf("%s:%d: fixture %s is tested by nothing", r.file, r.line, r.fixture)
		}
	}
	for _, f := range all {
		if !covered[f.Name] {
			t.Errorf("fixture %s has no row in docs/fidelity.md", f.Name)
		}
	}
}

// readTable reads the rows of every table in file whose second cell is a
// fixture name in backquotes: | behaviour | `fixture` | source | emulator test | production test |.
func readTable(t *testing.T, file string) []row {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var rows []row
	sc := bufio.NewScanner(fh)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(text, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(text, "|"), "|")
		if len(cells) < 5 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		name, ok := strings.CutPrefix(cells[1], "`")
		if !ok || !strings.HasSuffix(name, "`") {
			continue // the header or a separator
		}
		rows = append(rows, row{file: filepath.Base(file), line: line, fixture: strings.TrimSuffix(name, "`"), emulator: cells[3], production: cells[4]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// hasTest reports whether a _test.go file in dir declares func name.
func hasTest(t *testing.T, dir, name string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	decl := "func " + name + "("
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), decl) {
			return true
		}
	}
	return false
}
