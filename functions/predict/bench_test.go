package predict

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/batching"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu"
	"github.com/dropcast/dropcast/shared/emulator/vertexemu"
	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/platform"
	"github.com/dropcast/dropcast/shared/predictor/vertex"
)

// writeCleanPart writes a clean part of the sample spec with n valid rows,
// row keys from first.
func writeCleanPart(t testing.TB, gcs *storage.Client, bucket, object string, first, n int) {
	t.Helper()
	cats := []string{"grocery", "apparel", "electronics", "home", "toys"}
	var b bytes.Buffer
	fmt.Fprintln(&b, "date,store_id,item_id,category,price,quantity,promo,note,dropcast_row")
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "2026-04-26,%d,SKU-%05d,%s,%d.%02d,%d,%t,\"note, %d\",%d\n", 1+i%7, i, cats[i%5], 5+i%300, i%100, 1+i%4, i%3 == 0, i, i)
	}
	w := gcs.Bucket(bucket).Object(object).NewWriter(context.Background())
	if _, err := w.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkOnline predicts 20,000 rows (two clean parts) online against the
// Vertex AI emulator, each call taking 20ms + 0.05ms per row, through the
// production backend (which sends at most 100 instances per RPC, so a batch
// of n rows is ceil(n/100) RPCs in a row), with a 100ms latency target:
// a fixed batch of 1000 takes ~250ms and overshoots it. Scenarios: clean,
// and rate-limited (5% of RPCs refused for quota, as near a quota limit).
//
//	go test -run '^$' -bench BenchmarkOnline -benchtime 1x ./functions/predict
func BenchmarkOnline(b *testing.B) {
	const rows = 20000
	ctx := context.Background()
	g, err := gcsemu.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	g.CreateBucket("work")
	gcs, err := g.Client(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer gcs.Close()
	srv, err := vertexemu.Start(vertexemu.Options{
		Storage: gcs, Models: map[string]model.Predictor{"demo": model.Demo()},
		PredictBaseLatency: 20 * time.Millisecond, PredictPerRowLatency: 50 * time.Microsecond,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	be, err := vertex.New(ctx, vertex.Config{Project: srv.Project(), Location: srv.Location(), Storage: gcs}, platform.GRPCEmulator(srv.Addr(), "")...)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	m := srv.ModelName("demo")
	op, err := be.Deploy(ctx, m)
	if err != nil {
		b.Fatal(err)
	}
	for done := op == ""; !done; time.Sleep(5 * time.Millisecond) {
		if done, err = be.PollOperation(ctx, op); err != nil {
			b.Fatal(err)
		}
	}
	writeCleanPart(b, gcs, "work", "clean/part-00000.csv", 0, rows/2)
	writeCleanPart(b, gcs, "work", "clean/part-00001.csv", rows/2, rows/2)
	parts, err := cleanParts(ctx, gcs, "work", "clean/")
	if err != nil {
		b.Fatal(err)
	}

	target := 100 * time.Millisecond
	sizers := []struct {
		name string
		cfg  batching.Config
	}{
		{"fixed-1", batching.Config{Target: target, Min: 1, Max: 1}},
		{"fixed-1000", batching.Config{Target: target, Min: 1000, Max: 1000}},
		{"adaptive", batching.Config{Target: target}},
	}
	scenarios := []struct {
		name   string
		faults vertexemu.Faults
	}{
		{"clean", vertexemu.Faults{}},
		{"ratelimited", vertexemu.Faults{Seed: 1, QuotaErrorRate: 0.05}},
	}
	for _, sc := range scenarios {
		for _, sz := range sizers {
			b.Run(sc.name+"/"+sz.name, func(b *testing.B) {
				var calls, throttles, size int64
				for i := range b.N {
					srv.SetFaults(sc.faults)
					sizer, err := batching.New(sz.cfg, batching.State{})
					if err != nil {
						b.Fatal(err)
					}
					l := &loop{
						backend: be, gcs: gcs, model: m, bucket: "work", parts: parts,
						outDir: fmt.Sprintf("gs://work/out/%s/%s/%d/", sc.name, sz.name, i),
						sizer:  sizer, deadline: time.Now().Add(time.Hour),
						save: func(context.Context, Progress) error { return nil },
					}
					var p Progress
					why, _, err := l.run(ctx, &p)
					if err != nil || why != finished || p.Rows != rows {
						b.Fatalf("stopped (%d) after %d rows: %v", why, p.Rows, err)
					}
					calls, throttles, size = calls+p.Calls, throttles+p.Throttles, int64(sizer.Size())
				}
				b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
				b.ReportMetric(float64(throttles)/float64(b.N), "throttles/op")
				b.ReportMetric(float64(size), "final-batch")
			})
		}
	}
}
