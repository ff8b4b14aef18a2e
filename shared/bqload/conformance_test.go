package bqload

// Conformance tests: the production code is fed the documented forms of
// shared/conformance/fixtures by a stand-in BigQuery that answers exactly
// what the fixture holds (never the emulator's answers), and the requests it
// makes are checked against the documented request forms.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/spec"
)

// exchange is one request the stand-in received.
type exchange struct {
	method, path, query, ifMatch string
	body                         map[string]any
}

// stub is a stand-in BigQuery: answers maps "METHOD /path" to the status and
// bodies to answer, in turn (the last one repeats).
type stub struct {
	mu      sync.Mutex
	answers map[string][]answer
	got     []exchange
}

type answer struct {
	code int
	body []byte
}

func (s *stub) on(route string, code int, body []byte) *stub {
	s.answers[route] = append(s.answers[route], answer{code, body})
	return s
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	ex := exchange{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, ifMatch: r.Header.Get("If-Match")}
	_ = json.Unmarshal(data, &ex.body)
	route := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/bigquery/v2")
	s.mu.Lock()
	s.got = append(s.got, ex)
	as := s.answers[route]
	var a answer
	switch len(as) {
	case 0:
		a = answer{http.StatusNotImplemented, []byte(`{"error":{"code":501,"message":"stub has no answer for ` + route + `","errors":[{"reason":"notImplemented"}]}}`)}
	case 1:
		a = as[0]
	default:
		a, s.answers[route] = as[0], as[1:]
	}
	s.mu.Unlock()
	if a.body == nil {
		a.body = data // echo, as inserts and updates answer the resource
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(a.code)
	_, _ = w.Write(a.body)
}

// requests returns the exchanges on route.
func (s *stub) requests(route string) []exchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []exchange
	for _, ex := range s.got {
		if ex.method+" "+strings.TrimPrefix(ex.path, "/bigquery/v2") == route {
			out = append(out, ex)
		}
	}
	return out
}

// newStub starts a stand-in and the real client pointed at it.
func newStub(t *testing.T) (*stub, *bigquery.Client, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	s := &stub{answers: map[string][]answer{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := bigquery.NewClient(ctx, project, option.WithEndpoint(srv.URL+"/bigquery/v2/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c, ctx
}

const (
	tablePath = "/projects/p/datasets/d/tables/t"
	jobsPath  = "/projects/p/jobs"
)

// specTable is a table resource that fits specSchema, partitioned by
// ingestion day, in location.
func specTable(location string) []byte {
	return []byte(`{"kind":"bigquery#table","id":"p:d.t","etag":"ZXRhZy0x",
"tableReference":{"projectId":"p","datasetId":"d","tableId":"t"},
"schema":{"fields":[{"name":"id","type":"INTEGER","mode":"REQUIRED"},{"name":"day","type":"DATE","mode":"REQUIRED"},{"name":"note","type":"STRING","mode":"NULLABLE"}]},
"timePartitioning":{"type":"DAY"},"numRows":"0","location":"` + location + `","type":"TABLE"}`)
}

// jobWith is a DONE load job whose errorResult has reason.
func jobWith(reason string) []byte {
	return []byte(`{"kind":"bigquery#job","jobReference":{"projectId":"p","jobId":"j","location":"US"},
"configuration":{"jobType":"LOAD","load":{"destinationTable":{"projectId":"p","datasetId":"d","tableId":"t"}}},
"status":{"state":"DONE","errorResult":{"reason":"` + reason + `","message":"m"},"errors":[{"reason":"` + reason + `","message":"m"}]}}`)
}

func lines(data []byte) []string {
	return strings.Fields(string(data))
}

func TestConformanceErrorResponse(t *testing.T) {
	f := conformance.Load(t, "bigquery-error-response")
	s, bq, ctx := newStub(t)
	s.on("GET "+tablePath, 404, f.MustFile(t, "response.json")).on("GET "+tablePath, 200, specTable("US"))
	s.on("POST /projects/p/datasets/d/tables", 200, nil)
	s.on("POST "+jobsPath, 200, nil)
	if _, err := Load(ctx, bq, request(spec.ReplacePartition, "20260426", "j", "gs://work/a/part-*")); err != nil {
		t.Fatalf("Load after a documented 404: %v", err)
	}
	ins := s.requests("POST /projects/p/datasets/d/tables")
	if len(ins) != 1 || ins[0].body["timePartitioning"] == nil {
		t.Fatalf("the 404 did not make Load create the table: %v", ins)
	}
}

func TestConformanceDuplicateJob(t *testing.T) {
	f := conformance.Load(t, "bigquery-duplicate-job")
	s, bq, ctx := newStub(t)
	s.on("GET "+tablePath, 200, specTable("EU"))
	s.on("POST "+jobsPath, 409, f.MustFile(t, "response.json"))
	r := request(spec.Append, "20260426", "dropcast_r1_e1_load", "gs://work/a/part-*")
	j, err := Load(ctx, bq, r)
	if err != nil {
		t.Fatalf("a documented 409 duplicate is not a re-attach: %v", err)
	}
	if j != (Job{Project: "p", ID: r.JobID, Location: "EU"}) {
		t.Fatalf("re-attached to %+v", j)
	}
}

func TestConformanceJobStates(t *testing.T) {
	f := conformance.Load(t, "bigquery-job-states")
	for _, file := range []string{"pending.json", "running.json"} {
		s, bq, ctx := newStub(t)
		s.on("GET "+jobsPath+"/dropcast_r1_e1_load", 200, f.MustFile(t, file))
		st, err := CheckJob(ctx, bq, Job{Project: "p", ID: "dropcast_r1_e1_load", Location: "US"})
		if err != nil || st.Done || st.Err != nil {
			t.Errorf("%s: %+v, %v; want not done", file, st, err)
		}
	}
}

func TestConformanceJobSucceeded(t *testing.T) {
	f := conformance.Load(t, "bigquery-job-succeeded")
	s, bq, ctx := newStub(t)
	s.on("GET "+jobsPath+"/dropcast_r1_e1_load", 200, f.MustFile(t, "job.json"))
	st, err := CheckJob(ctx, bq, Job{Project: "p", ID: "dropcast_r1_e1_load", Location: "US"})
	if err != nil || !st.Done || st.Err != nil || st.Rows != 3 {
		t.Fatalf("%+v, %v; want done with 3 rows", st, err)
	}
}

func TestConformanceJobFailed(t *testing.T) {
	f := conformance.Load(t, "bigquery-job-failed")
	s, bq, ctx := newStub(t)
	s.on("GET "+jobsPath+"/dropcast_r1_e1_load", 200, f.MustFile(t, "job.json"))
	st, err := CheckJob(ctx, bq, Job{Project: "p", ID: "dropcast_r1_e1_load", Location: "US"})
	var je *JobError
	if err != nil || !st.Done || !errors.As(st.Err, &je) {
		t.Fatalf("%+v, %v; want done with a *JobError", st, err)
	}
	var doc struct {
		Status struct {
			ErrorResult bigquery.Error
			Errors      []bigquery.Error
		}
	}
	if err := json.Unmarshal(f.MustFile(t, "job.json"), &doc); err != nil {
		t.Fatal(err)
	}
	// The error result first, then the other errors, the result not repeated.
	want := []bigquery.Error{doc.Status.ErrorResult, doc.Status.Errors[1]}
	if len(je.Errors) != len(want) {
		t.Fatalf("errors %v, want %v", je.Errors, want)
	}
	for i, w := range want {
		if *je.Errors[i] != w {
			t.Errorf("error %d = %+v, want %+v", i, *je.Errors[i], w)
		}
	}
	if je.Transient() {
		t.Error("an invalid row is called transient")
	}
}

func TestConformanceJobRetryReasons(t *testing.T) {
	f := conformance.Load(t, "bigquery-job-retry-reasons")
	for file, want := range map[string]bool{"transient.txt": true, "permanent.txt": false} {
		for _, reason := range lines(f.MustFile(t, file)) {
			s, bq, ctx := newStub(t)
			s.on("GET "+jobsPath+"/j", 200, jobWith(reason))
			st, err := CheckJob(ctx, bq, Job{Project: "p", ID: "j", Location: "US"})
			var je *JobError
			if err != nil || !errors.As(st.Err, &je) {
				t.Fatalf("%s: %+v, %v", reason, st, err)
			}
			if je.Transient() != want {
				t.Errorf("errorResult reason %s: Transient() = %v, want %v", reason, !want, want)
			}
		}
	}
}

func TestConformanceJobLocation(t *testing.T) {
	f := conformance.Load(t, "bigquery-job-location")
	method, target, _ := strings.Cut(strings.TrimSpace(string(f.MustFile(t, "request.txt"))), " ")
	wantPath, wantQuery, _ := strings.Cut(target, "?")
	s, bq, ctx := newStub(t)
	s.on(method+" "+strings.TrimPrefix(wantPath, "/bigquery/v2"), 404, f.MustFile(t, "wrong-location.json"))
	_, err := CheckJob(ctx, bq, Job{Project: "p", ID: "dropcast_r1_e1_load", Location: "europe-west1"})
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Code != 404 {
		t.Fatalf("a documented 404 notFound: %v, want it returned as a 404", err)
	}
	got := s.requests(method + " " + strings.TrimPrefix(wantPath, "/bigquery/v2"))
	if len(got) == 0 || !strings.Contains("&"+got[0].query+"&", "&"+wantQuery+"&") {
		t.Fatalf("jobs.get query %v, want %s", got, wantQuery)
	}
}

// oneWildcardAfterBucket is the sourceUris rule: "Each URI can contain one
// '*' wildcard character and it must come after the 'bucket' name."
func oneWildcardAfterBucket(uri string) bool {
	bucket, object, ok := strings.Cut(strings.TrimPrefix(uri, "gs://"), "/")
	return strings.HasPrefix(uri, "gs://") && ok && bucket != "" && !strings.Contains(bucket, "*") && strings.Count(object, "*") <= 1
}

// decorated is a table ID with a DAY partition decorator, sample_table$20190123.
var decorated = regexp.MustCompile(`^[^$]+\$\d{8}$`)

func TestConformanceLoadRequest(t *testing.T) {
	f := conformance.Load(t, "bigquery-load-request")
	var doc struct {
		JobReference  map[string]any
		Configuration struct{ Load map[string]any }
	}
	if err := json.Unmarshal(f.MustFile(t, "request.json"), &doc); err != nil {
		t.Fatal(err)
	}
	s, bq, ctx := newStub(t)
	s.on("GET "+tablePath, 200, specTable("US"))
	s.on("POST "+jobsPath, 200, nil)
	r := request(spec.ReplacePartition, "20260426", "dropcast_r1_e1_load", "gs://work/runs/r1/e1/clean/part-*")
	if _, err := Load(ctx, bq, r); err != nil {
		t.Fatal(err)
	}
	ins := s.requests("POST " + jobsPath)
	if len(ins) != 1 {
		t.Fatalf("%d jobs.insert calls", len(ins))
	}
	got := ins[0].body
	load, _ := got["configuration"].(map[string]any)["load"].(map[string]any)
	for _, k := range []string{"sourceFormat", "skipLeadingRows", "allowQuotedNewlines", "createDisposition", "writeDisposition"} {
		if w, g := jsonText(doc.Configuration.Load[k]), jsonText(load[k]); w != g {
			t.Errorf("load.%s = %s, want %s", k, g, w)
		}
	}
	for _, k := range []string{"jobId", "location"} {
		if w, g := jsonText(doc.JobReference[k]), jsonText(got["jobReference"].(map[string]any)[k]); w != g {
			t.Errorf("jobReference.%s = %s, want %s", k, g, w)
		}
	}
	dest, _ := load["destinationTable"].(map[string]any)
	if w := doc.Configuration.Load["destinationTable"].(map[string]any)["tableId"]; dest["tableId"] != w || !decorated.MatchString(dest["tableId"].(string)) {
		t.Errorf("destination %v, want the decorated %v", dest, w)
	}
	uris, _ := load["sourceUris"].([]any)
	for _, u := range uris {
		if !oneWildcardAfterBucket(u.(string)) {
			t.Errorf("source URI %s breaks the wildcard rule", u)
		}
	}
	for _, u := range lines(f.MustFile(t, "bad-uris.txt")) {
		if oneWildcardAfterBucket(u) {
			t.Errorf("the rule check passes the documented bad URI %s", u)
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestConformanceWriteTruncateSchema(t *testing.T) {
	f := conformance.Load(t, "bigquery-write-truncate-schema")
	var tableSchema struct{ Fields []map[string]any }
	if err := json.Unmarshal(f.MustFile(t, "table-schema.json"), &tableSchema); err != nil {
		t.Fatal(err)
	}
	table, _ := json.Marshal(map[string]any{
		"kind": "bigquery#table", "etag": "ZXRhZy0x", "location": "US",
		"tableReference": map[string]any{"projectId": "p", "datasetId": "d", "tableId": "t"},
		"schema":         tableSchema, "timePartitioning": map[string]any{"type": "DAY"},
	})
	s, bq, ctx := newStub(t)
	s.on("GET "+tablePath, 200, table)
	s.on("POST "+jobsPath, 200, nil)
	if _, err := Load(ctx, bq, request(spec.Truncate, "20260426", "j", "gs://work/a/part-*")); err != nil {
		t.Fatal(err)
	}
	ins := s.requests("POST " + jobsPath)
	load := ins[0].body["configuration"].(map[string]any)["load"].(map[string]any)
	if load["writeDisposition"] != "WRITE_TRUNCATE" || load["schemaUpdateOptions"] != nil {
		t.Fatalf("truncate load: writeDisposition %v, schemaUpdateOptions %v", load["writeDisposition"], load["schemaUpdateOptions"])
	}
	// WRITE_TRUNCATE "uses the schema from the load job": every column the
	// table has must be in it, or the load drops it.
	sent := map[string]bool{}
	for _, fld := range load["schema"].(map[string]any)["fields"].([]any) {
		sent[strings.ToLower(fld.(map[string]any)["name"].(string))] = true
	}
	for _, fld := range tableSchema.Fields {
		if name := fld["name"].(string); !sent[strings.ToLower(name)] {
			t.Errorf("the truncate load's schema lacks the table's column %s: it would drop it", name)
		}
	}
}

func TestConformanceAddColumn(t *testing.T) {
	f := conformance.Load(t, "bigquery-add-column")
	var table struct {
		Etag   string
		Schema struct{ Fields []map[string]any }
	}
	if err := json.Unmarshal(f.MustFile(t, "table.json"), &table); err != nil {
		t.Fatal(err)
	}
	s, bq, ctx := newStub(t)
	s.on("GET "+tablePath, 200, f.MustFile(t, "table.json"))
	s.on("PATCH "+tablePath, 200, nil).on("PUT "+tablePath, 200, nil)
	s.on("POST "+jobsPath, 200, nil)
	if _, err := Load(ctx, bq, request(spec.Append, "20260426", "j", "gs://work/a/part-*")); err != nil {
		t.Fatal(err)
	}
	upd := append(s.requests("PATCH "+tablePath), s.requests("PUT "+tablePath)...)
	if len(upd) != 1 {
		t.Fatalf("%d table updates, want 1", len(upd))
	}
	if upd[0].ifMatch != table.Etag {
		t.Errorf("If-Match %q, want the table's etag %q", upd[0].ifMatch, table.Etag)
	}
	fields := upd[0].body["schema"].(map[string]any)["fields"].([]any)
	old := len(table.Schema.Fields)
	if len(fields) <= old {
		t.Fatalf("no column added: %v", fields)
	}
	for i, fld := range fields {
		m := fld.(map[string]any)
		switch {
		case i < old && m["name"] != table.Schema.Fields[i]["name"]:
			t.Errorf("column %d is %v, want the table's %v first, unchanged", i, m["name"], table.Schema.Fields[i]["name"])
		case i >= old && m["mode"] != "NULLABLE" && m["mode"] != nil:
			t.Errorf("added column %v has mode %v, want NULLABLE", m["name"], m["mode"])
		}
	}
}
