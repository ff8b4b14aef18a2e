package bqemu

// Conformance tests: each loads a documented form from
// shared/conformance/fixtures and checks that the emulator produces,
// accepts or refuses exactly that form, on the REST wire the real clients
// use. The rows of docs/fidelity-bigquery.md name them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/option"

	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
)

// wireEnv is an emulator with Cloud Storage bucket "work" (the bucket the
// fixtures name), dataset p.d in US, and raw HTTP access.
type wireEnv struct {
	*env
}

func newWireEnv(t *testing.T, opts Options) *wireEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	sc := gcsemutest.Start(t, "work")
	opts.Storage = sc
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := bigquery.NewClient(ctx, testProject, option.WithEndpoint(s.Endpoint()), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := &wireEnv{&env{bq: s, gcs: sc, c: c, ctx: ctx}}
	if err := c.Dataset("d").Create(ctx, &bigquery.DatasetMetadata{Location: "US"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// putWork writes an object to bucket "work".
func (e *wireEnv) putWork(t *testing.T, name, content string) {
	t.Helper()
	w := e.gcs.Bucket("work").Object(name).NewWriter(e.ctx)
	if _, err := io.WriteString(w, content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// call sends body (JSON, or nil) to path under the endpoint and decodes the
// JSON answer.
func (e *wireEnv) call(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.bq.Endpoint()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	if resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode, out
}

// decode parses a fixture file as JSON.
func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// sameShape reports where got lacks a key of want or holds another JSON
// kind there (arrays are compared by their first element).
func sameShape(want, got any, at string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, have %T", at, got)}
		}
		var out []string
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, at+"."+k+": missing")
				continue
			}
			out = append(out, sameShape(wv, gv, at+"."+k)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) == 0 {
			return []string{fmt.Sprintf("%s: want a non-empty array, have %v", at, got)}
		}
		if len(w) == 0 {
			return nil
		}
		return sameShape(w[0], g[0], at+"[0]")
	case nil:
		return nil // null in the document: any value, or null
	default:
		if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
			return []string{fmt.Sprintf("%s: want a %T, have %T (%v)", at, want, got, got)}
		}
		return nil
	}
}

// path reads a nested value: path(m, "error", "errors", 0, "reason").
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func lines(data []byte) []string {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// loadJob is a load job configuration for one file of bucket work into d.table.
func loadJob(id, uri, table string, fields []map[string]string) map[string]any {
	return map[string]any{
		"jobReference": map[string]any{"projectId": testProject, "jobId": id},
		"configuration": map[string]any{"load": map[string]any{
			"sourceUris": []string{uri}, "sourceFormat": "CSV", "skipLeadingRows": 1, "allowQuotedNewlines": true,
			"schema":           map[string]any{"fields": fields},
			"destinationTable": map[string]any{"projectId": testProject, "datasetId": "d", "tableId": table},
		}},
	}
}

// finish polls jobs.get until the job is DONE and returns its resource.
func (e *wireEnv) finish(t *testing.T, id string) map[string]any {
	t.Helper()
	for {
		code, job := e.call(t, "GET", "projects/p/jobs/"+id+"?location=US", nil)
		if code != 200 {
			t.Fatalf("jobs.get %s: %d %v", id, code, job)
		}
		if path(job, "status", "state") == "DONE" {
			return job
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// insert starts a job that BigQuery must accept.
func (e *wireEnv) insert(t *testing.T, job any) {
	t.Helper()
	if code, body := e.call(t, "POST", "projects/p/jobs", job); code != 200 {
		t.Fatalf("jobs.insert: %d %v", code, body)
	}
}

func TestConformanceErrorResponse(t *testing.T) {
	f := conformance.Load(t, "bigquery-error-response")
	want := decode(t, f.MustFile(t, "response.json"))
	e := newWireEnv(t, Options{})
	code, got := e.call(t, "GET", "projects/p/datasets/foo", nil)
	if code != 404 || path(got, "error", "code") != 404.0 || path(got, "error", "errors", 0, "reason") != path(want, "error", "errors", 0, "reason") {
		t.Fatalf("missing dataset: %d %v, want 404 notFound", code, got)
	}
	if d := sameShape(want, got, ""); len(d) > 0 {
		t.Fatalf("error body differs from the documented one: %v\n%v", d, got)
	}
}

func TestConformanceDuplicateJob(t *testing.T) {
	f := conformance.Load(t, "bigquery-duplicate-job")
	want := decode(t, f.MustFile(t, "response.json"))
	e := newWireEnv(t, Options{JobLatency: time.Second})
	job := loadJob("dropcast_r1_e1_load", "gs://work/a.csv", "t", []map[string]string{{"name": "id", "type": "INTEGER"}})
	e.insert(t, job)
	code, got := e.call(t, "POST", "projects/p/jobs", job)
	if code != 409 || path(got, "error", "code") != 409.0 || path(got, "error", "errors", 0, "reason") != "duplicate" {
		t.Fatalf("second insert: %d %v, want 409 duplicate", code, got)
	}
	if d := sameShape(want, got, ""); len(d) > 0 {
		t.Fatalf("error body differs from the documented one: %v", d)
	}
	if code, got := e.call(t, "GET", "projects/p/jobs/dropcast_r1_e1_load?location=US", nil); code != 200 || path(got, "jobReference", "jobId") != "dropcast_r1_e1_load" {
		t.Fatalf("the first job is not found after the duplicate: %d %v", code, got)
	}
}

func TestConformanceJobID(t *testing.T) {
	f := conformance.Load(t, "bigquery-job-id")
	e := newWireEnv(t, Options{})
	fields := []map[string]string{{"name": "id", "type": "INTEGER"}}
	valid := append(lines(f.MustFile(t, "valid.txt")), strings.Repeat("j", 1024))
	for _, id := range valid {
		if code, body := e.call(t, "POST", "projects/p/jobs", loadJob(id, "gs://work/a.csv", "t", fields)); code != 200 {
			t.Errorf("job ID %.40q refused: %d %v", id, code, body)
		}
	}
	invalid := append(lines(f.MustFile(t, "invalid.txt")), strings.Repeat("j", 1025))
	for _, id := range invalid {
		code, body := e.call(t, "POST", "projects/p/jobs", loadJob(id, "gs://work/a.csv", "t", fields))
		if code != 400 || path(body, "error", "errors", 0, "reason") != "invalid" {
			t.Errorf("job ID %.40q: %d %v, want 400 invalid", id, code, body)
		}
	}
}

func TestConformanceJobStates(t *testing.T) {
	f := conformance.Load(t, "bigquery-job-states")
	e := newWireEnv(t, Options{JobLatency: 300 * time.Millisecond})
	e.putWork(t, "a.csv", "id\n1\n")
	e.insert(t, loadJob("j", "gs://work/a.csv", "t", []map[string]string{{"name": "id", "type": "INTEGER"}}))
	documented := []string{"PENDING", "RUNNING", "DONE"}
	seen := map[string]map[string]any{}
	for {
		code, job := e.call(t, "GET", "projects/p/jobs/j?location=US", nil)
		if code != 200 {
			t.Fatalf("jobs.get: %d %v", code, job)
		}
		state, _ := path(job, "status", "state").(string)
		if !slices.Contains(documented, state) {
			t.Fatalf("state %q is not one of %v", state, documented)
		}
		if state != "DONE" && path(job, "status", "errorResult") != nil {
			t.Fatalf("a %s job has an errorResult: %v", state, job)
		}
		seen[state] = job
		if state == "DONE" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, state := range []string{"PENDING", "RUNNING"} {
		got, ok := seen[state]
		if !ok {
			t.Errorf("the job was never seen %s", state)
			continue
		}
		want := decode(t, f.MustFile(t, strings.ToLower(state)+".json"))
		if d := sameShape(want, got, ""); len(d) > 0 {
			t.Errorf("%s job differs from the documented one: %v", state, d)
		}
	}
}

func TestConformanceJobSucceeded(t *testing.T) {
	f := conformance.Load(t, "bigquery-job-succeeded")
	want := decode(t, f.MustFile(t, "job.json"))
	e := newWireEnv(t, Options{})
	e.putWork(t, "a.csv", "id\n1\n2\n3\n")
	e.insert(t, loadJob("j", "gs://work/a.csv", "t", []map[string]string{{"name": "id", "type": "INTEGER"}}))
	got := e.finish(t, "j")
	if path(got, "status", "errorResult") != nil {
		t.Fatalf("a successful load has an errorResult: %v", got)
	}
	if rows := path(got, "statistics", "load", "outputRows"); rows != "3" {
		t.Fatalf("outputRows = %#v, want the string \"3\"", rows)
	}
	if d := sameShape(want, got, ""); len(d) > 0 {
		t.Fatalf("job differs from the documented one: %v", d)
	}
}

func TestConformanceJobFailed(t *testing.T) {
	f := conformance.Load(t, "bigquery-job-failed")
	want := decode(t, f.MustFile(t, "job.json"))
	e := newWireEnv(t, Options{})
	e.putWork(t, "runs/r1/e1/clean/part-00000.csv", "id\n1\nseven\n")
	e.insert(t, loadJob("j", "gs://work/runs/r1/e1/clean/part-*", "t", []map[string]string{{"name": "id", "type": "INTEGER"}}))
	got := e.finish(t, "j")
	result, _ := path(got, "status", "errorResult").(map[string]any)
	if result == nil || result["reason"] == "" || result["message"] == "" {
		t.Fatalf("a failed load has no errorResult: %v", got)
	}
	errs, _ := path(got, "status", "errors").([]any)
	if len(errs) < 2 || path(errs, 1, "location") != "gs://work/runs/r1/e1/clean/part-00000.csv" {
		t.Fatalf("errors %v, want the bad row's error with its file", errs)
	}
	if d := sameShape(want, got, ""); len(d) > 0 {
		t.Fatalf("job differs from the documented one: %v", d)
	}
}

func TestConformanceJobRetryReasons(t *testing.T) {
	f := conformance.Load(t, "bigquery-job-retry-reasons")
	transient := lines(f.MustFile(t, "transient.txt"))
	codes := lines(f.MustFile(t, "backend-codes.txt"))
	e := newWireEnv(t, Options{})
	e.putWork(t, "a.csv", "id\n1\n")
	e.bq.SetFaults(Faults{FailJobs: 1})
	e.insert(t, loadJob("j", "gs://work/a.csv", "t", []map[string]string{{"name": "id", "type": "INTEGER"}}))
	reason, _ := path(e.finish(t, "j"), "status", "errorResult", "reason").(string)
	if !slices.Contains(transient, reason) {
		t.Errorf("an injected job failure has reason %q, not one BigQuery documents as worth a new job %v", reason, transient)
	}
	e.bq.SetFaults(Faults{ServerErrorRate: 1})
	code, body := e.call(t, "GET", "projects/p/datasets/d", nil)
	e.bq.SetFaults(Faults{})
	if !slices.Contains(codes, strconv.Itoa(code)) || path(body, "error", "errors", 0, "reason") != "backendError" {
		t.Errorf("an injected server error: %d %v, want backendError with one of %v", code, body, codes)
	}
}

func TestConformanceJobLocation(t *testing.T) {
	f := conformance.Load(t, "bigquery-job-location")
	want := decode(t, f.MustFile(t, "wrong-location.json"))
	e := newWireEnv(t, Options{JobLatency: time.Second})
	job := loadJob("dropcast_r1_e1_load", "gs://work/a.csv", "t", []map[string]string{{"name": "id", "type": "INTEGER"}})
	path(job, "jobReference").(map[string]any)["location"] = "europe-west1"
	e.insert(t, job)
	req := strings.TrimPrefix(strings.TrimSpace(string(f.MustFile(t, "request.txt"))), "GET /bigquery/v2/")
	if code, got := e.call(t, "GET", req, nil); code != 200 {
		t.Fatalf("GET %s: %d %v", req, code, got)
	}
	for _, q := range []string{"?location=US", ""} {
		code, got := e.call(t, "GET", "projects/p/jobs/dropcast_r1_e1_load"+q, nil)
		if code != 404 || path(got, "error", "errors", 0, "reason") != "notFound" {
			t.Errorf("jobs.get of a europe-west1 job with %q: %d %v, want 404 notFound", q, code, got)
		}
		if d := sameShape(want, got, ""); len(d) > 0 {
			t.Errorf("error body differs from the documented one: %v", d)
		}
	}
}

func TestConformanceLoadRequest(t *testing.T) {
	f := conformance.Load(t, "bigquery-load-request")
	e := newWireEnv(t, Options{})
	e.putWork(t, "runs/r1/e1/clean/part-00000.csv", "id,day,note\n1,2026-04-26,a\n2,2026-04-26,\"b, c\"\n")
	e.putWork(t, "runs/r1/e1/clean/part-00001.csv", "id,day,note\n3,2026-04-26,d\n")
	req := f.MustFile(t, "request.json")

	// CREATE_NEVER: a missing table is a notFound error in the job result.
	e.insert(t, req)
	if r := path(e.finish(t, "dropcast_r1_e1_load"), "status", "errorResult", "reason"); r != "notFound" {
		t.Fatalf("CREATE_NEVER into a missing table: reason %v, want notFound", r)
	}
	if err := e.c.Dataset("d").Table("t").Create(e.ctx, &bigquery.TableMetadata{
		Schema:           bigquery.Schema{{Name: "id", Type: "INTEGER", Required: true}, {Name: "day", Type: "DATE", Required: true}, {Name: "note", Type: "STRING"}},
		TimePartitioning: &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType},
	}); err != nil {
		t.Fatal(err)
	}
	retry := bytes.Replace(req, []byte(`"dropcast_r1_e1_load"`), []byte(`"dropcast_r1_e1_load_r1"`), 1)
	e.insert(t, retry)
	job := e.finish(t, "dropcast_r1_e1_load_r1")
	if path(job, "status", "errorResult") != nil || path(job, "statistics", "load", "outputRows") != "3" {
		t.Fatalf("the documented load: %v", job)
	}
	rows, err := e.bq.Rows(testProject, "d", "t$20260426")
	if err != nil || len(rows) != 3 || *rows[1].Values[2] != "b, c" {
		t.Fatalf("partition 20260426 holds %v (%v), want the 3 rows without headers", rows, err)
	}

	// Wildcards: one, after the bucket.
	for i, uri := range lines(f.MustFile(t, "bad-uris.txt")) {
		var cfg map[string]any
		if err := json.Unmarshal(req, &cfg); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("bad%d", i)
		path(cfg, "jobReference").(map[string]any)["jobId"] = id
		path(cfg, "configuration", "load").(map[string]any)["sourceUris"] = []string{uri}
		code, body := e.call(t, "POST", "projects/p/jobs", cfg)
		if code == 200 {
			body = e.finish(t, id)
			code = 400
			body = map[string]any{"error": map[string]any{"errors": []any{path(body, "status", "errorResult")}}}
		}
		if code != 400 || path(body, "error", "errors", 0, "reason") != "invalid" {
			t.Errorf("source URI %s: %d %v, want invalid", uri, code, body)
		}
	}
}

func TestConformanceWriteTruncateSchema(t *testing.T) {
	f := conformance.Load(t, "bigquery-write-truncate-schema")
	var tableSchema, jobSchema map[string]any
	if err := json.Unmarshal(f.MustFile(t, "table-schema.json"), &tableSchema); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(f.MustFile(t, "job-schema.json"), &jobSchema); err != nil {
		t.Fatal(err)
	}
	e := newWireEnv(t, Options{})
	if code, body := e.call(t, "POST", "projects/p/datasets/d/tables", map[string]any{
		"tableReference": map[string]any{"projectId": "p", "datasetId": "d", "tableId": "t"}, "schema": tableSchema,
		"timePartitioning": map[string]any{"type": "DAY"},
	}); code != 200 {
		t.Fatalf("tables.insert: %d %v", code, body)
	}
	e.putWork(t, "a.csv", "id,day,note\n1,2026-04-26,x\n")
	job := func(id, disposition, table string, schema map[string]any, options ...string) map[string]any {
		j := loadJob(id, "gs://work/a.csv", table, nil)
		load := path(j, "configuration", "load").(map[string]any)
		load["schema"] = schema
		load["writeDisposition"] = disposition
		if len(options) > 0 {
			load["schemaUpdateOptions"] = options
		}
		return j
	}
	// Schema update options with WRITE_TRUNCATE on the whole table: refused.
	code, body := e.call(t, "POST", "projects/p/jobs", job("opt", "WRITE_TRUNCATE", "t", jobSchema, "ALLOW_FIELD_ADDITION"))
	if code == 200 {
		body = map[string]any{"error": map[string]any{"errors": []any{path(e.finish(t, "opt"), "status", "errorResult")}}}
	}
	if path(body, "error", "errors", 0, "reason") != "invalid" {
		t.Errorf("schemaUpdateOptions with WRITE_TRUNCATE on a table: %v, want invalid", body)
	}
	// ... allowed with WRITE_APPEND (the file lacks the table's first column).
	e.putWork(t, "a.csv", ",1,2026-04-26,x\n,2,2026-04-26,y\n")
	e.insert(t, job("app", "WRITE_APPEND", "t$20260426", tableSchema, "ALLOW_FIELD_ADDITION"))
	if r := path(e.finish(t, "app"), "status", "errorResult"); r != nil {
		t.Errorf("schemaUpdateOptions with WRITE_APPEND: %v", r)
	}
	// WRITE_TRUNCATE on the table: the job's schema replaces the table's.
	e.putWork(t, "a.csv", "id,day,note\n1,2026-04-26,x\n")
	e.insert(t, job("trunc", "WRITE_TRUNCATE", "t", jobSchema))
	if r := path(e.finish(t, "trunc"), "status", "errorResult"); r != nil {
		t.Fatalf("WRITE_TRUNCATE: %v", r)
	}
	_, tbl := e.call(t, "GET", "projects/p/datasets/d/tables/t", nil)
	var names, want []string
	for _, fld := range path(tbl, "schema", "fields").([]any) {
		names = append(names, fld.(map[string]any)["name"].(string))
	}
	for _, fld := range jobSchema["fields"].([]any) {
		want = append(want, fld.(map[string]any)["name"].(string))
	}
	if !slices.Equal(names, want) {
		t.Fatalf("after WRITE_TRUNCATE the table has columns %v, want the job's %v", names, want)
	}
}

func TestConformanceAddColumn(t *testing.T) {
	f := conformance.Load(t, "bigquery-add-column")
	table := decode(t, f.MustFile(t, "table.json"))
	e := newWireEnv(t, Options{})
	if code, body := e.call(t, "POST", "projects/p/datasets/d/tables", map[string]any{
		"tableReference": table["tableReference"], "schema": table["schema"], "timePartitioning": table["timePartitioning"],
	}); code != 200 {
		t.Fatalf("tables.insert: %d %v", code, body)
	}
	code, body := e.call(t, "PATCH", "projects/p/datasets/d/tables/t", f.MustFile(t, "added-required.json"))
	if code != 400 || path(body, "error", "errors", 0, "reason") != "invalid" {
		t.Fatalf("adding a REQUIRED column: %d %v, want 400 invalid", code, body)
	}
	code, body = e.call(t, "PATCH", "projects/p/datasets/d/tables/t", f.MustFile(t, "added-nullable.json"))
	if code != 200 || path(body, "schema", "fields", 1, "name") != "id" || path(body, "schema", "fields", 1, "mode") != "NULLABLE" {
		t.Fatalf("adding a NULLABLE column: %d %v, want it last", code, body)
	}
}

func TestConformanceTabledataList(t *testing.T) {
	f := conformance.Load(t, "bigquery-tabledata-list")
	table := decode(t, f.MustFile(t, "table.json"))
	want := decode(t, f.MustFile(t, "tabledata.json"))
	e := newWireEnv(t, Options{})
	if code, body := e.call(t, "POST", "projects/p/datasets/d/tables", map[string]any{
		"tableReference": table["tableReference"], "schema": table["schema"],
	}); code != 200 {
		t.Fatalf("tables.insert: %d %v", code, body)
	}
	e.putWork(t, "src.csv", "h\n\"say \"\"hi\"\", twice\",42,12.34,true,2026-04-26,2026-04-26 06:05:04.5,2026-04-26 08:00:00.123456 UTC\n,,,,,,\n")
	j := loadJob("j", "gs://work/src.csv", "src", nil)
	path(j, "configuration", "load").(map[string]any)["schema"] = table["schema"]
	e.insert(t, j)
	if r := path(e.finish(t, "j"), "status", "errorResult"); r != nil {
		t.Fatalf("load: %v", r)
	}
	_, page1 := e.call(t, "GET", "projects/p/datasets/d/tables/src/data?formatOptions.useInt64Timestamp=true&maxResults=1", nil)
	tok, _ := page1["pageToken"].(string)
	if tok == "" || page1["totalRows"] != "2" {
		t.Fatalf("first page: totalRows %#v, pageToken %q; want the string \"2\" and a token", page1["totalRows"], tok)
	}
	_, page2 := e.call(t, "GET", "projects/p/datasets/d/tables/src/data?formatOptions.useInt64Timestamp=true&pageToken="+tok, nil)
	got := map[string]any{"kind": page1["kind"], "etag": page1["etag"], "totalRows": page1["totalRows"],
		"rows": append(page1["rows"].([]any), page2["rows"].([]any)...)}
	if d := sameShape(want, got, ""); len(d) > 0 {
		t.Fatalf("tabledata.list differs from the documented shape: %v", d)
	}
	fields := path(table, "schema", "fields").([]any)
	for r := range 2 {
		for c, fld := range fields {
			typ := fld.(map[string]any)["type"].(string)
			w, g := path(want, "rows", r, "f", c, "v"), path(got, "rows", r, "f", c, "v")
			if !sameCell(typ, w, g) {
				t.Errorf("row %d %s: v = %#v, want %#v", r, typ, g, w)
			}
		}
	}
}

// sameCell compares cell texts by value where the text form is not settled
// (DATETIME fraction digits).
func sameCell(typ string, want, got any) bool {
	ws, wok := want.(string)
	gs, gok := got.(string)
	if !wok || !gok {
		return want == nil && got == nil
	}
	if typ == "DATETIME" {
		a, err1 := civil.ParseDateTime(ws)
		b, err2 := civil.ParseDateTime(gs)
		return err1 == nil && err2 == nil && a == b
	}
	return ws == gs
}

// loadValues loads csv (header first) into d.table with fields and returns
// the job's final resource.
func (e *wireEnv) loadValues(t *testing.T, id, table, csv string, fields []map[string]string) map[string]any {
	t.Helper()
	e.putWork(t, id+".csv", csv)
	e.insert(t, loadJob(id, "gs://work/"+id+".csv", table, fields))
	return e.finish(t, id)
}

func TestConformanceCSVQuoting(t *testing.T) {
	f := conformance.Load(t, "bigquery-csv-quoting")
	var want []string
	if err := json.Unmarshal(f.MustFile(t, "values.json"), &want); err != nil {
		t.Fatal(err)
	}
	e := newWireEnv(t, Options{})
	job := e.loadValues(t, "q", "t", string(f.MustFile(t, "part.csv")), []map[string]string{{"name": "note", "type": "STRING"}, {"name": "_row", "type": "INTEGER"}})
	if r := path(job, "status", "errorResult"); r != nil {
		t.Fatalf("load: %v", r)
	}
	rows, err := e.bq.Rows(testProject, "d", "t")
	if err != nil || len(rows) != len(want) {
		t.Fatalf("rows %v (%v), want %d", rows, err, len(want))
	}
	for i, w := range want {
		if got := *rows[i].Values[0]; got != w {
			t.Errorf("row %d: %q, want %q", i+1, got, w)
		}
	}
}

func TestConformanceNullMarker(t *testing.T) {
	f := conformance.Load(t, "bigquery-null-marker")
	var want []map[string]*string
	if err := json.Unmarshal(f.MustFile(t, "want.json"), &want); err != nil {
		t.Fatal(err)
	}
	e := newWireEnv(t, Options{})
	job := e.loadValues(t, "n", "t", string(f.MustFile(t, "data.csv")), []map[string]string{
		{"name": "id", "type": "INTEGER"}, {"name": "note", "type": "STRING"}, {"name": "qty", "type": "INTEGER"}})
	if r := path(job, "status", "errorResult"); r != nil {
		t.Fatalf("load: %v", r)
	}
	rows, err := e.bq.Rows(testProject, "d", "t")
	if err != nil || len(rows) != len(want) {
		t.Fatalf("rows %v (%v)", rows, err)
	}
	show := func(p *string) string {
		if p == nil {
			return "NULL"
		}
		return strconv.Quote(*p)
	}
	for i, w := range want {
		for c, name := range []string{"id", "note", "qty"} {
			if a, b := show(rows[i].Values[c]), show(w[name]); a != b {
				t.Errorf("row %d %s = %s, want %s", i+1, name, a, b)
			}
		}
	}
}

func TestConformanceCSVValueFormats(t *testing.T) {
	f := conformance.Load(t, "bigquery-csv-value-formats")
	e := newWireEnv(t, Options{})
	n := 0
	check := func(file string, accept bool) {
		for _, l := range lines(f.MustFile(t, file)) {
			typ, value, _ := strings.Cut(l, "\t")
			n++
			id := fmt.Sprintf("v%d", n)
			job := e.loadValues(t, id, id, "v\n"+value+"\n", []map[string]string{{"name": "v", "type": typ}})
			failed := path(job, "status", "errorResult") != nil
			if failed == accept {
				t.Errorf("%s %q: accepted=%v, want %v (%v)", typ, value, !failed, accept, path(job, "status", "errors"))
			}
		}
	}
	check("accepted.txt", true)
	check("rejected.txt", false)
}

func TestConformanceColumnNames(t *testing.T) {
	f := conformance.Load(t, "bigquery-column-names")
	e := newWireEnv(t, Options{})
	n := 0
	create := func(names ...string) (int, map[string]any) {
		n++
		var fields []map[string]string
		for _, name := range names {
			fields = append(fields, map[string]string{"name": name, "type": "STRING"})
		}
		return e.call(t, "POST", "projects/p/datasets/d/tables", map[string]any{
			"tableReference": map[string]any{"projectId": "p", "datasetId": "d", "tableId": fmt.Sprintf("t%d", n)},
			"schema":         map[string]any{"fields": fields},
		})
	}
	for _, name := range append(lines(f.MustFile(t, "valid.txt")), strings.Repeat("x", 300)) {
		if code, body := create(name); code != 200 {
			t.Errorf("column %.40q refused: %d %v", name, code, body)
		}
	}
	for _, name := range append(lines(f.MustFile(t, "invalid.txt")), strings.Repeat("x", 301)) {
		if code, body := create(name); code != 400 || path(body, "error", "errors", 0, "reason") != "invalid" {
			t.Errorf("column %.40q: %d %v, want 400 invalid", name, code, body)
		}
	}
	if code, _ := create("Column1", "column1"); code != 400 {
		t.Errorf("columns Column1 and column1 accepted together: %d", code)
	}
}
