package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// mustStack starts a local stack for one test.
func mustStack(t *testing.T, opts localstack.Options) *localstack.Stack {
	t.Helper()
	if opts.Latency == 0 {
		opts.Latency = 50 * time.Millisecond
	}
	s, err := localstack.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	recordIAM(s)
	return s
}

// dropAndWait drops data as object and waits for its run to end.
func dropAndWait(t *testing.T, s *localstack.Stack, object string, data []byte) *run.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	id, err := s.Drop(ctx, object, data)
	if err != nil {
		t.Fatal(err)
	}
	if id == "" {
		t.Fatalf("no spec matches %s", object)
	}
	r, err := s.Wait(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readObject reads gs://bucket/object through the stack's storage client.
func readObject(t *testing.T, s *localstack.Stack, uri string) []byte {
	t.Helper()
	bucket, name, err := gcsuri.Split(uri)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Storage.Bucket(bucket).Object(name).NewReader(context.Background())
	if err != nil {
		t.Fatalf("read %s: %v", uri, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// results reads a run's results CSV as header + rows.
func results(t *testing.T, s *localstack.Stack, r *run.Run) ([]string, [][]string) {
	t.Helper()
	uri := r.Outputs["results"]
	if uri == "" {
		t.Fatalf("run %s records no results (outputs %v)", r.ID, r.Outputs)
	}
	recs, err := csv.NewReader(bytes.NewReader(readObject(t, s, uri))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs[0], recs[1:]
}

// comparable drops the columns that name the run (run ID and prediction
// time), keeping the data, the prediction and the source line.
func comparable(header []string, rows [][]string) []string {
	skip := map[int]bool{}
	for i, h := range header {
		if h == "run_id" || h == "predicted_at" {
			skip[i] = true
		}
	}
	out := make([]string, 0, len(rows))
	for _, row := range rows {
		var b strings.Builder
		for i, v := range row {
			if !skip[i] {
				b.WriteString(v)
				b.WriteByte('|')
			}
		}
		out = append(out, b.String())
	}
	return out
}

// queryInt runs a query returning one integer through the real BigQuery client.
func queryInt(t *testing.T, s *localstack.Stack, sql string) int64 {
	t.Helper()
	it, err := s.App.Clients.BigQuery.Query(sql).Read(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var row []bigquery.Value
	if err := it.Next(&row); err != nil && err != iterator.Done {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(row) != 1 {
		t.Fatalf("%s: got %v", sql, row)
	}
	return row[0].(int64)
}

// objectNames lists the objects under gs://bucket/prefix, in name order.
func objectNames(t *testing.T, s *localstack.Stack, bucket, prefix string) []string {
	t.Helper()
	names, err := gcsuri.List(context.Background(), s.Storage.Bucket(bucket), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// bigSample repeats the sample's data rows n times: a larger file with the
// same shape (quoted newlines, bad rows).
func bigSample(n int) []byte {
	header, body, _ := bytes.Cut(sample.CSV, []byte("\r\n"))
	var b bytes.Buffer
	b.Write(header)
	b.WriteString("\r\n")
	for range n {
		b.Write(body)
	}
	return b.Bytes()
}

func sampleObject() string { return "incoming/" + sample.FileName }

func specWith(old, new string) map[string][]byte {
	return map[string][]byte{sample.SpecName: bytes.Replace(sample.Spec, []byte(old), []byte(new), 1)}
}
