package gcsuri

import (
	"context"
	"slices"
	"testing"

	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
)

func TestSplit(t *testing.T) {
	b, o, err := Split("gs://bkt/a/b.csv")
	if err != nil || b != "bkt" || o != "a/b.csv" {
		t.Fatalf("Split = %q %q %v", b, o, err)
	}
	for _, bad := range []string{"s3://b/o", "gs:///o", "bkt/o"} {
		if _, _, err := Split(bad); err == nil {
			t.Errorf("Split(%q) accepted", bad)
		}
	}
}

func TestExpand(t *testing.T) {
	c := gcsemutest.Start(t, "b")
	ctx := context.Background()
	for _, name := range []string{"run/clean/part-00001.csv", "run/clean/part-00000.csv", "run/clean/x/part-9.csv", "run/rejects/part-00000.csv"} {
		w := c.Bucket("b").Object(name).NewWriter(ctx)
		w.Write([]byte("a\n"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	_, got, err := Expand(ctx, c, "gs://b/run/clean/part-*")
	if err != nil || !slices.Equal(got, []string{"run/clean/part-00000.csv", "run/clean/part-00001.csv"}) {
		t.Fatalf("Expand = %v, %v", got, err)
	}
	_, got, _ = Expand(ctx, c, "gs://b/run/*/part-*.csv")
	if len(got) != 4 {
		t.Fatalf("a wildcard must match across /: %v", got)
	}
	_, got, _ = Expand(ctx, c, "gs://b/run/none-*")
	if len(got) != 0 {
		t.Fatalf("matched %v", got)
	}
}
