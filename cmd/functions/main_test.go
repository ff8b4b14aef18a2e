package main

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/conformance"
)

// TestMain serves a function when the test binary is started as one (by
// startFunction), as cmd/functions itself would.
func TestMain(m *testing.M) {
	if os.Getenv("FUNCTION_TARGET") != "" {
		main()
		return
	}
	os.Exit(m.Run())
}

// startFunction starts this binary serving function target, configured by
// environment variables only, and returns its URL.
func startFunction(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{
		"FUNCTION_TARGET=" + target, "PORT=" + port, "LOCAL_ONLY=true",
		"DROPCAST_PROJECT=p", "DROPCAST_INBOX_BUCKET=inbox", "DROPCAST_STATE_BUCKET=state",
		"DROPCAST_WORK_BUCKET=work", "DROPCAST_RESULTS_BUCKET=results", "DROPCAST_SPECS=gs://state/specs/",
		"DROPCAST_TASKS_QUEUE=projects/p/locations/l/queues/q", "DROPCAST_STEP_BASE_URL=http://127.0.0.1:1",
		// Nothing listens there: the event below needs no call.
		"DROPCAST_STORAGE_ENDPOINT=http://127.0.0.1:1/storage/v1/", "DROPCAST_TASKS_ENDPOINT=127.0.0.1:1",
		"DROPCAST_BIGQUERY_ENDPOINT=http://127.0.0.1:1/bigquery/v2/", "DROPCAST_PUBSUB_ENDPOINT=127.0.0.1:1",
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s process output:\n%s", target, stderr.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
	}
	t.Fatalf("%s: nothing listens on %s", target, addr)
	return ""
}

// TestConformanceBinaryContentMode: the deployable bundle serves a
// CloudEvent function (ingest) to an HTTP POST in binary content mode, the
// way Eventarc delivers (fixture eventarc-binary-content-mode), and refuses
// a request that is no CloudEvent. The event names an object outside the
// inbox bucket, which ingest acknowledges without a call.
func TestConformanceBinaryContentMode(t *testing.T) {
	f := conformance.Load(t, "eventarc-binary-content-mode")
	url := startFunction(t, "ingest")
	post := func(skip string) int {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(f.MustFile(t, "data.json")))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(f.MustFile(t, "headers.txt")))
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ": ")
			if k != skip {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != http.StatusOK {
		t.Errorf("binary-mode event: HTTP %d, want 200", code)
	}
	if code := post("ce-specversion"); code/100 != 4 {
		t.Errorf("a request without ce-specversion: HTTP %d, want 4xx", code)
	}
}
