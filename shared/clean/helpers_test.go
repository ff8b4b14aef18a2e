package clean

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"testing"

	"github.com/dropcast/dropcast/shared/schema"
	"gopkg.in/yaml.v3"
)

// bytesOpener serves data like a range read of an object.
func bytesOpener(data []byte) Opener {
	return func(_ context.Context, off int64) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data[off:])), nil
	}
}

// parseSchema reads a YAML schema or fails the test.
func parseSchema(t testing.TB, y string) *schema.Schema {
	t.Helper()
	var s schema.Schema
	if err := yaml.Unmarshal([]byte(y), &s); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return &s
}

// result is one whole run's output.
type result struct {
	clean, rejects string
	cp             Checkpoint
	err            error
}

// runAll cleans data in one segment.
func runAll(t testing.TB, s *schema.Schema, file string, data []byte) result {
	t.Helper()
	c, err := New(s, file)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var out, rej bytes.Buffer
	cp, err := c.Segment(context.Background(), bytesOpener(data), Checkpoint{}, &out, &rej, nil)
	return result{out.String(), rej.String(), cp, err}
}

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
