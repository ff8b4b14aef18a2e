package bqemu

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// recorder is an Authorizer that records every check and refuses the
// "identity permission" pairs in deny.
type recorder struct {
	mu    sync.Mutex
	calls []string // "identity permission resource"
	deny  map[string]bool
}

func (a *recorder) Check(identity, permission, resource string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, identity+" "+permission+" "+resource)
	if a.deny[identity+" "+permission] {
		return &iamemu.Denied{Identity: identity, Permission: permission, Resource: resource}
	}
	return nil
}

// take returns the distinct checks recorded since the last take, sorted.
func (a *recorder) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls
	a.calls = nil
	slices.Sort(c)
	return slices.Compact(c)
}

func wantChecks(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: checks\n%q\nwant\n%q", what, got, want)
	}
}

// wantDenied fails unless err is BigQuery's 403 accessDenied naming permission.
func wantDenied(t *testing.T, what string, err error, permission string) {
	t.Helper()
	var g *googleapi.Error
	if !errors.As(err, &g) || g.Code != http.StatusForbidden {
		t.Fatalf("%s: got %v, want HTTP 403", what, err)
	}
	if len(g.Errors) == 0 || g.Errors[0].Reason != "accessDenied" || !strings.Contains(g.Message, permission) {
		t.Errorf("%s: %+v, want reason accessDenied and a message naming %s", what, g, permission)
	}
}

func TestIAMChecksProductionCalls(t *testing.T) {
	const (
		load   = "load@p.iam.gserviceaccount.com"
		export = "export@p.iam.gserviceaccount.com"
		ds     = "projects/p/datasets/d"
		proj   = "projects/p"
		bucket = "projects/_/buckets/" + testBucket
	)
	e := newEnv(t, 0)
	e.dataset(t, "d") // as Terraform would, before enforcement
	uri := e.put(t, "in/a.csv", "n\n1\n2\n")
	a := &recorder{deny: map[string]bool{
		export + " bigquery.tables.getData": true,
		export + " storage.objects.get":     true,
	}}
	e.bq.SetAuthorizer(a)
	client := func(id string) *bigquery.Client {
		c, err := bigquery.NewClient(e.ctx, testProject, append(iamemu.ClientOptions(id), option.WithEndpoint(e.bq.Endpoint()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	lc, xc := client(load), client(export)
	schema := bigquery.Schema{{Name: "n", Type: bigquery.IntegerFieldType}}

	// bqload's pattern: tables.get, tables.insert, tables.patch, a load job
	// polled with jobs.get.
	tbl := lc.Dataset("d").Table("t")
	if _, err := tbl.Metadata(e.ctx); err == nil {
		t.Fatal("metadata of a missing table: want 404")
	}
	wantChecks(t, "tables.get", a.take(), load+" bigquery.tables.get "+ds)
	if err := tbl.Create(e.ctx, &bigquery.TableMetadata{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	wantChecks(t, "tables.insert", a.take(), load+" bigquery.tables.create "+ds)
	md, err := tbl.Metadata(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.take()
	if _, err := tbl.Update(e.ctx, bigquery.TableMetadataToUpdate{Description: "x"}, md.ETag); err != nil {
		t.Fatal(err)
	}
	wantChecks(t, "tables.patch", a.take(), load+" bigquery.tables.update "+ds)
	l := tbl.LoaderFrom(csvRef(uri, 1, schema))
	l.CreateDisposition = bigquery.CreateNever
	job, err := l.Run(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := job.Wait(e.ctx)
	if err != nil || st.Err() != nil {
		t.Fatalf("load: %v %v", err, st)
	}
	wantChecks(t, "load job", a.take(),
		load+" bigquery.jobs.create "+proj,
		load+" bigquery.tables.create "+ds, load+" bigquery.tables.updateData "+ds, load+" bigquery.tables.update "+ds,
		load+" storage.buckets.get "+bucket, load+" storage.objects.get "+bucket)

	// jobs.get of another identity's job needs bigquery.jobs.get.
	if _, err := xc.JobFromID(e.ctx, job.ID()); err != nil {
		t.Fatal(err)
	}
	wantChecks(t, "jobs.get by another", a.take(), export+" bigquery.jobs.get "+proj)

	// A load whose creator may not read the source fails with accessDenied.
	xl := xc.Dataset("d").Table("t").LoaderFrom(csvRef(uri, 1, schema))
	xjob, err := xl.Run(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err = xjob.Wait(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Err() == nil || len(st.Errors) == 0 || st.Errors[0].Reason != "accessDenied" || !strings.Contains(st.Err().Error(), "storage.objects.get") {
		t.Errorf("load without storage.objects.get: %v %+v, want accessDenied naming it", st.Err(), st.Errors)
	}
	a.take()

	// export's pattern: tabledata.list (refused: no getData), a query job
	// (fails: no getData), and the allowed identity reads both.
	it := xc.Dataset("d").Table("t").Read(e.ctx)
	var row []bigquery.Value
	wantDenied(t, "tabledata.list", it.Next(&row), "bigquery.tables.getData")
	if got := a.take(); !slices.Contains(got, export+" bigquery.tables.getData "+ds) {
		t.Errorf("tabledata.list checks %q", got)
	}
	q := xc.Query("SELECT n FROM d.t")
	qjob, err := q.Run(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Waiting on a query job reads its results, which answer the job's
	// error: the 403.
	_, err = qjob.Wait(e.ctx)
	wantDenied(t, "query job without getData", err, "bigquery.tables.getData")
	// The read above fetches the table's schema (tables.get) alongside its
	// first page, so that check may be recorded late: leave it out.
	got := slices.DeleteFunc(a.take(), func(c string) bool { return c == export+" bigquery.tables.get "+ds })
	wantChecks(t, "query job", got, export+" bigquery.jobs.create "+proj, export+" bigquery.tables.getData "+ds)
	if rows := drain(t, lc.Dataset("d").Table("t").Read(e.ctx)); len(rows) != 2 {
		t.Errorf("rows %v", rows)
	}
	if got := a.take(); !slices.Contains(got, load+" bigquery.tables.getData "+ds) {
		t.Errorf("allowed tabledata.list checks %q", got)
	}
	lq, err := lc.Query("SELECT n FROM d.t").Run(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	it, err = lq.Read(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rows := drain(t, it); len(rows) != 2 {
		t.Errorf("query rows %v", rows)
	}
	wantChecks(t, "allowed query (own job: no jobs.get)", a.take(), load+" bigquery.jobs.create "+proj, load+" bigquery.tables.getData "+ds)

	// A DML script needs getData and updateData on the dataset of the table
	// it modifies, and getData on the one it reads.
	sj, err := lc.Query("BEGIN TRANSACTION; DELETE FROM d.t WHERE n = 1; INSERT INTO d.t (n) SELECT n FROM d.t; COMMIT TRANSACTION").Run(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := sj.Wait(e.ctx); err != nil || st.Err() != nil {
		t.Fatalf("script: %v %v", err, st)
	}
	got = slices.DeleteFunc(a.take(), func(c string) bool { return strings.Contains(c, "bigquery.jobs.get ") })
	wantChecks(t, "script", got, load+" bigquery.jobs.create "+proj, load+" bigquery.tables.getData "+ds, load+" bigquery.tables.updateData "+ds)
	a.deny[load+" bigquery.tables.updateData"] = true
	sj, err = lc.Query("DELETE FROM d.t WHERE n = 2").Run(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sj.Wait(e.ctx)
	wantDenied(t, "DELETE without updateData", err, "bigquery.tables.updateData")
	delete(a.deny, load+" bigquery.tables.updateData")
	if rows := drain(t, lc.Dataset("d").Table("t").Read(e.ctx)); len(rows) != 2 || rows[0][0] != int64(2) || rows[1][0] != int64(2) {
		t.Errorf("after the script and a refused DELETE: rows %v, want n = 2 twice", rows)
	}
	a.take()

	// datasets.get; jobs.create refused.
	if _, err := lc.Dataset("d").Metadata(e.ctx); err != nil {
		t.Fatal(err)
	}
	wantChecks(t, "datasets.get", a.take(), load+" bigquery.datasets.get "+ds)
	a.deny[load+" bigquery.jobs.create"] = true
	_, err = lc.Query("SELECT n FROM d.t").Run(e.ctx)
	wantDenied(t, "jobs.insert", err, "bigquery.jobs.create")
}
