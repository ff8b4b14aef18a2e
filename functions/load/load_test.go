package load

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/run"
)

func TestJobIDIsDeterministicPerEpochAndValid(t *testing.T) {
	r := &run.Run{ID: run.ID("purchases", run.Source{Bucket: "inbox", Object: "incoming/20260426-120000.csv", Generation: 7}), Epoch: 1}
	id1 := JobID(r)
	if id1 != JobID(&run.Run{ID: r.ID, Epoch: 1}) {
		t.Fatal("the same run and epoch gave two job IDs")
	}
	r.Epoch = 2
	if JobID(r) == id1 {
		t.Fatal("a rerun (new epoch) reuses the first epoch's job ID")
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(id1) || len(id1) > 1024 {
		t.Fatalf("job ID %q is not a valid BigQuery job ID", id1)
	}
}

// TestNeverWaits guards the step's contract: it checks its job once per
// invocation and never blocks on it (no Job.Wait, no sleeping).
func TestNeverWaits(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	more, _ := filepath.Glob("../../shared/bqload/*.go")
	fset := token.NewFileSet()
	for _, name := range append(files, more...) {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Wait" || sel.Sel.Name == "Sleep") {
				t.Errorf("%s: calls %s: the load step must poll later instead of waiting", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
	if len(files) == 0 || len(more) == 0 {
		t.Fatal("no sources found")
	}
}
