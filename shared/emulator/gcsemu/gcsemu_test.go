package gcsemu

import (
	"context"
	"errors"
	"io"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
)

func TestReadWriteAndPreconditions(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.CreateBucket("b")
	ctx := context.Background()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	obj := c.Bucket("b").Object("a/x.txt")
	w := obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	io.WriteString(w, "hello world")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	gen := w.Attrs().Generation
	w = obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	io.WriteString(w, "again")
	var gerr *googleapi.Error
	if err := w.Close(); !errors.As(err, &gerr) || gerr.Code != 412 {
		t.Fatalf("second create: got %v, want 412", err)
	}
	r, err := obj.NewRangeReader(ctx, 6, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "world" {
		t.Fatalf("range read = %q", b)
	}
	w = obj.If(storage.Conditions{GenerationMatch: gen + 1}).NewWriter(ctx)
	io.WriteString(w, "x")
	if err := w.Close(); !errors.As(err, &gerr) || gerr.Code != 412 {
		t.Fatalf("stale generation: got %v, want 412", err)
	}
}
