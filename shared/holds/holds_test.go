package holds

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/emulator/vertexemu"
	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/platform"
	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/predictor/vertex"
	"github.com/dropcast/dropcast/shared/run"
)

const (
	bk  = "vertex"
	mdl = "projects/p/locations/l/models/m"
)

func newGCS(t *testing.T) *storage.Client {
	t.Helper()
	c := gcsemutest.Start(t, "state")
	return c
}

func TestOnlyTheLastHolderUndeploysAndLateComersWait(t *testing.T) {
	ctx := context.Background()
	s := NewStore(newGCS(t), "state")
	a, b, c := Holder("run-a", 1), Holder("run-b", 1), Holder("run-c", 2)
	r, err := s.Acquire(ctx, bk, mdl, a)
	if err != nil || !r.Deployed || r.DeployedBy != a {
		t.Fatalf("first acquire: %+v, %v", r, err)
	}
	if r, err = s.Acquire(ctx, bk, mdl, b); err != nil || r.DeployedBy != a || len(r.Holders) != 2 {
		t.Fatalf("second acquire: %+v, %v", r, err)
	}
	if last, err := s.Release(ctx, bk, mdl, a); err != nil || last {
		t.Fatalf("release of a with b holding: undeploy=%v, %v", last, err)
	}
	if last, err := s.Release(ctx, bk, mdl, b); err != nil || !last {
		t.Fatalf("release of the last holder: undeploy=%v, %v", last, err)
	}
	if last, err := s.Release(ctx, bk, mdl, b); err != nil || !last {
		t.Fatalf("retried release of the claimant: undeploy=%v, %v", last, err)
	}
	// c arrives while b undeploys: it holds, but must wait.
	if r, err = s.Acquire(ctx, bk, mdl, c); err != nil || r.Undeploy == nil || r.Undeploy.By != b {
		t.Fatalf("acquire during undeploy: %+v, %v", r, err)
	}
	if err := s.SetUndeployOp(ctx, bk, mdl, b, "ops/1"); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishUndeploy(ctx, bk, mdl, b, true); err != nil {
		t.Fatal(err)
	}
	if r, err = s.Acquire(ctx, bk, mdl, c); err != nil || r.Undeploy != nil || !r.Deployed || r.DeployedBy != c {
		t.Fatalf("acquire after the undeploy: %+v, %v", r, err)
	}
	if got, err := s.Get(ctx, bk, mdl); err != nil || len(got.Holders) != 1 || got.Holders[c].IsZero() {
		t.Fatalf("record %+v, %v", got, err)
	}
}

func TestConcurrentHoldersElectExactlyOneUndeployer(t *testing.T) {
	ctx := context.Background()
	s := NewStore(newGCS(t), "state")
	var wg sync.WaitGroup
	var undeployers atomic.Int32
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			h := Holder("run-"+string(rune('a'+i)), 1)
			if _, err := s.Acquire(ctx, bk, mdl, h); err != nil {
				errs <- err
				return
			}
			last, err := s.Release(ctx, bk, mdl, h)
			if err != nil {
				errs <- err
			}
			if last {
				undeployers.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, bk, mdl)
	if err != nil {
		t.Fatal(err)
	}
	if undeployers.Load() != 1 || len(r.Holders) != 0 || r.Undeploy == nil {
		t.Fatalf("%d undeployers, record %+v; want exactly one claimant and no holder", undeployers.Load(), r)
	}
}

// vertexEnv is a Vertex AI emulator with a real backend on it.
func vertexEnv(t *testing.T, gcs *storage.Client) (*vertexemu.Server, predictor.Backend, string) {
	t.Helper()
	srv, err := vertexemu.Start(vertexemu.Options{
		Storage: gcs, Models: map[string]model.Predictor{"demo": model.Demo()},
		DeployLatency: 20 * time.Millisecond, UndeployLatency: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	b, err := vertex.New(context.Background(), vertex.Config{Project: srv.Project(), Location: srv.Location(), Storage: gcs}, platform.GRPCEmulator(srv.Addr(), "")...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return srv, b, srv.ModelName("demo")
}

func awaitOp(t *testing.T, b predictor.Backend, op string) {
	t.Helper()
	for op != "" {
		done, err := b.PollOperation(context.Background(), op)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSweepUndeploysModelsWhoseHoldersDied(t *testing.T) {
	ctx := context.Background()
	gcs := newGCS(t)
	s := NewStore(gcs, "state")
	srv, b, m := vertexEnv(t, gcs)
	backends := func(context.Context, string) (predictor.Backend, error) { return b, nil }
	alive, dead := Holder("run-alive", 1), Holder("run-dead", 3)
	live := func(h string) bool { return h == alive }

	for _, h := range []string{alive, dead} {
		if _, err := s.Acquire(ctx, bk, m, h); err != nil {
			t.Fatal(err)
		}
	}
	op, err := b.Deploy(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	awaitOp(t, b, op)

	// A live holder keeps the model deployed; the dead one is dropped.
	got, err := Sweep(ctx, s, backends, live, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("sweep with a live holder undeployed %v, %v", got, err)
	}
	r, _ := s.Get(ctx, bk, m)
	if _, ok := r.Holders[dead]; ok || len(r.Holders) != 1 || srv.DeployedModels() != 1 {
		t.Fatalf("after sweep: holders %v, %d deployed", r.Holders, srv.DeployedModels())
	}

	// Once the live holder's run ends too, the model goes — after the grace.
	live = func(string) bool { return false }
	if got, err := Sweep(ctx, s, backends, live, time.Hour); err != nil || len(got) != 0 {
		t.Fatalf("sweep within the grace undeployed %v, %v", got, err)
	}
	got, err = Sweep(ctx, s, backends, live, 0)
	if err != nil || len(got) != 1 || got[0] != bk+":"+m {
		t.Fatalf("sweep undeployed %v, %v; want the model", got, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.DeployedModels() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if srv.DeployedModels() != 0 {
		t.Fatal("the model is still deployed after the sweep")
	}
	// The next sweep finishes the claim.
	if _, err := Sweep(ctx, s, backends, live, 0); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Get(ctx, bk, m); r.Deployed || r.Undeploy != nil || len(r.Holders) != 0 {
		t.Fatalf("record after the undeploy: %+v", r)
	}
}

func TestSweepTakesOverAnUndeployWhoseClaimantDied(t *testing.T) {
	ctx := context.Background()
	gcs := newGCS(t)
	s := NewStore(gcs, "state")
	srv, b, m := vertexEnv(t, gcs)
	backends := func(context.Context, string) (predictor.Backend, error) { return b, nil }
	h := Holder("run-x", 1)
	if _, err := s.Acquire(ctx, bk, m, h); err != nil {
		t.Fatal(err)
	}
	op, err := b.Deploy(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	awaitOp(t, b, op)
	// x claims the undeploy and dies before calling Undeploy.
	if last, err := s.Release(ctx, bk, m, h); err != nil || !last {
		t.Fatalf("release: %v, %v", last, err)
	}
	if got, err := Sweep(ctx, s, backends, func(string) bool { return true }, 0); err != nil || len(got) != 0 {
		t.Fatalf("sweep while the claimant lives: %v, %v", got, err)
	}
	got, err := Sweep(ctx, s, backends, func(string) bool { return false }, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("sweep after the claimant died: %v, %v", got, err)
	}
	r, _ := s.Get(ctx, bk, m)
	if r.Undeploy == nil || r.Undeploy.By != SweeperHolder || r.Undeploy.Op == "" {
		t.Fatalf("claim %+v, want the sweeper's with an operation", r.Undeploy)
	}
	awaitOp(t, b, r.Undeploy.Op)
	if settled, err := s.Settle(ctx, b, bk, m); err != nil || !settled || srv.DeployedModels() != 0 {
		t.Fatalf("settle: %v, %v; %d deployed", settled, err, srv.DeployedModels())
	}
}

func TestLiveFollowsRunRecords(t *testing.T) {
	ctx := context.Background()
	gcs := newGCS(t)
	runs := run.NewStore(gcs, "state")
	now := time.Now()
	running := run.New("p-running", "p", run.Source{Bucket: "b", Object: "o"}, "", run.Plan, now)
	done := run.New("p-done", "p", run.Source{Bucket: "b", Object: "o2"}, "", run.Plan, now)
	done.Status = run.Succeeded
	for _, r := range []*run.Run{running, done} {
		if err := runs.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	live := Live(ctx, runs)
	cases := map[string]bool{
		Holder("p-running", 1): true,
		Holder("p-running", 2): false, // another epoch
		Holder("p-done", 1):    false,
		Holder("p-missing", 1): false,
		SweeperHolder:          false,
	}
	for h, want := range cases {
		if got := live(h); got != want {
			t.Errorf("live(%q) = %v, want %v", h, got, want)
		}
	}
	if id, e, err := ParseHolder(Holder("purch-20260426-ab-e", 12)); err != nil || id != "purch-20260426-ab-e" || e != 12 {
		t.Errorf("ParseHolder round trip: %q %d %v", id, e, err)
	}
}

// TestOneModelNamedByProjectIDAndNumberHasOneRecord holds a model under the
// name a spec wrote (project ID) and under the name the service answers
// with (project number): the holders are one set, so the first to leave
// does not undeploy the model the other still uses.
func TestOneModelNamedByProjectIDAndNumberHasOneRecord(t *testing.T) {
	ctx := context.Background()
	s := NewStore(newGCS(t), "state")
	byID, byNumber := "projects/my-project/locations/l/models/m", "projects/123456789012/locations/l/models/m"
	a, b := Holder("run-a", 1), Holder("run-b", 1)
	if _, err := s.Acquire(ctx, bk, byID, a); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Acquire(ctx, bk, byNumber, b); err != nil || len(r.Holders) != 2 {
		t.Fatalf("second holder by number: %+v, %v", r, err)
	}
	if last, err := s.Release(ctx, bk, byID, a); err != nil || last {
		t.Fatalf("release of a while b holds by number: undeploy=%v, %v", last, err)
	}
	if _, err := s.Acquire(ctx, bk, "projects/my-project/locations/other/models/m", a); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Get(ctx, bk, byNumber); err != nil || len(r.Holders) != 1 {
		t.Fatalf("a model in another location shares the record: %+v, %v", r, err)
	}
}
