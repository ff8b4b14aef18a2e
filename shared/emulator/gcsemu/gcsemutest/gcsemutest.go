// Package gcsemutest starts the in-process Cloud Storage emulator for a test
// and hands back a real storage client, both closed when the test ends.
package gcsemutest

import (
	"context"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/emulator/gcsemu"
)

// Start runs an emulator with buckets created and returns a client of it.
func Start(tb testing.TB, buckets ...string) *storage.Client {
	tb.Helper()
	srv, err := gcsemu.Start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	for _, b := range buckets {
		srv.CreateBucket(b)
	}
	c, err := srv.Client(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}
