// Package gcsemutest starts the in-process Cloud Storage emulator for a test
// and hands back a real storage client, both closed when the test ends.
package gcsemutest

import (
	"context"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/emulator/faultproxy"
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

// StartBehindProxy runs an emulator with buckets created behind a
// fault-injecting proxy and returns a client of the proxy, and the proxy
// (to lose the next writes' answers, say).
func StartBehindProxy(tb testing.TB, faults faultproxy.Faults, buckets ...string) (*storage.Client, *faultproxy.Proxy) {
	tb.Helper()
	srv, err := gcsemu.Start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	for _, b := range buckets {
		srv.CreateBucket(b)
	}
	proxy, err := faultproxy.Start(srv.URL(), faults)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { proxy.Close() })
	c, err := gcsemu.NewClient(context.Background(), proxy.URL()+"/storage/v1/")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c, proxy
}
