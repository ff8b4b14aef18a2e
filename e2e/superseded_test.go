package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// A file uploaded again while its first upload's run is under way: the older
// run stops before it writes anything users see, so the newer upload's rows
// are what the table and the results hold.
func TestOlderUploadNeverOverwritesANewerOne(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	old, err := s.Drop(ctx, sampleObject(), bigSample(40))
	if err != nil {
		t.Fatal(err)
	}
	corrected, err := s.Drop(ctx, sampleObject(), sample.CSV)
	if err != nil {
		t.Fatal(err)
	}
	rOld, err := s.Wait(ctx, old, nil)
	if err != nil {
		t.Fatal(err)
	}
	rNew, err := s.Wait(ctx, corrected, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rNew.Status != run.Succeeded {
		t.Fatalf("newer upload's run: %s %+v", rNew.Status, rNew.Error)
	}
	if rOld.Status != run.Failed || rOld.Error == nil || !strings.Contains(rOld.Error.Message, "was uploaded again") {
		t.Fatalf("older upload's run: %s %+v", rOld.Status, rOld.Error)
	}
	for _, table := range []string{"purchases", "purchase_predictions"} {
		if n := queryInt(t, s, "SELECT COUNT(*) FROM `dropcast-local.sales."+table+"`"); n != sampleClean {
			t.Errorf("%s holds %d rows, want the newer upload's %d", table, n, sampleClean)
		}
	}
	if _, rows := results(t, s, rNew); len(rows) != sampleClean {
		t.Errorf("results CSV holds %d rows, want %d", len(rows), sampleClean)
	}
}
