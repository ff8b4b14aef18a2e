package postprocess

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/predictor"
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

func TestJoinPartWritesOneRowPerPredictedCleanRow(t *testing.T) {
	ctx := context.Background()
	b := bucket(t)
	put(t, b, "clean/part-00000.csv", "note,store_id,dropcast_row\r\n\"=a,b\",1,2\r\nplain,2,3\r\nno prediction,3,4\r\n")
	l, err := NewLayout(pipeline(t, "results:\n  columns: [{name: store_id, as: store}, {name: note}]\n  neutralize_formulas: true\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ix := &index{rows: map[int64]entry{}, classID: map[string]int{}}
	for _, p := range []predictor.Prediction{
		{RowKey: "3", Label: "false", Score: 0.75, Scores: map[string]float64{"false": 0.75, "true": 0.25}},
		{RowKey: "2", Label: "true", Score: 0.5, Scores: map[string]float64{"false": 0.5, "true": 0.5}},
	} {
		if err := ix.add(p); err != nil {
			t.Fatal(err)
		}
	}
	meta := metadata{"run", "gs://in/f.csv", "m", "2026-04-26 00:00:00.000000 UTC"}
	for i, header := range []bool{true, false} {
		out := fmt.Sprintf("parts/part-%05d.csv", i)
		n, err := joinPart(ctx, b.Object("clean/part-00000.csv"), b.Object(out), l, ix, meta, header)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("%d rows, want 2", n)
		}
		want := "1,'=a,b,true,0.5,run,gs://in/f.csv,m,2026-04-26 00:00:00.000000 UTC,2\n" +
			"2,plain,false,0.75,run,gs://in/f.csv,m,2026-04-26 00:00:00.000000 UTC,3\n"
		want = strings.Replace(want, "'=a,b", `"'=a,b"`, 1)
		if header {
			want = "store,note,prediction,score,run_id,source_file,model,predicted_at,source_line\n" + want
		}
		if got := get(t, b, out); got != want {
			t.Errorf("part %d:\n%s\nwant:\n%s", i, got, want)
		}
	}
}
