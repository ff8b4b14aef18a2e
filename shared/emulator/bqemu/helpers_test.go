package bqemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
)

const (
	testProject = "p"
	testBucket  = "b"
)

// env is one emulator pair and real clients pointed at it.
type env struct {
	bq  *Server
	gcs *storage.Client
	c   *bigquery.Client
	ctx context.Context
}

// newEnv starts GCS and BigQuery emulators for one test.
func newEnv(t *testing.T, latency time.Duration) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	sc := gcsemutest.Start(t, testBucket)
	s, err := Start(Options{Storage: sc, JobLatency: latency})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	c, err := bigquery.NewClient(ctx, testProject, option.WithEndpoint(s.Endpoint()), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &env{bq: s, gcs: sc, c: c, ctx: ctx}
}

// put writes an object to the test bucket.
func (e *env) put(t *testing.T, name, content string) string {
	t.Helper()
	w := e.gcs.Bucket(testBucket).Object(name).NewWriter(e.ctx)
	if _, err := io.WriteString(w, content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("gs://%s/%s", testBucket, name)
}

// dataset creates a dataset through the client.
func (e *env) dataset(t *testing.T, id string) *bigquery.Dataset {
	t.Helper()
	ds := e.c.Dataset(id)
	if err := ds.Create(e.ctx, nil); err != nil {
		t.Fatal(err)
	}
	return ds
}

// csvRef is a CSV GCS reference with the usual options.
func csvRef(uri string, skip int64, schema bigquery.Schema) *bigquery.GCSReference {
	ref := bigquery.NewGCSReference(uri)
	ref.SourceFormat = bigquery.CSV
	ref.SkipLeadingRows = skip
	ref.Schema = schema
	return ref
}

// load runs a loader to completion and returns its final status; err is a
// transport or API error, not the job's.
func (e *env) load(t *testing.T, l *bigquery.Loader) *bigquery.JobStatus {
	t.Helper()
	job, err := l.Run(e.ctx)
	if err != nil {
		t.Fatalf("load run: %v", err)
	}
	st, err := job.Wait(e.ctx)
	if err != nil {
		t.Fatalf("load wait: %v", err)
	}
	return st
}

// mustLoad runs a loader that must succeed.
func (e *env) mustLoad(t *testing.T, l *bigquery.Loader) *bigquery.JobStatus {
	t.Helper()
	st := e.load(t, l)
	if st.Err() != nil {
		t.Fatalf("load failed: %v (errors %v)", st.Err(), st.Errors)
	}
	return st
}

// readAll reads a table (or partition) through the client.
func (e *env) readAll(t *testing.T, tbl *bigquery.Table) [][]bigquery.Value {
	t.Helper()
	it := tbl.Read(e.ctx)
	return drain(t, it)
}

func drain(t *testing.T, it *bigquery.RowIterator) [][]bigquery.Value {
	t.Helper()
	var out [][]bigquery.Value
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		out = append(out, row)
	}
}

// queryRows runs SQL through Query.Read (the jobs.query fast path).
func (e *env) queryRows(t *testing.T, sql string) [][]bigquery.Value {
	t.Helper()
	it, err := e.c.Query(sql).Read(e.ctx)
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return drain(t, it)
}

// count runs a COUNT(*) query and returns the number.
func (e *env) count(t *testing.T, sql string) int64 {
	t.Helper()
	rows := e.queryRows(t, sql)
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("query %q: got %v, want one value", sql, rows)
	}
	return rows[0][0].(int64)
}
