package run

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/emulator/faultproxy"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
)

// end ends run id's current epoch as the kernel does once its outcome is
// announced: succeeded, announced, its active mark cleared.
func end(t *testing.T, s *Store, id string) *Run {
	t.Helper()
	ctx := context.Background()
	r, err := s.Update(ctx, id, func(r *Run) error {
		for _, st := range r.Steps {
			st.Status = StepDone
		}
		r.Status, r.Announced, r.FinishedAt = Succeeded, true, time.Now()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ClearActive(ctx, id, r.Epoch); err != nil {
		t.Fatal(err)
	}
	return r
}

// A rerun refused because another rerun came first (and its epoch has
// ended and been announced since) leaves no active mark behind: nothing
// runs under it, and without a sweep it would stay in the index for good.
func TestRefusedRerunLeavesNoActiveMark(t *testing.T) {
	ctx := context.Background()
	gcs := gcsemutest.Start(t, "state")
	s := NewStore(gcs, "state")
	src := Source{Bucket: "inbox", Object: "incoming/20260426-120000.csv", Generation: 1}
	r := New(ID("p", src), "p", src, "20260426", Plan, time.Now())
	if err := s.MarkActive(ctx, r.ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	stale := end(t, s, r.ID) // what a backfill read
	if _, err := s.Rerun(ctx, gcs, stale, "", false, time.Now()); err != nil {
		t.Fatal(err) // the rerun that came first
	}
	end(t, s, r.ID) // its epoch 2 ends and is announced
	_, err := s.Rerun(ctx, gcs, stale, "", false, time.Now())
	if err == nil || !strings.Contains(err.Error(), "epoch 2 started meanwhile") {
		t.Fatalf("second rerun of epoch 1: %v, want refused", err)
	}
	if m, ok := marks(t, s, r.ID); ok {
		t.Fatalf("the refused rerun left active mark %+v for an ended, announced run", m)
	}
	if cur, err := s.Get(ctx, r.ID); err != nil || cur.Epoch != 2 || cur.Status != Succeeded {
		t.Fatalf("record after the refusal: %+v %v", cur, err)
	}
}

// A rerun whose record write lands but whose answer is lost finds, on its
// retry, the record it wrote itself: that is its own epoch, not another
// rerun's, and it returns it (so the caller enqueues the first task) instead
// of refusing.
func TestRerunWhoseRecordReplyIsLostReturnsItsOwnEpoch(t *testing.T) {
	ctx := context.Background()
	gcs, proxy := gcsemutest.StartBehindProxy(t, faultproxy.Faults{}, "state")
	s := NewStore(gcs, "state")
	src := Source{Bucket: "inbox", Object: "incoming/20260426-120000.csv", Generation: 1}
	r := New(ID("p", src), "p", src, "20260426", Plan, time.Now())
	if err := s.MarkActive(ctx, r.ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	ended := end(t, s, r.ID)
	// The next epoch's mark is already there, so the rerun's first write
	// is its record's: that one lands and its answer is lost.
	if err := s.MarkActive(ctx, r.ID, 2); err != nil {
		t.Fatal(err)
	}
	proxy.LoseNextWrites(1)
	after, err := s.Rerun(ctx, gcs, ended, "", false, time.Now())
	if err != nil {
		t.Fatalf("rerun with its record's reply lost: %v, want its own epoch 2", err)
	}
	if after.Epoch != 2 || after.Status != Running {
		t.Fatalf("rerun returned %+v, want epoch 2 running", after)
	}
	if st := proxy.Stats(); st.LostResponses == 0 {
		t.Fatalf("no reply was lost: %+v", st)
	}
}
