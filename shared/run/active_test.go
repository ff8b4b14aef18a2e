package run

import (
	"context"
	"testing"

	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
)

// marks returns run id's marker, if any.
func marks(t *testing.T, s *Store, id string) (Marker, bool) {
	t.Helper()
	ms, err := s.Active(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.ID == id {
			return m, true
		}
	}
	return Marker{}, false
}

// A mark is cleared only for the epoch that ended: a later epoch's mark (a
// rerun) survives a late clear or a late re-mark of an earlier epoch, and a
// marker written again after it was listed survives ClearMarker.
func TestActiveMarkIsClearedOnlyForTheEpochThatEnded(t *testing.T) {
	ctx := context.Background()
	s := NewStore(gcsemutest.Start(t, "state"), "state")
	const id = "p-20260426-0123456789abcdef"
	if err := s.MarkActive(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	listed, _ := marks(t, s, id)
	if err := s.MarkActive(ctx, id, 2); err != nil { // a rerun
		t.Fatal(err)
	}
	if err := s.MarkActive(ctx, id, 1); err != nil { // a late duplicate event
		t.Fatal(err)
	}
	if m, ok := marks(t, s, id); !ok || m.Epoch != 2 {
		t.Fatalf("marker %+v %v, want epoch 2", m, ok)
	}
	if err := s.ClearActive(ctx, id, 1); err != nil { // epoch 1's late announcement
		t.Fatal(err)
	}
	if err := s.ClearMarker(ctx, listed); err != nil { // a sweep that listed epoch 1's mark
		t.Fatal(err)
	}
	if _, ok := marks(t, s, id); !ok {
		t.Fatal("epoch 2's mark was cleared for epoch 1")
	}
	if err := s.ClearActive(ctx, id, 2); err != nil {
		t.Fatal(err)
	}
	if m, ok := marks(t, s, id); ok {
		t.Fatalf("epoch 2 ended, marker %+v left", m)
	}
	if err := s.ClearActive(ctx, id, 2); err != nil {
		t.Fatalf("clearing a missing mark: %v", err)
	}
}
