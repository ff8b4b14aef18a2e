package bqemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
)

// TestBQCommandLine drives the emulator with Google's own bq tool, a client
// nobody here wrote. It is skipped when bq is not installed or cannot run
// offline with a placeholder access token.
func TestBQCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("bq takes seconds to start")
	}
	t.Parallel() // mostly waiting for the Python process to start
	bqPath, err := exec.LookPath("bq")
	if err != nil {
		t.Skip("bq not installed")
	}
	e, tbl, uri := salesEnv(t)
	e.mustLoad(t, partitionLoader(e, tbl, "20260426", uri, bigquery.WriteAppend))
	real, err := filepath.EvalSymlinks(bqPath)
	if err != nil {
		t.Skipf("resolve bq: %v", err)
	}
	// bq fetches its discovery document from --api unless given a file; the
	// SDK ships one.
	discovery := filepath.Join(filepath.Dir(real), "..", "platform", "bq", "discovery_next", "bigquery.json")
	if _, err := os.Stat(discovery); err != nil {
		t.Skipf("bq discovery document not found: %v", err)
	}
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("emulator-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bqPath, append([]string{"--api=" + e.bq.URL(), "--project_id=p", "--format=json", "--quiet", "--discovery_file=" + discovery}, args...)...)
		cmd.Env = append(os.Environ(),
			"CLOUDSDK_CONFIG="+filepath.Join(dir, "gcloud"),
			"CLOUDSDK_AUTH_ACCESS_TOKEN_FILE="+token,
			"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
			"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true",
		)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("query", "--use_legacy_sql=false", "SELECT COUNT(*) AS n FROM d.sales WHERE _PARTITIONDATE = '2026-04-26'")
	if err != nil && (strings.Contains(out, "discovery url") || strings.Contains(out, "active account") || strings.Contains(out, "credentials")) {
		t.Skipf("bq cannot run offline here: %v: %s", err, out)
	}
	if err != nil {
		t.Fatalf("bq query: %v: %s", err, out)
	}
	if !strings.Contains(strings.ReplaceAll(out, " ", ""), `"n":"3"`) {
		t.Fatalf("bq query output: %s", out)
	}
}
