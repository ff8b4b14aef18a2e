package e2e

import (
	"bytes"
	"context"
	"testing"

	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// partsData concatenates the data lines (all but each part's header) of a
// run's clean or rejects parts, in part order.
func partsData(t *testing.T, s *localstack.Stack, r *run.Run, kind string) []byte {
	t.Helper()
	names := objectNames(t, s, localstack.WorkBucket, r.WorkPrefix()+kind+"/")
	var out bytes.Buffer
	for _, n := range names {
		_, data, _ := bytes.Cut(readObject(t, s, "gs://"+localstack.WorkBucket+"/"+n), []byte("\n"))
		out.Write(data)
	}
	return out.Bytes()
}

// A tiny budget and crashes at every commit boundary of preprocess still
// give clean output byte-identical to an unconstrained run's, for a file with
// quoted newlines, doubled quotes, CRLF and bad rows.
func TestPreprocessUnderCrashesIsByteIdentical(t *testing.T) {
	t.Parallel()
	data := bigSample(8) // ~3,800 rows: dozens of segments at this budget, in seconds per run
	ref := mustStack(t, localstack.Options{})
	want := dropAndWait(t, ref, sampleObject(), data)
	wantClean, wantRejects := partsData(t, ref, want, "clean"), partsData(t, ref, want, "rejects")
	if want.StepState(run.Preprocess).Segments != 0 {
		t.Fatal("the reference run was segmented")
	}
	crashes := 0
	for _, seed := range []int64{1, 2} {
		ch := localstack.Chaos{Seed: seed, Budget: 2e6, EventCopies: 1, CrashRate: 0.2, MaxCrashes: 1}
		s := mustStack(t, localstack.Options{Chaos: &ch})
		r := dropAndWait(t, s, sampleObject(), data)
		if r.Status != run.Succeeded {
			t.Fatalf("seed %d: %s %+v", seed, r.Status, r.Error)
		}
		st := r.StepState(run.Preprocess)
		if st.Segments < 1 {
			t.Fatalf("seed %d: no segment: the budget forced no self-requeue", seed)
		}
		crashes += s.CrashedAttempts()[run.Preprocess]
		if got := partsData(t, s, r, "clean"); !bytes.Equal(got, wantClean) {
			t.Errorf("seed %d: clean output (%d bytes) differs from the unconstrained run's (%d bytes)", seed, len(got), len(wantClean))
		}
		if got := partsData(t, s, r, "rejects"); !bytes.Equal(got, wantRejects) {
			t.Errorf("seed %d: rejects differ from the unconstrained run's", seed)
		}
	}
	if crashes == 0 {
		t.Fatal("no preprocess attempt crashed in any seed: the test proved nothing about crashes")
	}
}

// An object no spec matches starts nothing.
func TestUnmatchedObjectIsIgnored(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{})
	ctx := context.Background()
	id, err := s.Drop(ctx, "incoming/notes.csv", []byte("a,b\n1,2\n"))
	if err != nil || id != "" {
		t.Fatalf("Drop = %q, %v", id, err)
	}
	// A file dropped after it runs to the end: by then the first event was handled.
	if r := dropAndWait(t, s, sampleObject(), sample.CSV); r.Status != run.Succeeded {
		t.Fatalf("sample run: %s", r.Status)
	}
	runs, err := s.App.Runs.List(ctx, "")
	if err != nil || len(runs) != 1 {
		t.Fatalf("%d runs for one matched and one unmatched object (%v)", len(runs), err)
	}
}
