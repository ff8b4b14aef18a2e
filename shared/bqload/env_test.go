package bqload

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/dropcast/dropcast/shared/emulator/bqemu"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
)

const (
	project = "p"
	bucket  = "work"
)

// env is a BigQuery and a Cloud Storage emulator, the real BigQuery client
// and dataset "d".
type env struct {
	ctx context.Context
	bq  *bigquery.Client
	emu *bqemu.Server
	put func(t *testing.T, name, content string) string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	sc := gcsemutest.Start(t, bucket)
	emu, err := bqemu.Start(bqemu.Options{Storage: sc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	c, err := bigquery.NewClient(ctx, project, option.WithEndpoint(emu.Endpoint()), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Dataset("d").Create(ctx, &bigquery.DatasetMetadata{Location: "US"}); err != nil {
		t.Fatal(err)
	}
	put := func(t *testing.T, name, content string) string {
		t.Helper()
		w := sc.Bucket(bucket).Object(name).NewWriter(ctx)
		if _, err := io.WriteString(w, content); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return "gs://" + bucket + "/" + name
	}
	return &env{ctx: ctx, bq: c, emu: emu, put: put}
}

// specSchema is a small spec: id INT64 required, day DATE required, note STRING.
var specSchema = bigquery.Schema{
	{Name: "id", Type: "INT64", Required: true},
	{Name: "day", Type: bigquery.DateFieldType, Required: true},
	{Name: "note", Type: bigquery.StringFieldType},
}

// request is a load of uri into d.t.
func request(mode, date, jobID, uri string) Request {
	return Request{
		Table: Table{project, "d", "t"}, Schema: specSchema, WriteMode: mode, FileDate: date,
		SourceURIs: []string{uri}, JobID: jobID,
	}
}

// run loads and polls the job to its end, as the step does across invocations.
func (e *env) run(t *testing.T, r Request) Status {
	t.Helper()
	j, err := Load(e.ctx, e.bq, r)
	if err != nil {
		t.Fatalf("load %s: %v", r.JobID, err)
	}
	for {
		st, err := CheckJob(e.ctx, e.bq, j)
		if err != nil {
			t.Fatalf("check %s: %v", r.JobID, err)
		}
		if st.Done {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mustRun is run for a load that must succeed.
func (e *env) mustRun(t *testing.T, r Request) int64 {
	t.Helper()
	st := e.run(t, r)
	if st.Err != nil {
		t.Fatalf("load %s failed: %v", r.JobID, st.Err)
	}
	return st.Rows
}

// count runs a COUNT(*) query through the client.
func (e *env) count(t *testing.T, sql string) int64 {
	t.Helper()
	it, err := e.bq.Query(sql).Read(e.ctx)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var row []bigquery.Value
	if err := it.Next(&row); err != nil && !errors.Is(err, iterator.Done) {
		t.Fatalf("%s: %v", sql, err)
	}
	return row[0].(int64)
}

func (e *env) partition(t *testing.T, date string) int64 {
	t.Helper()
	return e.count(t, "SELECT COUNT(*) FROM `p.d.t` WHERE _PARTITIONTIME = TIMESTAMP('"+date+"')")
}
