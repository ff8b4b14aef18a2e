// Package gcsemutest starts the in-process Cloud Storage emulator for a test
// and hands back a real storage client, both closed when the test ends.
package gcsemutest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
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

// childBuckets, in a test binary's environment, makes ServeIfChild serve
// the emulator with these buckets (comma-separated) instead of the tests.
const childBuckets = "DROPCAST_GCSEMU_CHILD_BUCKETS"

// ServeIfChild, called first in a TestMain, turns the test binary started
// by StartProcess into the emulator: it serves until its stdin closes, then
// exits. In any other process it returns at once.
func ServeIfChild() {
	buckets, ok := os.LookupEnv(childBuckets)
	if !ok {
		return
	}
	srv, err := gcsemu.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, b := range strings.Split(buckets, ",") {
		srv.CreateBucket(b)
	}
	fmt.Println(srv.Endpoint())
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
	os.Exit(0)
}

// StartProcess runs an emulator with buckets in a process of its own (the
// test binary again, whose TestMain calls ServeIfChild), so that its
// objects stay out of the heap a test measures, and returns its endpoint
// (config.Config.StorageEndpoint). It stops when the test ends.
func StartProcess(tb testing.TB, buckets ...string) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childBuckets+"="+strings.Join(buckets, ","))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	endpoint, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("storage emulator process: %v", err)
	}
	return strings.TrimSpace(endpoint)
}
