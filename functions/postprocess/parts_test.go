package postprocess

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/predictor/tabular"
)

// bucket is a fresh bucket on a Cloud Storage emulator, through the real client.
func bucket(t *testing.T) *storage.BucketHandle {
	t.Helper()
	c := gcsemutest.Start(t, "b")
	return c.Bucket("b")
}

func put(t *testing.T, b *storage.BucketHandle, name, data string) {
	t.Helper()
	w := b.Object(name).NewWriter(context.Background())
	if _, err := io.WriteString(w, data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, b *storage.BucketHandle, name string) string {
	t.Helper()
	r, err := b.Object(name).NewReader(context.Background())
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestComposeConcatenatesManyPartsInOrderAndRepeats(t *testing.T) {
	ctx := context.Background()
	b := bucket(t)
	var srcs []string
	var want strings.Builder
	for i := range 2*MaxCompose + 5 { // needs a level of intermediate objects
		name := fmt.Sprintf("tmp/part-%05d.csv", i)
		put(t, b, name, fmt.Sprintf("%d\n", i))
		srcs = append(srcs, name)
		fmt.Fprintf(&want, "%d\n", i)
	}
	if len(srcs) <= MaxCompose {
		t.Fatalf("%d parts do not need a compose tree", len(srcs))
	}
	for range 2 { // a repeated compose writes the same object
		if err := compose(ctx, b, srcs, "out/results.csv", "tmp/"); err != nil {
			t.Fatal(err)
		}
		if got := get(t, b, "out/results.csv"); got != want.String() {
			t.Fatalf("composed %q, want %q", got, want.String())
		}
	}
	if err := removeAll(ctx, b, "tmp/"); err != nil {
		t.Fatal(err)
	}
	left, err := gcsuri.List(ctx, b, "tmp/")
	if err != nil || len(left) != 0 {
		t.Fatalf("left behind %v (%v)", left, err)
	}
	if err := removeAll(ctx, b, "tmp/"); err != nil {
		t.Fatalf("removing nothing: %v", err)
	}
}

// tabularOutput reads prediction files in the tabular layout, as both
// backends do; postprocess calls nothing else of a backend here.
type tabularOutput struct {
	predictor.Backend
	gcs *storage.Client
}

func (o tabularOutput) OpenOutput(ctx context.Context, out predictor.Output, file string) (predictor.OutputReader, error) {
	return tabular.Open(ctx, o.gcs, out, file)
}

func TestWritePartShapesEachPredictionRowInTheFilesOrder(t *testing.T) {
	ctx := context.Background()
	gcs := gcsemutest.Start(t, "b")
	b := gcs.Bucket("b")
	// Columns in another order than the input's, rows not in line order.
	put(t, b, "out/predictions_1.csv", "dropcast_row,store_id,note,returned_false_score,returned_true_score\n"+
		"3,2,plain,0.75,0.25\n"+
		"2,1,\"=a,b\",0.4,0.6\n")
	out := predictor.Output{Dir: "gs://b/out", Input: []string{"note", "store_id", "dropcast_row"}}
	l, err := NewLayout(pipeline(t, "results:\n  columns: [{name: store_id, as: store}, {name: note}]\n  neutralize_formulas: true\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	meta := metadata{"run", "gs://in/f.csv", "m", "2026-04-26 00:00:00.000000 UTC"}
	backend := tabularOutput{gcs: gcs}
	for i, header := range []bool{true, false} {
		dst := fmt.Sprintf("parts/part-%05d.csv", i)
		n, err := writePart(ctx, backend, out, "gs://b/out/predictions_1.csv", b.Object(dst), l, meta, header)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("%d rows, want 2", n)
		}
		want := "2,plain,false,0.75,run,gs://in/f.csv,m,2026-04-26 00:00:00.000000 UTC,3\n" +
			"1,\"'=a,b\",true,0.6,run,gs://in/f.csv,m,2026-04-26 00:00:00.000000 UTC,2\n"
		if header {
			want = "store,note,prediction,score,run_id,source_file,model,predicted_at,source_line\n" + want
		}
		if got := get(t, b, dst); got != want {
			t.Errorf("part %d:\n%s\nwant:\n%s", i, got, want)
		}
	}
}

func TestWritePartRefusesAnUnknownClassAndABadRowKey(t *testing.T) {
	ctx := context.Background()
	gcs := gcsemutest.Start(t, "b")
	b := gcs.Bucket("b")
	put(t, b, "out/predictions_1.csv", "note,dropcast_row,returned_maybe_score,returned_no_score\nx,2,0.5,0.5\n")
	put(t, b, "out/predictions_2.csv", "note,dropcast_row,returned_false_score,returned_true_score\nx,two,0.5,0.5\n")
	out := predictor.Output{Dir: "gs://b/out", Input: []string{"note", "dropcast_row"}}
	l, err := NewLayout(pipeline(t, "results:\n  columns: [{name: note}]\n  scores: all\n"), []string{"false", "true"})
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"gs://b/out/predictions_1.csv", "gs://b/out/predictions_2.csv"} {
		_, err := writePart(ctx, tabularOutput{gcs: gcs}, out, file, b.Object("part"), l, metadata{}, true)
		var je *joinError
		if !errors.As(err, &je) {
			t.Errorf("%s: err = %v, want a permanent joinError", file, err)
		}
	}
	if _, err := b.Object("part").Attrs(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Errorf("a failed part was stored: %v", err)
	}
}
