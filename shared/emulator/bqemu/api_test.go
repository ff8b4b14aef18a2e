package bqemu

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
)

// getJSON fetches a path under the endpoint and decodes the JSON answer.
func getJSON(t *testing.T, e *env, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(e.bq.Endpoint() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: decode: %v", path, err)
	}
	return resp.StatusCode, body
}

func TestDatasetAndTableWireErrors(t *testing.T) {
	e := newEnv(t, 0)
	code, body := getJSON(t, e, "projects/p/datasets/nope")
	errObj, _ := body["error"].(map[string]any)
	items, _ := errObj["errors"].([]any)
	if code != 404 || errObj["code"] != 404.0 || errObj["message"] != "Not found: Dataset p:nope" || errObj["status"] != "NOT_FOUND" ||
		len(items) != 1 || items[0].(map[string]any)["reason"] != "notFound" {
		t.Fatalf("dataset 404: %d %v", code, body)
	}
	ds := e.dataset(t, "d")
	var gerr *googleapi.Error
	if err := ds.Create(e.ctx, nil); !errors.As(err, &gerr) || gerr.Code != 409 || gerr.Errors[0].Reason != "duplicate" {
		t.Fatalf("second dataset create: %v", err)
	}
	if md, err := ds.Metadata(e.ctx); err != nil || md.Location != "US" || md.FullID != "p:d" {
		t.Fatalf("dataset metadata %+v, %v", md, err)
	}

	if err := ds.Table("bad").Create(e.ctx, &bigquery.TableMetadata{Schema: salesSchema, TimePartitioning: &bigquery.TimePartitioning{Field: "name"}}); !errors.As(err, &gerr) || gerr.Code != 400 {
		t.Fatalf("partitioning on a STRING column: %v", err)
	}
	for _, id := range []string{"a", "b"} {
		if err := ds.Table(id).Create(e.ctx, &bigquery.TableMetadata{Schema: salesSchema}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ds.Table("a").Create(e.ctx, &bigquery.TableMetadata{Schema: salesSchema}); !errors.As(err, &gerr) || gerr.Code != 409 {
		t.Fatalf("second table create: %v", err)
	}
	var ids []string
	it := ds.Tables(e.ctx)
	for {
		tb, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tb.TableID)
	}
	if strings.Join(ids, ",") != "a,b" {
		t.Fatalf("tables = %v", ids)
	}
	if err := ds.Table("a").Delete(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Table("a").Metadata(e.ctx); !errors.As(err, &gerr) || gerr.Code != 404 || gerr.Message != "Not found: Table p:d.a" {
		t.Fatalf("deleted table: %v", err)
	}
	req, err := http.NewRequest(http.MethodPatch, e.bq.Endpoint()+"projects/p/datasets/d", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("PATCH dataset: %d, want 400 unsupported", resp.StatusCode)
	}
	if code, body := getJSON(t, e, "projects/p/copy-things"); code != 400 || !strings.Contains(body["error"].(map[string]any)["message"].(string), "Unsupported by the emulator") {
		t.Fatalf("unknown route: %d %v", code, body)
	}
}

func TestTableDataPaging(t *testing.T) {
	e, tbl, uri := salesEnv(t)
	for i := 0; i < 3; i++ {
		e.mustLoad(t, partitionLoader(e, tbl, "20260426", uri, bigquery.WriteAppend))
	}
	// Wire format: totalRows is a string, rows are f/v, NULL is {"v":null}.
	code, body := getJSON(t, e, "projects/p/datasets/d/tables/sales/data?maxResults=4")
	rows, _ := body["rows"].([]any)
	if code != 200 || body["totalRows"] != "9" || len(rows) != 4 || body["pageToken"] == "" {
		t.Fatalf("first page: %d %v", code, body)
	}
	cells := rows[0].(map[string]any)["f"].([]any)
	if cells[0].(map[string]any)["v"] != "1" || cells[1].(map[string]any)["v"] != "apple" {
		t.Fatalf("row cells: %v", cells)
	}
	code, body = getJSON(t, e, "projects/p/datasets/d/tables/sales/data?maxResults=4&pageToken="+body["pageToken"].(string))
	if rows, _ := body["rows"].([]any); code != 200 || len(rows) != 4 {
		t.Fatalf("second page: %d %v", code, body)
	}
	code, body = getJSON(t, e, "projects/p/datasets/d/tables/sales/data?startIndex=7")
	if rows, _ := body["rows"].([]any); code != 200 || len(rows) != 2 || body["pageToken"] != nil {
		t.Fatalf("startIndex page: %d %v", code, body)
	}

	// The real client pages with a small page size and sees every row once.
	it := tbl.Read(e.ctx)
	it.PageInfo().MaxSize = 2
	var ids []int64
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, row[0].(int64))
	}
	if len(ids) != 9 || it.TotalRows != 9 || ids[0] != 1 || ids[8] != 3 {
		t.Fatalf("paged ids %v total %d", ids, it.TotalRows)
	}
}
