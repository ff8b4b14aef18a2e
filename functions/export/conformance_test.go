package export

// Conformance tests: the export reads the documented tabledata.list form
// (answered by a stand-in, not the emulator) and writes clean parts in the
// CSV forms BigQuery's load documentation accepts.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/platform"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/schema"
	"github.com/dropcast/dropcast/shared/spec"
)

func TestConformanceTabledataList(t *testing.T) {
	f := conformance.Load(t, "bigquery-tabledata-list")
	var sawInt64 bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/tables/src/data"):
			sawInt64 = r.URL.Query().Get("formatOptions.useInt64Timestamp") == "true"
			w.Write(f.MustFile(t, "tabledata.json"))
		case strings.HasSuffix(r.URL.Path, "/tables/src"):
			w.Write(f.MustFile(t, "table.json"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bq, err := bigquery.NewClient(ctx, "p", option.WithEndpoint(srv.URL+"/bigquery/v2/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()
	it := bq.Dataset("d").Table("src").Read(ctx)
	var got [][]string
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, v := range row {
			texts = append(texts, canonical(v))
		}
		got = append(got, texts)
	}
	if !sawInt64 {
		t.Fatal("the client did not ask for int64 timestamps, which the fixture's TIMESTAMP cell is")
	}
	if it.TotalRows != 2 {
		t.Errorf("TotalRows = %d, want the documented string \"2\" read as 2", it.TotalRows)
	}
	want := [][]string{
		{`say "hi", twice`, "42", "12.34", "true", "2026-04-26", "2026-04-26 06:05:04.5", "2026-04-26 08:00:00.123456 UTC"},
		{"", "", "", "", "", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("rows %v", got)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("row %d canonical %q, want %q", i, got[i], want[i])
		}
	}
}

// partWriter is the step with Cloud Storage emulated and bucket "work".
func partWriter(t *testing.T) (*Step, func(name string) string) {
	t.Helper()
	sc := gcsemutest.Start(t, "work")
	s := &Step{app: &app.App{Config: config.Config{WorkBucket: "work"}, Clients: &platform.Clients{Storage: sc}}, pageRows: PageRows}
	read := func(name string) string {
		r, err := sc.Bucket("work").Object(name).NewReader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return s, read
}

// exec is a run of a pipeline with the given STRING columns.
func exec(cols ...string) *kernel.Exec {
	var sc schema.Schema
	for _, c := range cols {
		sc.Columns = append(sc.Columns, schema.Column{Name: c, Type: schema.String})
	}
	return &kernel.Exec{Run: &run.Run{ID: "r1", Epoch: 1}, Pipeline: &spec.Pipeline{Schema: sc}}
}

func TestConformanceCSVQuoting(t *testing.T) {
	f := conformance.Load(t, "bigquery-csv-quoting")
	var values []string
	if err := json.Unmarshal(f.MustFile(t, "values.json"), &values); err != nil {
		t.Fatal(err)
	}
	s, read := partWriter(t)
	x := exec("note")
	var page [][]bigquery.Value
	for _, v := range values {
		page = append(page, []bigquery.Value{v})
	}
	if err := s.writePart(context.Background(), x, Checkpoint{}, []int{0}, page); err != nil {
		t.Fatal(err)
	}
	// Read back by the documented quoting (RFC 4180: "" for a quote, commas
	// and newlines data inside quotes), the notes are the values written.
	recs, err := csv.NewReader(strings.NewReader(read("runs/r1/e1/clean/part-00000.csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rec := range recs[1:] {
		got = append(got, rec[0])
	}
	if !slices.Equal(got, values) {
		t.Fatalf("clean part notes %q, want %q", got, values)
	}
}

func TestConformanceNullMarker(t *testing.T) {
	f := conformance.Load(t, "bigquery-null-marker")
	// data.csv's first row: an unquoted empty field is NULL.
	nullRow := strings.Split(string(f.MustFile(t, "data.csv")), "\n")[1]
	s, read := partWriter(t)
	x := exec("note", "qty")
	if err := s.writePart(context.Background(), x, Checkpoint{}, []int{0, 1}, [][]bigquery.Value{{nil, nil}}); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(read("runs/r1/e1/clean/part-00000.csv"), "\n")[1]
	// The documented NULL is an empty, unquoted field: data.csv's ",," after the id.
	if nulls := strings.TrimPrefix(nullRow, "1"); !strings.HasPrefix(got, nulls) || strings.HasPrefix(got, nulls+`""`) {
		t.Fatalf("a row of NULLs is written %q, want two unquoted empty fields, %q, before the row key", got, nulls)
	}
}

func TestConformanceCSVValueFormats(t *testing.T) {
	f := conformance.Load(t, "bigquery-csv-value-formats")
	accepted := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(f.MustFile(t, "accepted.txt"))), "\n") {
		typ, v, _ := strings.Cut(l, "\t")
		accepted[typ] = append(accepted[typ], v)
	}
	for _, c := range []struct {
		typ string
		in  bigquery.Value
	}{
		{"BOOL", true},
		{"BOOL", false},
		{"DATE", civil.Date{Year: 2018, Month: 8, Day: 19}},
		{"DATETIME", civil.DateTime{Date: civil.Date{Year: 2018, Month: 8, Day: 19}, Time: civil.Time{Hour: 12, Minute: 11, Second: 35}}},
		{"TIME", civil.Time{Hour: 12, Minute: 11, Second: 35}},
		{"TIMESTAMP", time.Date(2018, 7, 5, 14, 54, 0, 0, time.FixedZone("CEST", 2*3600))},
	} {
		if got := canonical(c.in); !slices.Contains(accepted[c.typ], got) {
			t.Errorf("canonical(%v) = %q, not a documented %s form %q", c.in, got, c.typ, accepted[c.typ])
		}
	}
	if got := canonical(big.NewRat(1234, 100)); got != "12.34" {
		t.Errorf("NUMERIC is written %q, want the plain decimal the fixture assumes", got)
	}
}
