package e2e

import (
	"bytes"
	"context"
	"testing"

	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// putSpecs replaces the pipeline specs in the state bucket: specs to write
// (name → YAML) and names to delete.
func putSpecs(t *testing.T, s *localstack.Stack, write map[string][]byte, remove ...string) {
	t.Helper()
	ctx := context.Background()
	specs := s.Storage.Bucket(localstack.StateBucket)
	for _, name := range remove {
		if err := specs.Object("specs/" + name).Delete(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range write {
		w := specs.Object("specs/" + name).NewWriter(ctx)
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A file that has a run is not lost, whatever pipeline its run is under: a
// pipeline renamed, or a spec added whose pattern takes files another
// pipeline has run, does not make the sweep process them again.
func TestSweepDoesNotRestartFilesAfterSpecChange(t *testing.T) {
	t.Parallel()
	renamed := bytes.Replace(sample.Spec, []byte("name: purchases"), []byte("name: sales"), 1)
	for name, change := range map[string]func(*testing.T, *localstack.Stack){
		"pipeline renamed": func(t *testing.T, s *localstack.Stack) {
			putSpecs(t, s, map[string][]byte{"sales.yaml": renamed}, sample.SpecName)
		},
		// "aaa" sorts first, so it takes the file (the first by name wins).
		"spec added": func(t *testing.T, s *localstack.Stack) {
			added := bytes.Replace(sample.Spec, []byte("name: purchases"), []byte("name: aaa"), 1)
			added = bytes.Replace(added, []byte(`\.csv(\.gz)?$'`), []byte(`\.csv$'`), 1) // a pattern of its own
			putSpecs(t, s, map[string][]byte{"aaa.yaml": added})
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := mustStack(t, localstack.Options{})
			first := dropAndWait(t, s, sampleObject(), sample.CSV)
			if first.Status != run.Succeeded {
				t.Fatalf("first run %s", first.Status)
			}
			change(t, s)
			// The sweep's first call reads the changed specs.
			rep := callSweep(t, s)
			if len(rep.Started) != 0 || len(rep.Errors) != 0 {
				t.Fatalf("sweep after the spec change: %+v, want nothing started", rep)
			}
			runs, err := s.App.Runs.Query(context.Background(), run.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 1 || runs[0].ID != first.ID {
				ids := []string{}
				for _, r := range runs {
					ids = append(ids, r.ID)
				}
				t.Fatalf("runs %v, want only %s", ids, first.ID)
			}
		})
	}
}
