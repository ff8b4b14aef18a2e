package bqemu

import (
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
)

// runScript runs a query job to completion and returns its status error.
func (e *env) runScript(t *testing.T, sql string, params ...bigquery.QueryParameter) error {
	t.Helper()
	q := e.c.Query(sql)
	q.Parameters = params
	j, err := q.Run(e.ctx)
	if err != nil {
		return err
	}
	st, err := j.Wait(e.ctx)
	if err != nil {
		return err
	}
	return st.Err()
}

// A transaction that deletes a run's rows and inserts them from a staging
// table replaces them; a failing statement or a missing COMMIT changes
// nothing.
func TestScriptTransactionDeleteInsert(t *testing.T) {
	e, tbl, uri := salesEnv(t)
	stage := e.c.Dataset("d").Table("stage")
	if err := stage.Create(e.ctx, &bigquery.TableMetadata{Schema: salesSchema}); err != nil {
		t.Fatal(err)
	}
	l := stage.LoaderFrom(csvRef(uri, 1, nil))
	l.WriteDisposition = bigquery.WriteTruncate
	e.mustLoad(t, l)
	if err := tbl.Create(e.ctx, nil); err == nil {
		t.Fatal("create again succeeded")
	}
	// The target gains a run column, added at the end.
	md, err := tbl.Metadata(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Update(e.ctx, bigquery.TableMetadataToUpdate{Schema: append(md.Schema, &bigquery.FieldSchema{Name: "_run", Type: bigquery.StringFieldType})}, md.ETag); err != nil {
		t.Fatal(err)
	}
	script := "BEGIN TRANSACTION;\n" +
		"DELETE FROM `p.d.sales` WHERE `_run` = @run;\n" +
		"INSERT INTO `p.d.sales` (`_PARTITIONTIME`, `id`, `name`, `price`, `_run`) SELECT TIMESTAMP '2026-04-26', `id`, `name`, `price`, @run FROM `p.d.stage`;\n" +
		"COMMIT TRANSACTION;"
	run := bigquery.QueryParameter{Name: "run", Value: "r1"}
	for i := range 3 {
		if err := e.runScript(t, script, run); err != nil {
			t.Fatalf("script %d: %v", i, err)
		}
	}
	if n := e.count(t, "SELECT COUNT(*) FROM d.sales WHERE _run = 'r1' AND _PARTITIONTIME = TIMESTAMP('2026-04-26')"); n != 3 {
		t.Fatalf("after three replacing scripts the run has %d rows, want 3", n)
	}
	if err := e.runScript(t, strings.Replace(script, "@run", "'r2'", -1)); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM d.sales"); n != 6 {
		t.Fatalf("two runs: %d rows, want 6", n)
	}

	// A failing statement rolls the whole transaction back.
	bad := "BEGIN TRANSACTION; DELETE FROM d.sales WHERE _run = 'r1'; INSERT INTO d.sales (id, name) SELECT name, id FROM d.stage; COMMIT TRANSACTION"
	err = e.runScript(t, bad)
	if err == nil || !strings.Contains(err.Error(), "cannot be inserted") {
		t.Fatalf("type mismatch: %v", err)
	}
	// No COMMIT: rolled back at the end of the script.
	if err := e.runScript(t, "BEGIN TRANSACTION; DELETE FROM d.sales WHERE _run = 'r1'"); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM d.sales WHERE _run = 'r1'"); n != 3 {
		t.Fatalf("after a failed and an uncommitted transaction r1 has %d rows, want 3", n)
	}
	// Outside a transaction each statement commits.
	if err := e.runScript(t, "DELETE d.sales WHERE _run = 'r2'"); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM d.sales"); n != 3 {
		t.Fatalf("after deleting r2: %d rows, want 3", n)
	}

	for sql, want := range map[string]string{
		"DELETE FROM d.sales":                          "Expected keyword WHERE",
		"UPDATE d.sales SET name = 'x' WHERE id = 1":   "Unsupported by the emulator",
		"INSERT INTO d.sales (id) VALUES (1)":          "Unsupported by the emulator",
		"BEGIN TRANSACTION; BEGIN TRANSACTION; COMMIT": "Nested transactions",
		"COMMIT TRANSACTION":                           "no active transaction",
		"DELETE FROM d.sales WHERE _run = @nope":       "Query parameter 'nope' not found",
		"INSERT INTO d.sales (_PARTITIONTIME, id, name, price) SELECT TIMESTAMP '2026-04-26 10:00:00', id, name, price FROM d.stage": "day boundary",
		"INSERT INTO d.sales (id, nope) SELECT id, name FROM d.stage":                                                                "not present",
	} {
		err := e.runScript(t, sql)
		var gerr *googleapi.Error
		if err == nil || (errors.As(err, &gerr) && gerr.Code/100 != 4) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", sql, err, want)
		}
	}
}

// A SELECT takes named parameters; an expired table is gone.
func TestQueryParametersAndTableExpiration(t *testing.T) {
	e, tbl, uri := salesEnv(t)
	e.mustLoad(t, partitionLoader(e, tbl, "20260426", uri, bigquery.WriteAppend))
	q := e.c.Query("SELECT COUNT(*) FROM d.sales WHERE name = @name AND _PARTITIONTIME = @day")
	q.Parameters = []bigquery.QueryParameter{{Name: "name", Value: "pear"}, {Name: "day", Value: time.Date(2026, 4, 26, 0, 0, 0, 0, time.UTC)}}
	it, err := q.Read(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rows := drain(t, it); len(rows) != 1 || rows[0][0] != int64(1) {
		t.Fatalf("parameterized count: %v", rows)
	}
	q = e.c.Query("SELECT COUNT(*) FROM d.sales WHERE name = ?")
	q.Parameters = []bigquery.QueryParameter{{Value: "pear"}}
	if _, err := q.Read(e.ctx); err == nil {
		t.Fatal("positional parameters: want an error")
	}

	gone := e.c.Dataset("d").Table("gone")
	if err := gone.Create(e.ctx, &bigquery.TableMetadata{Schema: salesSchema, ExpirationTime: time.Now().Add(50 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if _, err := gone.Metadata(e.ctx); err != nil {
		t.Fatalf("before expiring: %v", err)
	}
	time.Sleep(60 * time.Millisecond)
	var gerr *googleapi.Error
	if _, err := gone.Metadata(e.ctx); !errors.As(err, &gerr) || gerr.Code != 404 {
		t.Fatalf("after expiring: %v, want 404", err)
	}
}
